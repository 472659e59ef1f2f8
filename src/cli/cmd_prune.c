/* tappa prune: calibrate a model's layer-pruning scores on the device and
 * write a GGUF without the K layers TAPPA (or ShortGPT) would prune first. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prune_json.h"

#define MAX_TEXT (256u << 20) /* a calibration text */

static const char help[] =
    "usage: tappa prune -m MODEL.gguf --calib FILE --n-layers K -o PRUNED.gguf [--beta B]\n"
    "                   [--method tappa|shortgpt] [--chunk N] [--order-out ORDER.json] [--device D] [--json]\n"
    "Run the calibration text through the model in chunks of N tokens, score each layer by its block\n"
    "influence (ShortGPT) and the q-similarity of its pre-RoPE queries (means over the chunks), order\n"
    "the layers as 'tappa prune-order' does, and write a GGUF without the first K of them (the others\n"
    "renumbered, the block count updated); it loads in tappa and other GGUF readers.\n"
    "  --beta B       TAPPA's weight of 1 - q_norm (default: the paper's for the model's name)\n"
    "  --method M     tappa (default) or shortgpt (block influence alone)\n"
    "  --chunk N      tokens per calibration chunk (default: 1024, or the model's context if shorter)\n"
    "  --order-out F  the order file, as 'tappa prune-order -o' writes it, with the removed layers\n";

tappa_status cli_calibrate(tappa_context *ctx, tappa_model *m, const char *calib, size_t chunk, bool progress,
                           double *bi, double *q, size_t *n_chunks, tappa_error *err)
{
    if (chunk < 2) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "calibration chunks of %zu tokens", chunk);
    const tappa_model_info *in = tappa_model_get_info(m);
    int L = in->layers;
    size_t len = 0, n_ids = 0;
    int32_t *ids = NULL, *seq = NULL;
    char *text = cli_read_text(calib, MAX_TEXT, &len, err);
    tappa_status st = text ? TAPPA_OK : err->status;
    if (!st) st = tappa_tokenize(tappa_model_tokenizer(m), text, len, false, &ids, &n_ids, err);
    size_t chunks = n_ids / chunk;
    if (!st && chunks == 0)
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s has %zu tokens; one calibration chunk needs %zu (lower --chunk)",
                        calib, n_ids, chunk);
    double *cbi = calloc((size_t)L, sizeof *cbi), *cq = calloc((size_t)L, sizeof *cq);
    float *logits = malloc(sizeof(float) * (size_t)in->vocab);
    seq = malloc(sizeof(int32_t) * (chunk + 1));
    if (!st && (!cbi || !cq || !logits || !seq)) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (int l = 0; l < L; l++) bi[l] = q[l] = 0;
    int32_t bos = tappa_tokenizer_bos(tappa_model_tokenizer(m));
    for (size_t ch = 0; ch < chunks && !st; ch++) {
        /* Each chunk begins as a document does: with BOS when the model has one. */
        size_t n = 0;
        if (bos >= 0) seq[n++] = bos;
        memcpy(seq + n, ids + ch * chunk, sizeof(int32_t) * chunk);
        n += chunk;
        tappa_session *s = NULL;
        st = tappa_session_create(m, (int64_t)n, &s, err);
        if (!st) st = tappa_session_record_trace(s, err);
        if (!st) st = tappa_session_eval(s, seq, n, false, logits, err);
        if (!st) st = tappa_session_prune_scores(s, ctx, cbi, cq, err);
        for (int l = 0; l < L && !st; l++) {
            bi[l] += cbi[l] / (double)chunks;
            q[l] += cq[l] / (double)chunks;
        }
        tappa_session_free(&s);
        if (progress) fprintf(stderr, "\rtappa: calibration chunk %zu of %zu", ch + 1, chunks);
    }
    if (progress && chunks) fputc('\n', stderr);
    *n_chunks = chunks;
    free(cbi);
    free(cq);
    free(logits);
    free(seq);
    free(ids);
    free(text);
    return st;
}

int cmd_prune(int argc, char **argv)
{
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' },    { "calib", required_argument, NULL, 'c' },
        { "n-layers", required_argument, NULL, 'k' }, { "output", required_argument, NULL, 'o' },
        { "beta", required_argument, NULL, 'b' },     { "method", required_argument, NULL, 'M' },
        { "chunk", required_argument, NULL, 'n' },    { "order-out", required_argument, NULL, 'O' },
        { "device", required_argument, NULL, 'd' },   { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },           { 0 },
    };
    const char *model_path = NULL, *calib = NULL, *out = NULL, *method = "tappa", *order_out = NULL, *device = NULL;
    unsigned long long k = 0, chunk = 0;
    double beta = NAN;
    bool json = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'c': calib = optarg; break;
        case 'k':
            if (!cli_parse_u64(optarg, &k) || k < 1) return cli_usage("prune", "--n-layers needs a count >= 1, got '%s'", optarg);
            break;
        case 'o': out = optarg; break;
        case 'b':
            beta = strtod(optarg, &end);
            if (*end || !isfinite(beta)) return cli_usage("prune", "--beta needs a finite number, got '%s'", optarg);
            break;
        case 'M': method = optarg; break;
        case 'n':
            if (!cli_parse_u64(optarg, &chunk) || chunk < 2 || chunk > (1u << 20))
                return cli_usage("prune", "--chunk needs a token count >= 2, got '%s'", optarg);
            break;
        case 'O': order_out = optarg; break;
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("prune", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("prune", "unexpected argument '%s'", argv[optind]);
    bool tappa = !strcmp(method, "tappa");
    if (!tappa && strcmp(method, "shortgpt")) return cli_usage("prune", "unknown method '%s' (tappa or shortgpt)", method);
    if (!model_path || !calib || !k || !out) return cli_usage("prune", "needs -m MODEL, --calib FILE, --n-layers K and -o OUT");

    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_model *m = NULL;
    double *bi = NULL, *q = NULL, *bn = NULL, *qn = NULL, *score = NULL;
    int32_t *order = NULL;
    tappa_status st = cli_context(device, &ctx, &err);
    if (!st) st = tappa_model_load(ctx, model_path, NULL, &m, &err);
    const tappa_model_info *in = m ? tappa_model_get_info(m) : NULL;
    int L = in ? in->layers : 0;
    if (!st && k >= (unsigned long long)L)
        st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "--n-layers %llu must be below the model's %d layers", k, L);
    if (!st && tappa && isnan(beta)) {
        beta = tappa_prune_default_beta(in->name);
        if (beta < 0)
            st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "no --beta given and the paper has none for model '%s'",
                            in->name ? in->name : "(unnamed)");
    }
    if (!chunk) chunk = in && in->context < 1024 ? (unsigned long long)in->context : 1024;
    size_t chunks = 0;
    if (!st) {
        bi = calloc((size_t)L, sizeof *bi), q = calloc((size_t)L, sizeof *q), bn = calloc((size_t)L, sizeof *bn);
        qn = calloc((size_t)L, sizeof *qn), score = calloc((size_t)L, sizeof *score), order = calloc((size_t)L, sizeof *order);
        if (!bi || !q || !bn || !qn || !score || !order) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    double t0 = cli_now_ms();
    if (!st) st = cli_calibrate(ctx, m, calib, (size_t)chunk, !json && cli_stderr_tty(), bi, q, &chunks, &err);
    if (!st) {
        prune_rank(tappa, bi, q, (size_t)L, beta, bn, qn, score, order);
        st = tappa_gguf_remove_layers(model_path, order, (size_t)k, out, &err);
    }
    cJSON *doc = NULL;
    if (!st) {
        prune_order_doc d = { tappa, in->name, NULL, NULL, beta, bi, q, bn, qn, score, order, (size_t)L };
        doc = prune_order_json(&d);
        cJSON_AddStringToObject(doc, "calibration", calib);
        cJSON_AddNumberToObject(doc, "chunks", (double)chunks);
        cJSON_AddNumberToObject(doc, "chunk_tokens", (double)chunk);
        cJSON *removed = cJSON_AddArrayToObject(doc, "removed_layers");
        for (unsigned long long i = 0; i < k; i++) cJSON_AddItemToArray(removed, cJSON_CreateNumber(order[i]));
        cJSON_AddStringToObject(doc, "output", out);
        char *textj = cJSON_Print(doc);
        if (!textj) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        if (!st && order_out) st = cli_write_json(order_out, textj, &err);
        if (!st && json) puts(textj);
        free(textj);
        if (st) remove(out); /* the order file failed: all the files asked for, or none */
    }
    if (!st && !json) {
        printf("layer  block infl.  q-sim      BI'\n");
        for (int l = 0; l < L; l++) {
            bool gone = false;
            for (unsigned long long i = 0; i < k; i++) gone |= order[i] == l;
            printf("%5d  %11.5f  %8.5f  %7.4f%s\n", l, bi[l], q[l], score[l], gone ? "  removed" : "");
        }
        printf("%zu calibration chunks of %llu tokens in %.0f ms; removed %llu of %d layers; wrote %s\n", chunks, chunk,
               cli_now_ms() - t0, k, L, out);
    }
    cJSON_Delete(doc);
    free(bi); free(q); free(bn); free(qn); free(score); free(order);
    tappa_model_free(&m);
    tappa_context_destroy(&ctx);
    return st ? cli_error("prune", &err) : EXIT_OK;
}
