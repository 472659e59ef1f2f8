/* The conformance harness: every op on fresh random inputs (seed printed and
 * settable), output poisoned with NaN first, compared with the float64 CPU
 * reference by ||out - ref|| / ||ref|| against SPEC.md's tolerances. Used by
 * `tappa conform` and by the test suite. */
#ifndef TAPPA_CONFORM_H
#define TAPPA_CONFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "tappa/tappa.h"

typedef struct conform_result {
    char op[32];
    char shape[96];       /* the case's parameters, readable: "hq=8 hkv=2 n=300 d=64 w=32" */
    char dtype[8];
    double error;         /* normalised error (absolute when the reference is all zero); NaN if any output was NaN */
    double tolerance;
    bool pass;
    bool unsupported;     /* the device cannot run this dtype: not a pass, not a failure */
    char note[TAPPA_ERROR_MESSAGE_BYTES]; /* why it failed or was unsupported */
    double ms;            /* wall time of the op call, upload/download excluded */
    size_t segments;      /* bindings the largest tensor was split into */
} conform_result;

typedef struct conform_options {
    uint64_t seed;
    const char *op;       /* only cases of this op (NULL: all) */
    bool large;           /* include the > 128 MiB tensor case */
} conform_options;

/* Op names the harness knows, NULL-terminated. */
extern const char *const conform_ops[];

/* Run the selected cases on ctx. *results is malloc'ed (free()); count set.
 * progress (may be NULL) is called after each case with its result. A case failing is a
 * result, not an error: the return value reports only harness failures. */
tappa_status conform_run(tappa_context *ctx, const conform_options *opt,
                         void (*progress)(const conform_result *done, size_t index, size_t total, void *user),
                         void *user,
                         conform_result **results, size_t *count, tappa_error *err);

#endif
