/* File plumbing shared by the tensor-file readers and writers: size-checked
 * positional reads and atomic (temp file + rename) writes. */
#ifndef TAPPA_FILE_IO_H
#define TAPPA_FILE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "tappa/status.h"

/* Open a regular file for reading and report its size. */
tappa_status io_open_input(const char *path, int *fd, uint64_t *size, tappa_error *err);

/* Read exactly n bytes at off; callers have checked off + n against the size. */
tappa_status io_read_at(int fd, uint64_t off, void *buf, size_t n, const char *path,
                        tappa_error *err);

/* One contiguous piece of an output file. */
typedef struct io_piece {
    const void *data;
    size_t len;
} io_piece;

/* Write the pieces, in order, to a temporary file beside path and rename it
 * into place: readers never see a partial file, and a failure leaves no file. */
tappa_status io_write_atomically(const char *path, const io_piece *pieces, size_t n,
                                 tappa_error *err);

#endif
