/* Shared by the GGUF reader and writer: appending an entry whose value is
 * already serialised (a copy of a read file's entry). */
#ifndef TAPPA_GGUF_INTERNAL_H
#define TAPPA_GGUF_INTERNAL_H

#include "tappa/gguf.h"

tappa_status gguf_writer_put_raw(tappa_gguf_writer *w, const char *key, uint32_t type, const void *value, size_t bytes,
                                 tappa_error *err);

#endif
