/* tappa prune-order: the layer-pruning order of TAPPA (or ShortGPT) from
 * per-layer score files. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prune_json.h"
#include "score_file.h"

static const char help[] =
    "usage: tappa prune-order --bi BI.json [--q Q.json] [--beta B] [--method tappa|shortgpt]\n"
    "                         [--model NAME] [-o ORDER.json] [--json]\n"
    "Which layers to prune first (SPEC.md): min-max normalise the block influence (BI) and\n"
    "the q-similarity (q) of the layers to [0, 1], score BI' = BI_norm + beta (1 - q_norm),\n"
    "and prune in ascending BI' (ties: lower layer first). --method shortgpt orders by BI\n"
    "alone. Score files are JSON objects with a \"scores\" array, one number per layer, as\n"
    "written by 'tappa prune-scores' or the reference's compute_bi.py and\n"
    "compute_q_similarity.py.\n"
    "  --bi FILE      block-influence scores\n"
    "  --q FILE       q-similarity scores (tappa)\n"
    "  --beta B       weight of 1 - q_norm; default: the paper's value for the model named by\n"
    "                 --model or in the score files (llama-2-7b 0.2, llama-3.1-8b 0.3,\n"
    "                 qwen-2.5-7b 0.1)\n"
    "  --method M     tappa (default) or shortgpt\n"
    "  --model NAME   model name for the order file and the default beta\n"
    "  -o FILE        write the order file: beta, bi, q_similarity, bi_norm,\n"
    "                 q_similarity_norm, tappa_score, prune_order (shortgpt: bi, bi_norm,\n"
    "                 prune_order)\n"
    "  --json         print the order file's content instead of the table\n";

/* A text bar of width cells for v in [0, 1] (the table's picture of BI'). */
static void bar(double v, int width, char *out)
{
    int n = (int)lround((v < 0 ? 0 : v > 1 ? 1 : v) * width);
    for (int i = 0; i < width; i++) out[i] = i < n ? '#' : ' ';
    out[width] = '\0';
}

static void print_table(const score_file *bi, const score_file *q, const double *bi_norm,
                        const double *q_norm, const double *score, const int32_t *order, double beta)
{
    size_t n = bi->count;
    int *rank = malloc(n * sizeof *rank);
    if (rank)
        for (size_t i = 0; i < n; i++) rank[order[i]] = (int)i + 1;
    double lo = score[0], hi = score[0];
    for (size_t i = 1; i < n; i++) {
        lo = score[i] < lo ? score[i] : lo;
        hi = score[i] > hi ? score[i] : hi;
    }
    char cells[21];
    if (q) {
        printf("layer        BI     q-sim   BI_norm    q_norm       BI'  prune  (beta %g)\n", beta);
        for (size_t i = 0; i < n; i++) {
            bar(hi > lo ? (score[i] - lo) / (hi - lo) : 0, 20, cells);
            printf("%5zu  %8.5f  %8.5f  %8.5f  %8.5f  %8.5f  %5d  %s\n", i, bi->scores[i], q->scores[i],
                   bi_norm[i], q_norm[i], score[i], rank ? rank[i] : 0, cells);
        }
    } else {
        printf("layer        BI   BI_norm  prune  (ShortGPT)\n");
        for (size_t i = 0; i < n; i++) {
            bar(bi_norm[i], 20, cells);
            printf("%5zu  %8.5f  %8.5f  %5d  %s\n", i, bi->scores[i], bi_norm[i], rank ? rank[i] : 0, cells);
        }
    }
    printf("prune order:");
    for (size_t i = 0; i < n; i++) printf(" %d", order[i]);
    printf("\n");
    free(rank);
}

int cmd_prune_order(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bi", required_argument, NULL, 'b' },    { "q", required_argument, NULL, 'q' },
        { "beta", required_argument, NULL, 'B' },  { "method", required_argument, NULL, 'm' },
        { "model", required_argument, NULL, 'M' }, { "output", required_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'j' },        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *bi_path = NULL, *q_path = NULL, *method = "tappa", *model = NULL, *out_path = NULL;
    double beta = NAN;
    bool json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': bi_path = optarg; break;
        case 'q': q_path = optarg; break;
        case 'B': {
            char *end;
            errno = 0;
            beta = strtod(optarg, &end);
            if (end == optarg || *end || errno || !isfinite(beta))
                return cli_usage("prune-order", "--beta needs a finite number, got '%s'", optarg);
            break;
        }
        case 'm': method = optarg; break;
        case 'M': model = optarg; break;
        case 'o': out_path = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("prune-order", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("prune-order", "unexpected argument '%s'", argv[optind]);
    bool tappa = !strcmp(method, "tappa");
    if (!tappa && strcmp(method, "shortgpt"))
        return cli_usage("prune-order", "unknown method '%s' (tappa or shortgpt)", method);
    if (!bi_path) return cli_usage("prune-order", "needs --bi BI.json");
    if (tappa && !q_path) return cli_usage("prune-order", "the tappa order needs --q Q.json (or --method shortgpt)");
    if (!tappa && q_path) return cli_usage("prune-order", "--method shortgpt orders by BI alone; drop --q");
    if (!tappa && !isnan(beta)) return cli_usage("prune-order", "--method shortgpt has no beta; drop --beta");

    tappa_error err = { 0 };
    score_file bi = { 0 }, q = { 0 };
    if (score_file_read(bi_path, &bi, &err)) return cli_error("prune-order", &err);
    if (tappa && score_file_read(q_path, &q, &err)) {
        score_file_free(&bi);
        return cli_error("prune-order", &err);
    }
    int rc = EXIT_OK;
    const char *name = model ? model : bi.model ? bi.model : q.model;
    if (tappa && q.count != bi.count) {
        fprintf(stderr, "tappa prune-order: %s has %zu scores but %s has %zu: not the same model's layers\n",
                bi_path, bi.count, q_path, q.count);
        rc = EXIT_FAIL;
    } else if (tappa && isnan(beta)) {
        beta = tappa_prune_default_beta(name);
        if (beta < 0) {
            if (name)
                fprintf(stderr,
                        "tappa prune-order: no --beta given and the paper has none for model '%s' (it has "
                        "llama-2-7b, llama-3.1-8b, qwen-2.5-7b)\n", name);
            else
                fprintf(stderr, "tappa prune-order: no --beta given and the score files name no model; pass "
                                "--beta B or --model NAME\n");
            rc = EXIT_FAIL;
        }
    }
    size_t n = bi.count;
    double *bi_norm = malloc(n * sizeof *bi_norm), *q_norm = malloc(n * sizeof *q_norm);
    double *score = malloc(n * sizeof *score);
    int32_t *order = malloc(n * sizeof *order);
    if (!rc && (!bi_norm || !q_norm || !score || !order)) {
        fprintf(stderr, "tappa prune-order: out of host memory\n");
        rc = EXIT_FAIL;
    }
    if (!rc) {
        prune_rank(tappa, bi.scores, q.scores, n, beta, bi_norm, q_norm, score, order);
        prune_order_doc doc = { tappa, name, bi_path, q_path, beta, bi.scores, q.scores, bi_norm, q_norm, score, order, n };
        cJSON *root = prune_order_json(&doc);
        char *text = cJSON_Print(root);
        if (!text) {
            fprintf(stderr, "tappa prune-order: out of host memory\n");
            rc = EXIT_FAIL;
        }
        if (!rc && out_path && cli_write_json(out_path, text, &err)) rc = cli_error("prune-order", &err);
        if (!rc) {
            if (json) puts(text);
            else print_table(&bi, tappa ? &q : NULL, bi_norm, q_norm, score, order, beta);
            if (!json && out_path) printf("wrote %s\n", out_path);
        }
        free(text);
        cJSON_Delete(root);
    }
    free(bi_norm);
    free(q_norm);
    free(score);
    free(order);
    score_file_free(&bi);
    score_file_free(&q);
    return rc;
}
