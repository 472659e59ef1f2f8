/* Per-layer score files of layer pruning (SPEC.md): JSON objects with a
 * "scores" array, one number per layer, plus metadata - the schema of the
 * reference's compute_bi.py and compute_q_similarity.py, which tappa
 * prune-scores writes too. */
#ifndef TAPPA_CLI_SCORE_FILE_H
#define TAPPA_CLI_SCORE_FILE_H

#include <stddef.h>

#include "tappa/status.h"

typedef struct score_file {
    double *scores; /* (count), finite */
    size_t count;
    char *model;    /* the "model" string, or NULL */
} score_file;

/* Read path; any problem (unreadable, not JSON, no "scores" array, an empty
 * one, an entry that is not a finite number) is one error naming the file.
 * On failure *out is zeroed. */
tappa_status score_file_read(const char *path, score_file *out, tappa_error *err);
void score_file_free(score_file *f);

#endif
