/* tappa patterns: classify every head's attention pattern in a trace, measure
 * TAPPA's claim (q-similarity against predictability), and draw a gallery. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "patterns_gallery.h"

static const char help[] =
    "usage: tappa patterns TRACE.safetensors [--layers 0,3] [--heads 0,1] [--rows S] [--window W]\n"
    "                      [--top K] [--threshold X] [--rope half|interleaved] [--out DIR]\n"
    "                      [--device D] [--json]\n"
    "Per head of each layer of a trace (layer.{i}.q, layer.{i}.k, and layer.{i}.q_pre when\n"
    "present): its q-similarity, how predictable its attention is, and its pattern class.\n"
    "No N x N matrix is formed: the attention rows of the last S queries (default 64) are\n"
    "computed on the device over all N keys, [Hq, S, N] per layer, and everything else is\n"
    "read from them.\n"
    "  qsim, qsim_window  cosine q-similarity over all queries / the last W (default 32), of\n"
    "                     the pre-RoPE queries when the trace has them (what the head asks for,\n"
    "                     before RoPE moves it with the position), else of q\n"
    "  predictability     mean over consecutive sampled rows of the better of cos(A_t, A_t-1)\n"
    "                     (the same keys again) and cos(A_t, A_t-1 moved one key on) (the same\n"
    "                     offsets again)\n"
    "  vertical           mean row mass on the K (default 4) keys with the most mass over the\n"
    "                     rows: re-accessed keys, sinks included\n"
    "  diagonal           mean row mass on the K query-key offsets with the most mass\n"
    "  periodic           the highest local peak (lag >= 2) of the normalised autocorrelation\n"
    "                     of the first differences of the offset profile (mass per offset,\n"
    "                     over the first min(N - S + 1, 1024) offsets), at lag 'period'\n"
    "  class              the highest of the three if it reaches the threshold (default\n"
    "                     0.5), else irregular: vertical, diagonal, periodic or irregular\n"
    "  rope_energy        per rotary pair (pair 0: the highest frequency), its share of\n"
    "                     sum_t |q_pair| |k_pair|; the pairing is found from q_pre and q (a\n"
    "                     rotation keeps each pair's norm), or given by --rope (default half)\n"
    "Then the Spearman rank correlation of qsim and predictability over all heads shown.\n"
    "  --layers L,..  layers to analyse (default all)   --heads H,..  heads to show (default all)\n"
    "  --out DIR      write DIR/index.html (open it in a browser): per-head heatmaps (log\n"
    "                 scale), a grid per layer, the scatter of qsim against predictability\n"
    "  --device D     index, name substring, or 'cpu'\n"
    "  --json         {\"layers\": [{\"layer\", \"heads\": [{\"head\", \"class\", \"qsim\",\n"
    "                 \"qsim_window\", \"predictability\", \"scores\": {\"vertical\", \"diagonal\",\n"
    "                 \"periodic\"}, \"period\", \"rope_energy\"}]}], \"spearman\", \"n_heads\", ...}\n";

/* A comma-separated list of indices below limit (at least one, no empty
 * items) into a mask of limit flags. */
static bool parse_list(const char *s, int limit, bool *mask)
{
    for (int i = 0; i < limit; i++) mask[i] = false;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || *s == '-' || *s == '+' || *s == ' ' || errno || v < 0 || v >= limit ||
            (*end && *end != ','))
            return false;
        mask[v] = true;
        if (!*end) return true;
        s = end + 1;
    }
}

static const tappa_array *tensor(const tappa_safetensors *t, int layer, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "layer.%d.%s", layer, what);
    return tappa_safetensors_find(t, name);
}

typedef struct options {
    const char *layers, *heads, *out, *device;
    tappa_pattern_params p;
    tappa_rope_layout layout;
    bool json;
} options;

static bool parse_i64(const char *s, int64_t lo, int64_t *out)
{
    unsigned long long v;
    if (!cli_parse_u64(s, &v) || v > (1ull << 31) || (int64_t)v < lo) return false;
    *out = (int64_t)v;
    return true;
}

static int parse(int argc, char **argv, options *o)
{
    static const struct option opts[] = {
        { "layers", required_argument, NULL, 'L' },  { "heads", required_argument, NULL, 'H' },
        { "rows", required_argument, NULL, 'r' },    { "window", required_argument, NULL, 'w' },
        { "top", required_argument, NULL, 'k' },     { "threshold", required_argument, NULL, 't' },
        { "rope", required_argument, NULL, 'R' },    { "out", required_argument, NULL, 'o' },
        { "device", required_argument, NULL, 'd' },  { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },          { 0 },
    };
    tappa_pattern_params_default(&o->p);
    o->layout = TAPPA_ROPE_HALF;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'L': o->layers = optarg; break;
        case 'H': o->heads = optarg; break;
        case 'r':
            if (!parse_i64(optarg, 2, &o->p.rows)) return cli_usage("patterns", "--rows needs an integer >= 2, got '%s'", optarg);
            break;
        case 'w':
            if (!parse_i64(optarg, 2, &o->p.window))
                return cli_usage("patterns", "--window needs an integer >= 2, got '%s'", optarg);
            break;
        case 'k':
            if (!parse_i64(optarg, 1, &o->p.top)) return cli_usage("patterns", "--top needs an integer >= 1, got '%s'", optarg);
            break;
        case 't':
            o->p.threshold = strtod(optarg, &end);
            if (*end || end == optarg || !(o->p.threshold >= 0 && o->p.threshold <= 1))
                return cli_usage("patterns", "--threshold needs a number in [0, 1], got '%s'", optarg);
            break;
        case 'R':
            if (!strcmp(optarg, "half")) o->layout = TAPPA_ROPE_HALF;
            else if (!strcmp(optarg, "interleaved")) o->layout = TAPPA_ROPE_INTERLEAVED;
            else return cli_usage("patterns", "--rope takes half or interleaved, got '%s'", optarg);
            break;
        case 'o': o->out = optarg; break;
        case 'd': o->device = optarg; break;
        case 'j': o->json = true; break;
        case 'h': fputs(help, stdout); return -1;
        default: return cli_usage("patterns", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc) return cli_usage("patterns", "needs exactly one TRACE.safetensors");
    return EXIT_OK;
}

/* Results of the analysed layers. */
typedef struct analysis {
    int n_layers, hq;
    int64_t s, n, d;
    int *layer;                /* (n_layers) model index */
    tappa_head_pattern *heads; /* (n_layers, hq) */
    double *rope;              /* (n_layers, hq, d / 2) */
    float *rows;               /* (n_layers, hq, s, n) when a gallery is drawn */
    bool pre_rope;             /* q-similarity from q_pre */
} analysis;

static void analysis_free(analysis *a)
{
    free(a->layer);
    free(a->heads);
    free(a->rope);
    free(a->rows);
}

static tappa_status analyse(tappa_context *ctx, const char *path, const tappa_safetensors *t, const bool *want,
                            int total, const options *o, analysis *a, tappa_error *err)
{
    const tappa_array *q0 = tensor(t, 0, "q");
    a->hq = q0->ndim == 3 ? (int)q0->shape[0] : 0;
    a->n = q0->ndim == 3 ? q0->shape[1] : 0;
    a->d = q0->ndim == 3 ? q0->shape[2] : 0;
    if (a->hq < 1 || a->n < 2 || a->d < 2)
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer.0.q must be [Hq, N, D] with N >= 2", path);
    a->s = o->p.rows < a->n ? o->p.rows : a->n;
    for (int l = 0; l < total; l++) a->n_layers += want[l];
    size_t hs = (size_t)a->n_layers * a->hq;
    a->layer = calloc((size_t)a->n_layers, sizeof *a->layer);
    a->heads = calloc(hs, sizeof *a->heads);
    a->rope = calloc(hs * (size_t)(a->d / 2), sizeof *a->rope);
    if (o->out) a->rows = malloc(hs * (size_t)a->s * (size_t)a->n * sizeof *a->rows);
    if (!a->layer || !a->heads || !a->rope || (o->out && !a->rows))
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "patterns: out of host memory for %d layers", a->n_layers);
    bool progress = !o->json && cli_stderr_tty();
    tappa_status st = TAPPA_OK;
    a->pre_rope = true;
    for (int l = 0, i = 0; l < total && !st; l++) {
        if (!want[l]) continue;
        const tappa_array *q = tensor(t, l, "q"), *k = tensor(t, l, "k"), *qp = tensor(t, l, "q_pre");
        if (!k) {
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer.%d.k is missing", path, l);
            break;
        }
        if (q->ndim != 3 || q->shape[0] != a->hq || q->shape[1] != a->n || q->shape[2] != a->d) {
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: layer.%d.q is not [%d, %lld, %lld] like layer.0.q", path, l,
                            a->hq, (long long)a->n, (long long)a->d);
            break;
        }
        a->pre_rope &= qp != NULL;
        a->layer[i] = l;
        size_t at = (size_t)i * a->hq;
        st = tappa_patterns_layer(ctx, q, qp, k, o->layout, &o->p, a->heads + at, a->rope + at * (size_t)(a->d / 2),
                                  a->rows ? a->rows + at * (size_t)a->s * (size_t)a->n : NULL, err);
        if (st) {
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err->message);
            tappa_fail(err, st, "%s, layer %d: %s", path, l, why);
        }
        if (progress) fprintf(stderr, "\rtappa patterns: layer %d (%d of %d)", l, i + 1, a->n_layers);
        i++;
    }
    if (progress) fputc('\n', stderr);
    return st;
}

/* The pair with the largest share of a head's rope energy. */
static int64_t top_pair(const double *e, int64_t pairs)
{
    int64_t best = 0;
    for (int64_t j = 1; j < pairs; j++)
        if (e[j] > e[best]) best = j;
    return best;
}

static void print_table(const analysis *a, const bool *show_head, double rho, size_t n_shown, const char *device)
{
    int counts[4] = { 0, 0, 0, 0 };
    printf("layer head  class      qsim  qsim_w   pred  vertical diagonal periodic period  top rope pair\n");
    for (int i = 0; i < a->n_layers; i++)
        for (int h = 0; h < a->hq; h++) {
            if (!show_head[h]) continue;
            const tappa_head_pattern *p = &a->heads[(size_t)i * a->hq + h];
            const double *e = a->rope + ((size_t)i * a->hq + h) * (size_t)(a->d / 2);
            int64_t j = top_pair(e, a->d / 2);
            counts[p->cls]++;
            printf("%5d %4d  %-9s %6.3f %6.3f %6.3f %8.3f %8.3f %8.3f %6lld  %4lld (%4.1f%%)\n", a->layer[i], h,
                   tappa_pattern_class_name(p->cls), p->qsim, p->qsim_window, p->predictability, p->vertical,
                   p->diagonal, p->periodic, (long long)p->period, (long long)j, 100 * e[j]);
        }
    printf("%zu heads: vertical %d, diagonal %d, periodic %d, irregular %d; q-similarity (%s) against "
           "predictability: Spearman ",
           n_shown, counts[0], counts[1], counts[2], counts[3], a->pre_rope ? "pre-RoPE" : "post-RoPE");
    if (isfinite(rho)) printf("%.3f", rho);
    else printf("undefined");
    printf(" over %zu heads; on %s\n", n_shown, device);
}

static char *json_text(const analysis *a, const bool *show_head, double rho, size_t n_shown, const options *o,
                       const char *device)
{
    cJSON *root = cJSON_CreateObject(), *layers = cJSON_AddArrayToObject(root, "layers");
    for (int i = 0; i < a->n_layers; i++) {
        cJSON *L = cJSON_CreateObject(), *heads;
        cJSON_AddNumberToObject(L, "layer", a->layer[i]);
        heads = cJSON_AddArrayToObject(L, "heads");
        for (int h = 0; h < a->hq; h++) {
            if (!show_head[h]) continue;
            const tappa_head_pattern *p = &a->heads[(size_t)i * a->hq + h];
            cJSON *H = cJSON_CreateObject(), *scores = cJSON_CreateObject();
            cJSON_AddNumberToObject(H, "head", h);
            cJSON_AddStringToObject(H, "class", tappa_pattern_class_name(p->cls));
            cJSON_AddItemToObject(H, "qsim", cli_json_number(p->qsim));
            cJSON_AddItemToObject(H, "qsim_window", cli_json_number(p->qsim_window));
            cJSON_AddItemToObject(H, "predictability", cli_json_number(p->predictability));
            cJSON_AddItemToObject(scores, "vertical", cli_json_number(p->vertical));
            cJSON_AddItemToObject(scores, "diagonal", cli_json_number(p->diagonal));
            cJSON_AddItemToObject(scores, "periodic", cli_json_number(p->periodic));
            cJSON_AddItemToObject(H, "scores", scores);
            cJSON_AddNumberToObject(H, "period", (double)p->period);
            cJSON_AddItemToObject(H, "rope_energy", cli_json_numbers(a->rope + ((size_t)i * a->hq + h) * (size_t)(a->d / 2),
                                                                      (size_t)(a->d / 2)));
            cJSON_AddItemToArray(heads, H);
        }
        cJSON_AddItemToArray(layers, L);
    }
    cJSON_AddItemToObject(root, "spearman", cli_json_number(rho));
    cJSON_AddNumberToObject(root, "n_heads", (double)n_shown);
    cJSON_AddNumberToObject(root, "rows", (double)a->s);
    cJSON_AddNumberToObject(root, "window", (double)(o->p.window < a->n ? o->p.window : a->n));
    cJSON_AddNumberToObject(root, "tokens", (double)a->n);
    cJSON_AddStringToObject(root, "qsim_of", a->pre_rope ? "q_pre" : "q");
    cJSON_AddStringToObject(root, "device", device);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

static tappa_status draw(const char *dir, const char *trace, const analysis *a, const bool *show_head, double rho,
                         tappa_error *err)
{
    if (mkdir(dir, 0755) && errno != EEXIST)
        return tappa_fail(err, TAPPA_ERR_IO, "--out %s: cannot create the folder: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) return tappa_fail(err, TAPPA_ERR_IO, "--out %s is not a folder", dir);
    /* The gallery shows the selected heads only: a selection is copied out,
     * all heads are drawn from where they are. */
    int shown = 0;
    for (int h = 0; h < a->hq; h++) shown += show_head[h];
    bool all = shown == a->hq;
    size_t per = (size_t)a->s * (size_t)a->n;
    gallery_layer *L = calloc((size_t)a->n_layers, sizeof *L);
    int *ids = malloc((size_t)shown * sizeof *ids);
    tappa_head_pattern *heads = all ? a->heads : malloc((size_t)a->n_layers * shown * sizeof *heads);
    float *rows = all ? a->rows : malloc((size_t)a->n_layers * shown * per * sizeof *rows);
    tappa_status st = L && heads && rows && ids ? TAPPA_OK : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gallery: out of host memory");
    for (int h = 0, x = 0; !st && h < a->hq; h++)
        if (show_head[h]) ids[x++] = h;
    for (int i = 0; !st && i < a->n_layers; i++) {
        for (int h = 0, x = 0; !all && h < a->hq; h++) {
            if (!show_head[h]) continue;
            size_t to = (size_t)i * shown + x++, from = (size_t)i * a->hq + h;
            heads[to] = a->heads[from];
            memcpy(rows + to * per, a->rows + from * per, per * sizeof *rows);
        }
        L[i] = (gallery_layer){ a->layer[i], heads + (size_t)i * shown, rows + (size_t)i * shown * per };
    }
    const char *name = strrchr(trace, '/');
    gallery g = { name ? name + 1 : trace, shown, ids, a->s, a->n, L, a->n_layers, rho };
    if (!st) st = gallery_write(dir, &g, err);
    free(L);
    free(ids);
    if (!all) {
        free(heads);
        free(rows);
    }
    return st;
}

int cmd_patterns(int argc, char **argv)
{
    options o = { 0 };
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    const char *path = argv[optind];
    tappa_error err = { 0 };
    tappa_safetensors *t = NULL;
    tappa_context *ctx = NULL;
    analysis a = { 0 };
    bool *want = NULL, *show_head = NULL;
    tappa_status st = tappa_safetensors_read(path, &t, &err);
    int total = st ? 0 : cli_count_tensors(t, "layer.%d.q");
    if (!st && total == 0) st = tappa_fail(&err, TAPPA_ERR_FORMAT, "%s: no layer.0.q: not a trace", path);
    if (!st && !(want = malloc((size_t)total * sizeof *want))) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) {
        if (!o.layers) for (int l = 0; l < total; l++) want[l] = true;
        else if (!parse_list(o.layers, total, want)) {
            tappa_safetensors_free(&t);
            free(want);
            return cli_usage("patterns", "--layers '%s' is not a list of layers 0..%d", o.layers, total - 1);
        }
    }
    /* --heads is checked against layer.0.q before any layer is analysed. */
    const tappa_array *q0 = st ? NULL : tensor(t, 0, "q");
    int hq = q0 && q0->ndim == 3 && q0->shape[0] > 0 && q0->shape[0] < 65536 ? (int)q0->shape[0] : 1;
    if (!st && !(show_head = malloc((size_t)hq * sizeof *show_head))) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (!st) {
        if (!o.heads) for (int h = 0; h < hq; h++) show_head[h] = true;
        else if (!parse_list(o.heads, hq, show_head)) {
            rc = cli_usage("patterns", "--heads '%s' is not a list of heads 0..%d", o.heads, hq - 1);
            st = TAPPA_ERR_INVALID_ARG;
        }
    }
    if (!st) st = cli_context(o.device, &ctx, &err);
    if (!st) st = analyse(ctx, path, t, want, total, &o, &a, &err);
    double rho = NAN;
    size_t n_shown = 0;
    if (!st) {
        double *x = malloc((size_t)a.n_layers * a.hq * sizeof *x), *y = malloc((size_t)a.n_layers * a.hq * sizeof *y);
        if (!x || !y) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        for (int i = 0; !st && i < a.n_layers; i++)
            for (int h = 0; h < a.hq; h++)
                if (show_head[h]) {
                    x[n_shown] = a.heads[(size_t)i * a.hq + h].qsim;
                    y[n_shown++] = a.heads[(size_t)i * a.hq + h].predictability;
                }
        if (!st) rho = tappa_spearman(x, y, n_shown);
        free(x);
        free(y);
    }
    const char *device = ctx ? tappa_context_name(ctx) : "";
    if (!st && o.out) st = draw(o.out, path, &a, show_head, rho, &err);
    if (!st) {
        if (o.json) {
            char *text = json_text(&a, show_head, rho, n_shown, &o, device);
            if (text) puts(text);
            else st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
            free(text);
        } else {
            print_table(&a, show_head, rho, n_shown, device);
            if (o.out) printf("gallery: %s/index.html\n", o.out);
        }
    }
    if (st && !rc) rc = cli_error("patterns", &err);
    size_t validation = ctx ? cli_report_validation("patterns", ctx) : 0;
    analysis_free(&a);
    free(want);
    free(show_head);
    tappa_context_destroy(&ctx);
    tappa_safetensors_free(&t);
    return st ? (rc ? rc : EXIT_FAIL) : validation ? EXIT_FAIL : EXIT_OK;
}
