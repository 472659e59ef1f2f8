/* tappa eval: the quality cost of TAPPA's interventions. `ppl`: perplexity
 * of a model on a text; `prune`: perplexity of TAPPA- and ShortGPT-pruned
 * models against the full one. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "prune_json.h"

#define MAX_TEXT (256u << 20) /* an evaluation text */

static const char help[] =
    "usage: tappa eval ppl -m MODEL.gguf -f FILE [--ctx N] [--kv METHOD --kv-budget C [--kv-window W]]\n"
    "                      [--device D] [--json]\n"
    "       tappa eval kv -m MODEL.gguf -f FILE [--methods all|M1,M2,...] [--budgets C1,C2,...]\n"
    "                     [--kv-window W] [--ctx N] [--plot OUT.png] [--device D] [--json]\n"
    "       tappa eval prune -m MODEL.gguf -f FILE --calib FILE2 --n-layers K1,K2,... [--beta B]\n"
    "                        [--chunk N] [--ctx N] [--device D] [--json]\n"
    "ppl: perplexity on FILE in windows of N tokens (default 512, or the model's context if\n"
    "shorter): each window starts with BOS, its first half is context and its second half is\n"
    "scored, as llama.cpp measures it. With --kv each window's context half is compressed at the\n"
    "end of its prefill (tappa, cake, snapkv, pyramidkv, h2o, streamingllm, full; budget C positions\n"
    "per layer, window W, default 32) and the scored half runs on the compressed cache.\n"
    "kv: for each compression method and budget (default: all methods; 64,128,256,512), the\n"
    "perplexity and the mean KL divergence of the next-token distributions from the full cache's,\n"
    "as a table, and with --plot a PNG of perplexity against budget.\n"
    "prune: calibrate on FILE2 (keep it apart from FILE), then for each K remove the first K\n"
    "layers of the TAPPA order and of the ShortGPT order and measure both pruned models' perplexity\n"
    "on FILE beside the full model's.\n";

typedef struct eval_opts {
    const char *model, *file, *calib, *device, *ks, *kv, *methods, *budgets, *plot;
    unsigned long long ctx, chunk, kv_budget, kv_window;
    double beta;
    bool json;
} eval_opts;

static void progress(int done, int total, void *user)
{
    fprintf(stderr, "\rtappa eval: %s window %d of %d", (const char *)user, done, total);
    if (done == total) fputc('\n', stderr);
}

/* Perplexity of the model at path on the tokens of o->file. */
static tappa_status perplexity_of(tappa_context *ctx, const char *path, const eval_opts *o, const char *label,
                                  const tappa_compress_params *kv, tappa_perplexity *out, tappa_error *err)
{
    tappa_model *m = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    char *text = NULL;
    tappa_status st = tappa_model_load(ctx, path, NULL, &m, err);
    if (!st && !(text = cli_read_text(o->file, MAX_TEXT, &len, err))) st = err->status;
    if (!st) st = tappa_tokenize(tappa_model_tokenizer(m), text, len, false, &ids, &n, err);
    unsigned long long window = o->ctx ? o->ctx : 512;
    if (!st && !o->ctx && (int64_t)window > tappa_model_get_info(m)->context - 1)
        window = (unsigned long long)tappa_model_get_info(m)->context - 1;
    if (!st && n < window)
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "%s has %zu tokens; one window needs %llu (lower --ctx)", o->file, n,
                        window);
    if (!st && kv && (unsigned long long)kv->cache_size >= window - window / 2)
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG,
                        "--kv-budget %lld is not below a window's context half of %llu tokens: nothing to compress",
                        (long long)kv->cache_size, window - window / 2);
    if (!st)
        st = tappa_eval_perplexity(m, ids, n, (int64_t)window, kv, !o->json && cli_stderr_tty() ? progress : NULL,
                                   (void *)label, out, err);
    free(ids);
    free(text);
    tappa_model_free(&m);
    return st;
}

static int eval_ppl(tappa_context *ctx, const eval_opts *o)
{
    tappa_error err = { 0 };
    tappa_perplexity p;
    tappa_compress_params kv;
    tappa_compress_defaults(&kv);
    if (o->kv) {
        if (tappa_method_parse(o->kv, &kv.method, &err)) return cli_usage("eval", "%s", err.message);
        kv.cache_size = (int64_t)o->kv_budget;
        kv.window = (int64_t)o->kv_window;
        if (kv.window >= kv.cache_size)
            return cli_usage("eval", "--kv-window %lld must be below --kv-budget %lld", (long long)kv.window,
                             (long long)kv.cache_size);
    }
    double t0 = cli_now_ms();
    if (perplexity_of(ctx, o->model, o, "ppl", o->kv ? &kv : NULL, &p, &err)) return cli_error("eval", &err);
    double ms = cli_now_ms() - t0;
    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "ppl", p.ppl);
        cJSON_AddNumberToObject(root, "nll", p.nll);
        cJSON_AddNumberToObject(root, "tokens_scored", (double)p.scored);
        cJSON_AddNumberToObject(root, "windows", p.windows);
        if (o->kv) {
            cJSON_AddStringToObject(root, "kv_method", tappa_method_name(kv.method));
            cJSON_AddNumberToObject(root, "kv_budget", (double)kv.cache_size);
            cJSON_AddNumberToObject(root, "kv_window", (double)kv.window);
        }
        cJSON_AddStringToObject(root, "device", tappa_context_name(ctx));
        cJSON_AddNumberToObject(root, "ms", ms);
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        printf("perplexity %.4f (mean NLL %.4f) over %lld tokens in %d windows on %s, %.0f ms\n", p.ppl, p.nll,
               (long long)p.scored, p.windows, tappa_context_name(ctx), ms);
    }
    return EXIT_OK;
}

/* Parse "1,2,3" into ks (at most cap values >= 1). */
static int parse_ks(const char *s, int *ks, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 100000) return -1;
        ks[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return *s ? -1 : n;
}

static int eval_prune(tappa_context *ctx, const eval_opts *o)
{
    int ks[32];
    int nk = parse_ks(o->ks, ks, 32);
    if (nk <= 0) return cli_usage("eval", "--n-layers needs counts >= 1 like 1,2,3, got '%s'", o->ks);
    tappa_error err = { 0 };
    tappa_model *m = NULL;
    tappa_status st = tappa_model_load(ctx, o->model, NULL, &m, &err);
    const tappa_model_info *in = m ? tappa_model_get_info(m) : NULL;
    int L = in ? in->layers : 0;
    for (int i = 0; i < nk && !st; i++)
        if (ks[i] >= L) st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "--n-layers %d must be below the model's %d layers", ks[i], L);
    double beta = o->beta;
    if (!st && isnan(beta) && (beta = tappa_prune_default_beta(in->name)) < 0)
        st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "no --beta given and the paper has none for model '%s'",
                        in->name ? in->name : "(unnamed)");
    double *bi = calloc((size_t)L + 1, sizeof *bi), *q = calloc((size_t)L + 1, sizeof *q);
    double *bn = calloc((size_t)L + 1, sizeof *bn), *qn = calloc((size_t)L + 1, sizeof *qn);
    double *score = calloc((size_t)L + 1, sizeof *score);
    int32_t *orders[2] = { calloc((size_t)L + 1, sizeof(int32_t)), calloc((size_t)L + 1, sizeof(int32_t)) };
    if (!st && (!bi || !q || !bn || !qn || !score || !orders[0] || !orders[1]))
        st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    size_t chunks = 0;
    size_t chunk = o->chunk ? (size_t)o->chunk : in && in->context < 1024 ? (size_t)in->context : 1024;
    if (!st) st = cli_calibrate(ctx, m, o->calib, chunk, !o->json && cli_stderr_tty(), bi, q, &chunks, &err);
    tappa_model_free(&m);
    if (!st) {
        prune_rank(true, bi, q, (size_t)L, beta, bn, qn, score, orders[0]);
        prune_rank(false, bi, q, (size_t)L, beta, bn, qn, score, orders[1]);
    }
    tappa_perplexity full = { 0 }, pruned[32][2];
    if (!st) st = perplexity_of(ctx, o->model, o, "full model", NULL, &full, &err);
    char tmp[] = "/tmp/tappa-eval-prune-XXXXXX";
    int fd = st ? -1 : mkstemp(tmp);
    if (!st && fd < 0) st = tappa_fail(&err, TAPPA_ERR_IO, "cannot create a temporary file");
    if (fd >= 0) close(fd);
    for (int i = 0; i < nk && !st; i++)
        for (int meth = 0; meth < 2 && !st; meth++) {
            st = tappa_gguf_remove_layers(o->model, orders[meth], (size_t)ks[i], tmp, &err);
            if (!st) st = perplexity_of(ctx, tmp, o, meth ? "shortgpt" : "tappa", NULL, &pruned[i][meth], &err);
        }
    if (fd >= 0) remove(tmp);
    if (!st && o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "full_ppl", full.ppl);
        cJSON_AddNumberToObject(root, "beta", beta);
        cJSON_AddNumberToObject(root, "calibration_chunks", (double)chunks);
        cJSON *rows = cJSON_AddArrayToObject(root, "pruned");
        for (int i = 0; i < nk; i++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "n_layers", ks[i]);
            cJSON_AddNumberToObject(r, "tappa_ppl", pruned[i][0].ppl);
            cJSON_AddNumberToObject(r, "shortgpt_ppl", pruned[i][1].ppl);
            cJSON *rt = cJSON_AddArrayToObject(r, "tappa_removed"), *rs = cJSON_AddArrayToObject(r, "shortgpt_removed");
            for (int j = 0; j < ks[i]; j++) {
                cJSON_AddItemToArray(rt, cJSON_CreateNumber(orders[0][j]));
                cJSON_AddItemToArray(rs, cJSON_CreateNumber(orders[1][j]));
            }
            cJSON_AddItemToArray(rows, r);
        }
        char *text = cJSON_Print(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else if (!st) {
        printf("full model: perplexity %.4f (%d layers; beta %g, %zu calibration chunks of %zu tokens)\n", full.ppl, L,
               beta, chunks, chunk);
        printf("layers removed   tappa ppl (layers)        shortgpt ppl (layers)\n");
        for (int i = 0; i < nk; i++) {
            char a[64] = "", b[64] = "";
            for (int j = 0; j < ks[i]; j++) {
                snprintf(a + strlen(a), sizeof a - strlen(a), "%s%d", j ? "," : "", orders[0][j]);
                snprintf(b + strlen(b), sizeof b - strlen(b), "%s%d", j ? "," : "", orders[1][j]);
            }
            printf("%14d   %9.4f (%-10s)   %9.4f (%s)\n", ks[i], pruned[i][0].ppl, a, pruned[i][1].ppl, b);
        }
    }
    free(bi); free(q); free(bn); free(qn); free(score); free(orders[0]); free(orders[1]);
    return st ? cli_error("eval", &err) : EXIT_OK;
}

/* log-softmax of row into out (V). */
static void log_softmax(const float *row, size_t V, double *out)
{
    double mx = row[0], sum = 0;
    for (size_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
    for (size_t v = 0; v < V; v++) sum += exp(row[v] - mx);
    double lse = mx + log(sum);
    for (size_t v = 0; v < V; v++) out[v] = row[v] - lse;
}

#define MAX_CONFIGS 16
static int eval_kv(tappa_context *ctx, const eval_opts *o)
{
    /* The methods and budgets asked for. */
    tappa_method methods[TAPPA_METHOD_COUNT];
    int nm = 0, budgets[MAX_CONFIGS];
    static const tappa_method all[] = { TAPPA_METHOD_TAPPA, TAPPA_METHOD_CAKE, TAPPA_METHOD_SNAPKV,
                                        TAPPA_METHOD_PYRAMIDKV, TAPPA_METHOD_H2O, TAPPA_METHOD_STREAMINGLLM };
    tappa_error err = { 0 };
    if (!o->methods || !strcmp(o->methods, "all")) {
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) methods[nm++] = all[i];
    } else {
        char list[256];
        snprintf(list, sizeof list, "%s", o->methods);
        for (char *tok = strtok(list, ","); tok && nm < TAPPA_METHOD_COUNT; tok = strtok(NULL, ","))
            if (tappa_method_parse(tok, &methods[nm++], &err)) return cli_usage("eval", "%s", err.message);
    }
    int nb = parse_ks(o->budgets ? o->budgets : "64,128,256,512", budgets, MAX_CONFIGS);
    if (nb <= 0) return cli_usage("eval", "--budgets needs counts like 64,128,256, got '%s'", o->budgets);
    for (int b = 1; b < nb; b++)
        if (budgets[b] <= budgets[b - 1]) return cli_usage("eval", "--budgets must rise, got '%s'", o->budgets);
    if ((unsigned long long)budgets[0] <= o->kv_window)
        return cli_usage("eval", "every budget must exceed --kv-window %llu", o->kv_window);
    tappa_model *m = NULL;
    char *text = NULL;
    int32_t *ids = NULL, *seq = NULL;
    size_t len = 0, n = 0;
    tappa_status st = tappa_model_load(ctx, o->model, NULL, &m, &err);
    const tappa_model_info *in = m ? tappa_model_get_info(m) : NULL;
    if (!st && !(text = cli_read_text(o->file, MAX_TEXT, &len, &err))) st = err.status;
    if (!st) st = tappa_tokenize(tappa_model_tokenizer(m), text, len, false, &ids, &n, &err);
    unsigned long long window = o->ctx ? o->ctx : 1024;
    if (!st && !o->ctx && (int64_t)window > in->context - 1) window = (unsigned long long)in->context - 1;
    size_t windows = window ? n / window : 0;
    int32_t bos = m ? tappa_tokenizer_bos(tappa_model_tokenizer(m)) : -1;
    size_t wlen = (size_t)window + (bos >= 0), first = wlen - (size_t)window / 2;
    if (!st && windows == 0)
        st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "%s has %zu tokens; one window needs %llu (lower --ctx)", o->file, n,
                        window);
    if (!st && (size_t)budgets[nb - 1] >= first)
        st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG,
                        "budget %d is not below a window's context of %zu tokens: nothing to compress (raise --ctx)",
                        budgets[nb - 1], first);
    size_t V = in ? (size_t)in->vocab : 0, rows = wlen - first;
    float *full = malloc(sizeof(float) * V * (rows + 1)), *comp = malloc(sizeof(float) * V * (rows + 1));
    double *lp_full = malloc(sizeof(double) * V * rows), *lp = malloc(sizeof(double) * V);
    double nll[TAPPA_METHOD_COUNT][MAX_CONFIGS] = { { 0 } }, kl[TAPPA_METHOD_COUNT][MAX_CONFIGS] = { { 0 } }, full_nll = 0;
    seq = malloc(sizeof(int32_t) * (wlen + 1));
    if (!st && (!full || !comp || !lp_full || !lp || !seq)) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    size_t scored = 0;
    bool progress = !o->json && cli_stderr_tty();
    double t0 = cli_now_ms();
    for (size_t w = 0; w < windows && !st; w++) {
        size_t k = 0;
        if (bos >= 0) seq[k++] = bos;
        memcpy(seq + k, ids + w * window, sizeof(int32_t) * window);
        st = tappa_eval_window(m, seq, wlen, first, NULL, full, &err);
        for (size_t r = 0; r < rows && !st; r++) {
            log_softmax(full + r * V, V, lp_full + r * V);
            full_nll -= lp_full[r * V + (size_t)seq[first + r]];
        }
        for (int mi = 0; mi < nm && !st; mi++)
            for (int b = 0; b < nb && !st; b++) {
                tappa_compress_params kv;
                tappa_compress_defaults(&kv);
                kv.method = methods[mi];
                kv.cache_size = budgets[b];
                kv.window = (int64_t)o->kv_window;
                st = tappa_eval_window(m, seq, wlen, first, &kv, comp, &err);
                for (size_t r = 0; r < rows && !st; r++) {
                    log_softmax(comp + r * V, V, lp);
                    nll[mi][b] -= lp[seq[first + r]];
                    double d = 0;
                    for (size_t v = 0; v < V; v++) d += exp(lp_full[r * V + v]) * (lp_full[r * V + v] - lp[v]);
                    kl[mi][b] += d;
                }
                if (progress)
                    fprintf(stderr, "\rtappa eval kv: window %zu of %zu, %s at %d   ", w + 1, windows,
                            tappa_method_name(methods[mi]), budgets[b]);
            }
        scored += rows;
    }
    if (progress) fputc('\n', stderr);
    double ppl[TAPPA_METHOD_COUNT][MAX_CONFIGS], full_ppl = scored ? exp(full_nll / (double)scored) : NAN;
    for (int mi = 0; mi < nm; mi++)
        for (int b = 0; b < nb; b++) {
            ppl[mi][b] = exp(nll[mi][b] / (double)scored);
            kl[mi][b] /= (double)scored;
        }
    if (!st && o->plot) {
        double xs[MAX_CONFIGS];
        plot_series series[TAPPA_METHOD_COUNT + 1];
        double flat[MAX_CONFIGS];
        for (int b = 0; b < nb; b++) xs[b] = budgets[b], flat[b] = full_ppl;
        for (int mi = 0; mi < nm; mi++) series[mi] = (plot_series){ tappa_method_name(methods[mi]), ppl[mi], false };
        series[nm] = (plot_series){ "full cache", flat, true };
        char title[256];
        snprintf(title, sizeof title, "Perplexity with a compressed KV cache (%s, window %llu, %zu windows of %llu)",
                 in->name ? in->name : "model", o->kv_window, windows, window);
        st = plot_lines_png(o->plot, title, "KV budget per layer (positions, window included)", "perplexity", xs,
                            (size_t)nb, series, (size_t)nm + 1, &err);
    }
    if (!st && o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "full_ppl", full_ppl);
        cJSON_AddNumberToObject(root, "tokens_scored", (double)scored);
        cJSON_AddNumberToObject(root, "window", (double)o->kv_window);
        cJSON *res = cJSON_AddArrayToObject(root, "results");
        for (int mi = 0; mi < nm; mi++)
            for (int b = 0; b < nb; b++) {
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "method", tappa_method_name(methods[mi]));
                cJSON_AddNumberToObject(r, "budget", budgets[b]);
                cJSON_AddNumberToObject(r, "ppl", ppl[mi][b]);
                cJSON_AddNumberToObject(r, "kl", kl[mi][b]);
                cJSON_AddItemToArray(res, r);
            }
        char *t = cJSON_Print(root);
        if (t) puts(t);
        free(t);
        cJSON_Delete(root);
    } else if (!st) {
        printf("perplexity / mean KL from the full cache (full cache: %.3f; %zu tokens in %zu windows of %llu, window "
               "W %llu, %.0f s)\n",
               full_ppl, scored, windows, window, o->kv_window, (cli_now_ms() - t0) / 1e3);
        printf("%-13s", "method");
        for (int b = 0; b < nb; b++) printf("  %17d", budgets[b]);
        printf("\n");
        for (int mi = 0; mi < nm; mi++) {
            printf("%-13s", tappa_method_name(methods[mi]));
            for (int b = 0; b < nb; b++) printf("  %8.3f / %6.4f", ppl[mi][b], kl[mi][b]);
            printf("\n");
        }
        if (o->plot) printf("wrote %s\n", o->plot);
    }
    free(full); free(comp); free(lp_full); free(lp); free(seq); free(ids); free(text);
    tappa_model_free(&m);
    return st ? cli_error("eval", &err) : EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    if (argc < 2 || (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        if (argc >= 2) return fputs(help, stdout), EXIT_OK;
        return cli_usage("eval", "needs a subcommand: ppl, kv or prune");
    }
    const char *sub = argv[1];
    if (strcmp(sub, "ppl") && strcmp(sub, "prune") && strcmp(sub, "kv"))
        return cli_usage("eval", "unknown subcommand '%s' (ppl, kv or prune)", sub);
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' }, { "file", required_argument, NULL, 'f' },
        { "calib", required_argument, NULL, 'c' }, { "n-layers", required_argument, NULL, 'k' },
        { "beta", required_argument, NULL, 'b' },  { "chunk", required_argument, NULL, 'n' },
        { "ctx", required_argument, NULL, 'x' },   { "device", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },        { "help", no_argument, NULL, 'h' },
        { "kv", required_argument, NULL, 'K' },    { "kv-budget", required_argument, NULL, 'B' },
        { "kv-window", required_argument, NULL, 'W' }, { "methods", required_argument, NULL, 'M' },
        { "budgets", required_argument, NULL, 'U' }, { "plot", required_argument, NULL, 'P' }, { 0 },
    };
    eval_opts o = { .beta = NAN, .kv_budget = 128, .kv_window = 32 };
    opterr = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "m:f:", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'f': o.file = optarg; break;
        case 'c': o.calib = optarg; break;
        case 'k': o.ks = optarg; break;
        case 'b':
            o.beta = strtod(optarg, &end);
            if (*end || !isfinite(o.beta)) return cli_usage("eval", "--beta needs a finite number, got '%s'", optarg);
            break;
        case 'n':
            if (!cli_parse_u64(optarg, &o.chunk) || o.chunk < 2 || o.chunk > (1u << 20))
                return cli_usage("eval", "--chunk needs a token count >= 2, got '%s'", optarg);
            break;
        case 'x':
            if (!cli_parse_u64(optarg, &o.ctx) || o.ctx < 4 || o.ctx > (1u << 20))
                return cli_usage("eval", "--ctx needs a token count >= 4, got '%s'", optarg);
            break;
        case 'd': o.device = optarg; break;
        case 'j': o.json = true; break;
        case 'K': o.kv = optarg; break;
        case 'M': o.methods = optarg; break;
        case 'U': o.budgets = optarg; break;
        case 'P': o.plot = optarg; break;
        case 'B':
            if (!cli_parse_u64(optarg, &o.kv_budget) || o.kv_budget < 2) return cli_usage("eval", "--kv-budget needs a count >= 2, got '%s'", optarg);
            break;
        case 'W':
            if (!cli_parse_u64(optarg, &o.kv_window) || o.kv_window < 1) return cli_usage("eval", "--kv-window needs a count >= 1, got '%s'", optarg);
            break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("eval", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("eval", "unexpected argument '%s'", argv[optind]);
    if (!o.model || !o.file) return cli_usage("eval", "needs -m MODEL.gguf and -f FILE");
    bool prune = !strcmp(sub, "prune");
    if (prune && (!o.calib || !o.ks)) return cli_usage("eval", "prune needs --calib FILE2 and --n-layers K1,K2,...");
    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    if (cli_context(o.device, &ctx, &err)) return cli_error("eval", &err);
    int rc = prune ? eval_prune(ctx, &o) : !strcmp(sub, "kv") ? eval_kv(ctx, &o) : eval_ppl(ctx, &o);
    tappa_context_destroy(&ctx);
    return rc;
}
