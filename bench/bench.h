/* tappa-bench internals: a case records one run of an op on input set i. */
#ifndef TAPPA_BENCH_H
#define TAPPA_BENCH_H

#include <stdbool.h>

#include "ops/ops_internal.h"

typedef struct bench_case {
    char op[24];
    char shape[96];
    char dtype[8];
    double bytes;   /* fewest bytes one run must move (inputs read once, outputs written once) */
    double flops;
    /* Record one run using input set `set`; state is the case's own. */
    tappa_status (*record)(void *state, int set, tappa_error *err);
    /* Or, for a whole library call that submits and waits itself (compress):
     * run it once; timed on the host clock (wall time, submissions included). */
    tappa_status (*run)(void *state, tappa_error *err);
    void (*destroy)(void *state);
    void *state;
    int sets;       /* input sets rotated so repeated runs do not hit in cache */
    int max_reps;   /* cap on timed runs for slow cases (0: none) */
    int layers;     /* compress: the prompt's layers (its prefill case times one) */
    bool yardstick; /* one of the 1 GiB copies: the copy bandwidth is the fastest of them */
} bench_case;

/* Build the cases (bench_cases.c); quick shrinks every size for CPU drivers;
 * op (may be NULL) keeps only that op's cases besides the copy yardstick;
 * contexts (n_contexts of them, or NULL) replace the lengths of the decode and
 * prefill sweeps; dtype (NULL: both) keeps only the f32 or the f16 sweep. */
tappa_status bench_cases_create(tappa_context *ctx, bool quick, const char *op, const int64_t *contexts,
                                int n_contexts, const char *dtype, bench_case **cases, size_t *count,
                                tappa_error *err);
void bench_cases_destroy(bench_case *cases, size_t count);

#endif
