#include <string.h>

#include "cli.h"
#include "prune_json.h"

void prune_rank(bool tappa, const double *bi, const double *q, size_t n, double beta, double *bi_norm, double *q_norm,
                double *score, int32_t *order)
{
    if (tappa) {
        tappa_prune_scores(bi, q, n, beta, bi_norm, q_norm, score);
    } else {
        tappa_minmax_normalize(bi, n, bi_norm);
        memcpy(score, bi, n * sizeof *score);
    }
    tappa_prune_order(score, n, order);
}

cJSON *prune_order_json(const prune_order_doc *d)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "method", d->tappa ? "TAPPA" : "ShortGPT");
    if (d->tappa) cJSON_AddStringToObject(root, "formula", "BI_prime = BI_norm + beta * (1 - q_similarity_norm)");
    else cJSON_AddStringToObject(root, "score_type", "BI");
    if (d->model) cJSON_AddStringToObject(root, "model", d->model);
    else cJSON_AddNullToObject(root, "model");
    if (d->bi_file) cJSON_AddStringToObject(root, "bi_file", d->bi_file);
    if (d->tappa) {
        if (d->q_file) cJSON_AddStringToObject(root, "q_file", d->q_file);
        cJSON_AddItemToObject(root, "beta", cli_json_number(d->beta));
    }
    cJSON_AddItemToObject(root, "bi", cli_json_numbers(d->bi, d->n));
    if (d->tappa) cJSON_AddItemToObject(root, "q_similarity", cli_json_numbers(d->q, d->n));
    cJSON_AddItemToObject(root, "bi_norm", cli_json_numbers(d->bi_norm, d->n));
    if (d->tappa) {
        cJSON_AddItemToObject(root, "q_similarity_norm", cli_json_numbers(d->q_norm, d->n));
        cJSON_AddItemToObject(root, "tappa_score", cli_json_numbers(d->score, d->n));
    }
    cJSON *order = cJSON_AddArrayToObject(root, "prune_order");
    for (size_t i = 0; i < d->n; i++) cJSON_AddItemToArray(order, cJSON_CreateNumber(d->order[i]));
    return root;
}
