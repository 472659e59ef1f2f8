/* Layer-pruning orders and their file, in the reference's layout key for key
 * (build_prune_order.py / build_shortgpt_order.py), for prune-order and prune. */
#ifndef TAPPA_CLI_PRUNE_JSON_H
#define TAPPA_CLI_PRUNE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct prune_order_doc {
    bool tappa;                   /* else ShortGPT: bi, bi_norm and the order only */
    const char *model;            /* or NULL */
    const char *bi_file, *q_file; /* the score files, or NULL when computed here */
    double beta;
    const double *bi, *q, *bi_norm, *q_norm, *score; /* (n) */
    const int32_t *order;         /* (n) */
    size_t n;
} prune_order_doc;

cJSON *prune_order_json(const prune_order_doc *d);

/* The order of one method: tappa scores BI' = BI_norm + beta (1 - q_norm),
 * ShortGPT BI itself (q, q_norm unused). bi_norm, q_norm, score, order: (n) out. */
void prune_rank(bool tappa, const double *bi, const double *q, size_t n, double beta, double *bi_norm, double *q_norm,
                double *score, int32_t *order);

#endif
