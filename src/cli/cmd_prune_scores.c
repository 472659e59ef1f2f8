/* tappa prune-scores: per-layer block influence and pre-RoPE q-similarity
 * from calibration traces (one chunk each), on one device, averaged over the
 * chunks, written as the reference's score files. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa prune-scores TRACE.safetensors [TRACE2 ...] [--bi-out BI.json] [--q-out Q.json]\n"
    "                          [--model NAME] [--device D] [--json]\n"
    "Layer-pruning scores (SPEC.md) from calibration traces, each one chunk of text: the\n"
    "block influence of each layer (ShortGPT: mean over tokens of 1 - cos between the\n"
    "hidden states entering and leaving it, from hidden.0 .. hidden.L [N, d_model]) and its\n"
    "q-similarity (cosine, mean over heads, from the pre-RoPE queries layer.{i}.q_pre\n"
    "[Hq, N, D]); each the mean over the traces. Computed on the GPU.\n"
    "  --bi-out FILE  write the block influence as a score file (every trace needs hidden.*)\n"
    "  --q-out FILE   write the q-similarity as a score file (every trace needs layer.{i}.q_pre)\n"
    "  --model NAME   model name stored in the files ('tappa prune-order' takes beta from it)\n"
    "  --device D     index, name substring, or 'cpu'\n"
    "  --json         {\"layers\", \"chunks\", \"tokens\", \"bi\", \"q_similarity\", \"device\", \"ms\"}\n"
    "Score files hold \"scores\" (one per layer) and \"prune_order\" (ascending) with metadata,\n"
    "the schema of the reference's compute_bi.py and compute_q_similarity.py, so files\n"
    "from either can be given to 'tappa prune-order'. Without --bi-out or --q-out, prints\n"
    "whichever scores the traces hold.\n";

/* Per-layer sums over chunks of one score. */
typedef struct score_sum {
    bool wanted;
    double *sum;   /* (layers) */
    double *chunk; /* (layers): this chunk's values */
} score_sum;

/* The layers of one trace: hidden.0..hidden.L gives L, layer.{i}.q_pre L. */
static tappa_status trace_layers(const char *path, const tappa_safetensors *t, bool bi, bool q, int *layers,
                                 tappa_error *err)
{
    int hidden = cli_count_tensors(t, "hidden.%d"), qpre = cli_count_tensors(t, "layer.%d.q_pre");
    if (bi && hidden < 2)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: block influence needs hidden.0 .. hidden.L (found %d hidden states)", path, hidden);
    if (q && qpre < 1)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: q-similarity needs layer.{i}.q_pre (no layer.0.q_pre)", path);
    if (bi && q && hidden - 1 != qpre)
        return tappa_fail(err, TAPPA_ERR_FORMAT,
                          "%s: hidden.0 .. hidden.%d give %d layers but layer.{i}.q_pre has %d", path, hidden - 1,
                          hidden - 1, qpre);
    *layers = bi ? hidden - 1 : qpre;
    return TAPPA_OK;
}

/* One trace's scores into the sums; tokens gets its N. */
static tappa_status score_trace(tappa_context *ctx, const char *path, const tappa_safetensors *t, int layers,
                                score_sum *bi, score_sum *q, int64_t *tokens, tappa_error *err)
{
    const tappa_array **list = calloc((size_t)layers + 1, sizeof *list);
    if (!list) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    char name[64];
    tappa_status st = TAPPA_OK;
    *tokens = 0;
    if (bi->wanted) {
        for (int l = 0; l <= layers; l++) {
            snprintf(name, sizeof name, "hidden.%d", l);
            list[l] = tappa_safetensors_find(t, name);
        }
        *tokens = list[0]->ndim == 2 ? list[0]->shape[0] : 0;
        st = tappa_prune_chunk_bi(ctx, layers, list, bi->chunk, err);
    }
    if (!st && q->wanted) {
        for (int l = 0; l < layers; l++) {
            snprintf(name, sizeof name, "layer.%d.q_pre", l);
            list[l] = tappa_safetensors_find(t, name);
        }
        int64_t n = list[0]->ndim == 3 ? list[0]->shape[1] : 0;
        if (*tokens && n != *tokens) {
            free(list);
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: hidden.0 has %lld tokens but layer.0.q_pre has %lld", path,
                              (long long)*tokens, (long long)n);
        }
        *tokens = n;
        st = tappa_prune_chunk_qsim(ctx, layers, list, q->chunk, err);
    }
    free(list);
    if (st) {
        /* Name the file: the library's message names only the layer. */
        tappa_error inner = *err;
        return tappa_fail(err, st, "%s: %s", path, inner.message);
    }
    for (int l = 0; l < layers; l++) {
        if ((bi->wanted && !isfinite(bi->chunk[l])) || (q->wanted && !isfinite(q->chunk[l])))
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer %d's %s is not finite (the trace holds NaN or Inf)",
                              path, l, bi->wanted && !isfinite(bi->chunk[l]) ? "block influence" : "q-similarity");
        if (bi->wanted) bi->sum[l] += bi->chunk[l];
        if (q->wanted) q->sum[l] += q->chunk[l];
    }
    return TAPPA_OK;
}

static cJSON *order_array(const double *scores, int n)
{
    int32_t *order = malloc((size_t)n * sizeof *order);
    cJSON *a = cJSON_CreateArray();
    if (order) {
        tappa_prune_order(scores, (size_t)n, order);
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(order[i]));
    }
    free(order);
    return a;
}

/* The reference's score-file schema, with tappa's provenance. */
static cJSON *score_file_json(bool is_bi, const char *model, const char *device, char **traces, int chunks,
                              const int64_t *tokens, const double *mean, int layers)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "score_type", is_bi ? "BI" : "q_similarity");
    if (model) cJSON_AddStringToObject(root, "model", model);
    else cJSON_AddNullToObject(root, "model");
    cJSON_AddStringToObject(root, "source", "tappa prune-scores");
    cJSON_AddStringToObject(root, "device", device);
    if (is_bi) cJSON_AddFalseToObject(root, "angular");
    else {
        cJSON_AddStringToObject(root, "mode", "cosine");
        cJSON_AddStringToObject(root, "queries", "pre-RoPE (layer.{i}.q_pre)");
    }
    cJSON_AddItemToObject(root, "traces", cJSON_CreateStringArray((const char *const *)traces, chunks));
    cJSON_AddNumberToObject(root, "num_chunks", chunks);
    cJSON *tok = cJSON_AddArrayToObject(root, "tokens");
    for (int i = 0; i < chunks; i++) cJSON_AddItemToArray(tok, cJSON_CreateNumber((double)tokens[i]));
    cJSON_AddItemToObject(root, "scores", cli_json_numbers(mean, (size_t)layers));
    cJSON_AddItemToObject(root, "prune_order", order_array(mean, layers));
    return root;
}

static tappa_status write_score_file(const char *path, cJSON *root, tappa_error *err)
{
    char *text = cJSON_Print(root);
    if (!text) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_status st = cli_write_json(path, text, err);
    free(text);
    return st;
}

int cmd_prune_scores(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bi-out", required_argument, NULL, 'b' }, { "q-out", required_argument, NULL, 'q' },
        { "model", required_argument, NULL, 'M' },  { "device", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *bi_out = NULL, *q_out = NULL, *model = NULL, *device = NULL;
    bool json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': bi_out = optarg; break;
        case 'q': q_out = optarg; break;
        case 'M': model = optarg; break;
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("prune-scores", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage("prune-scores", "needs at least one TRACE.safetensors");
    if (bi_out && q_out && !strcmp(bi_out, q_out))
        return cli_usage("prune-scores", "--bi-out and --q-out name the same file '%s'", bi_out);
    char **traces = argv + optind;
    int chunks = argc - optind;

    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_safetensors *t = NULL;
    score_sum bi = { .wanted = bi_out != NULL }, q = { .wanted = q_out != NULL };
    int64_t *tokens = calloc((size_t)chunks, sizeof *tokens);
    int layers = 0;
    tappa_status st = tokens ? TAPPA_OK : tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) st = tappa_safetensors_read(traces[0], &t, &err);
    if (!st && !bi_out && !q_out) {
        /* Nothing asked for by name: whatever the first trace holds. */
        bi.wanted = cli_count_tensors(t, "hidden.%d") >= 2;
        q.wanted = cli_count_tensors(t, "layer.%d.q_pre") >= 1;
        if (!bi.wanted && !q.wanted)
            st = tappa_fail(&err, TAPPA_ERR_FORMAT,
                            "%s: no hidden.{i} or layer.{i}.q_pre tensors: nothing to score", traces[0]);
    }
    if (!st) st = trace_layers(traces[0], t, bi.wanted, q.wanted, &layers, &err);
    if (!st) {
        size_t n = (size_t)layers;
        bi.sum = calloc(n, sizeof(double));
        bi.chunk = calloc(n, sizeof(double));
        q.sum = calloc(n, sizeof(double));
        q.chunk = calloc(n, sizeof(double));
        if (!bi.sum || !bi.chunk || !q.sum || !q.chunk)
            st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    if (!st) st = cli_context(device, &ctx, &err);
    bool progress = !json && cli_stderr_tty();
    double t0 = cli_now_ms();
    for (int i = 0; i < chunks && !st; i++) {
        if (i > 0) {
            tappa_safetensors_free(&t);
            int these = 0;
            st = tappa_safetensors_read(traces[i], &t, &err);
            if (!st) st = trace_layers(traces[i], t, bi.wanted, q.wanted, &these, &err);
            if (!st && these != layers)
                st = tappa_fail(&err, TAPPA_ERR_FORMAT, "%s has %d layers but %s has %d", traces[i], these,
                                traces[0], layers);
            if (st) break;
        }
        double c0 = cli_now_ms();
        st = score_trace(ctx, traces[i], t, layers, &bi, &q, &tokens[i], &err);
        if (!st && progress)
            fprintf(stderr, "tappa prune-scores: [%d/%d] %s: %lld tokens, %.0f ms\n", i + 1, chunks, traces[i],
                    (long long)tokens[i], cli_now_ms() - c0);
    }
    double ms = cli_now_ms() - t0;
    tappa_safetensors_free(&t);
    for (int l = 0; l < layers && !st; l++) {
        bi.sum[l] /= chunks; /* now the mean over chunks */
        q.sum[l] /= chunks;
    }
    const char *dev_name = ctx ? tappa_context_name(ctx) : "";
    if (!st && bi_out) {
        cJSON *f = score_file_json(true, model, dev_name, traces, chunks, tokens, bi.sum, layers);
        st = write_score_file(bi_out, f, &err);
        cJSON_Delete(f);
    }
    if (!st && q_out) {
        cJSON *f = score_file_json(false, model, dev_name, traces, chunks, tokens, q.sum, layers);
        st = write_score_file(q_out, f, &err);
        cJSON_Delete(f);
        if (st && bi_out) remove(bi_out); /* all the files asked for, or none */
    }
    int64_t total = 0;
    for (int i = 0; i < chunks; i++) total += tokens[i];
    if (!st && json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "layers", layers);
        cJSON_AddNumberToObject(root, "chunks", chunks);
        cJSON_AddNumberToObject(root, "tokens", (double)total);
        if (bi.wanted) cJSON_AddItemToObject(root, "bi", cli_json_numbers(bi.sum, (size_t)layers));
        else cJSON_AddNullToObject(root, "bi");
        if (q.wanted) cJSON_AddItemToObject(root, "q_similarity", cli_json_numbers(q.sum, (size_t)layers));
        else cJSON_AddNullToObject(root, "q_similarity");
        cJSON_AddStringToObject(root, "device", dev_name);
        cJSON_AddNumberToObject(root, "ms", ms);
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else if (!st) {
        printf("layer  %15s  %12s\n", bi.wanted ? "block influence" : "", q.wanted ? "q-similarity" : "");
        for (int l = 0; l < layers; l++) {
            printf("%5d  ", l);
            if (bi.wanted) printf("%15.6f  ", bi.sum[l]);
            else printf("%15s  ", "");
            if (q.wanted) printf("%12.6f", q.sum[l]);
            printf("\n");
        }
        printf("%d layers, %d chunk%s (%lld tokens) on %s, %.0f ms\n", layers, chunks, chunks == 1 ? "" : "s",
               (long long)total, dev_name, ms);
        if (bi_out) printf("wrote %s\n", bi_out);
        if (q_out) printf("wrote %s\n", q_out);
    }
    free(tokens);
    free(bi.sum);
    free(bi.chunk);
    free(q.sum);
    free(q.chunk);
    size_t validation = ctx ? cli_report_validation("prune-scores", ctx) : 0;
    tappa_context_destroy(&ctx);
    if (st) return cli_error("prune-scores", &err);
    return validation ? EXIT_FAIL : EXIT_OK;
}
