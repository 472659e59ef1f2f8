/* tappa budget: per-layer KV budgets from layer preferences (SPEC.md step 4). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: tappa budget --pref p0,p1,... --seq-len N [--cache-size C] [--window W] [--json]\n"
    "Share a KV-cache pool of (C - W) x layers positions over the layers in proportion to\n"
    "their preferences (TAPPA: 1 - q-similarity), each capped at N - W, the excess and\n"
    "rounding spread as the reference implementation does. Prints each layer's budget of\n"
    "non-window positions; a prompt with N <= C + W is not compressed.\n"
    "  --pref LIST        one preference >= 0 per layer, comma-separated\n"
    "  --seq-len N        prompt tokens\n"
    "  --cache-size C     average per-layer cache size including the window (default 1024)\n"
    "  --window W         observation window (default 32)\n"
    "  --json             {\"budgets\": [...]}\n";

#define MAX_LAYERS 1024

/* Parse "a,b,c" into prefs; false on anything that is not a number. */
static bool parse_prefs(const char *s, double *prefs, int *n)
{
    *n = 0;
    while (*s) {
        if (*n == MAX_LAYERS) return false;
        char *end;
        errno = 0;
        prefs[(*n)++] = strtod(s, &end);
        if (end == s || errno) return false;
        if (*end == ',') end++;
        else if (*end) return false;
        s = end;
    }
    return *n > 0;
}

static bool parse_i64(const char *s, long long *out)
{
    unsigned long long v;
    if (!cli_parse_u64(s, &v) || v > (1ull << 40)) return false;
    *out = (long long)v;
    return true;
}

int cmd_budget(int argc, char **argv)
{
    static const struct option opts[] = {
        { "pref", required_argument, NULL, 'p' },   { "seq-len", required_argument, NULL, 'n' },
        { "cache-size", required_argument, NULL, 'c' }, { "window", required_argument, NULL, 'w' },
        { "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    static double prefs[MAX_LAYERS];
    int layers = 0;
    long long seq_len = -1, cache = 1024, window = 32;
    bool json = false, have_prefs = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!parse_prefs(optarg, prefs, &layers))
                return cli_usage("budget", "--pref needs comma-separated numbers (at most %d), got '%s'",
                                 MAX_LAYERS, optarg);
            have_prefs = true;
            break;
        case 'n':
            if (!parse_i64(optarg, &seq_len)) return cli_usage("budget", "--seq-len needs a token count, got '%s'", optarg);
            break;
        case 'c':
            if (!parse_i64(optarg, &cache)) return cli_usage("budget", "--cache-size needs a size, got '%s'", optarg);
            break;
        case 'w':
            if (!parse_i64(optarg, &window)) return cli_usage("budget", "--window needs a size, got '%s'", optarg);
            break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("budget", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("budget", "unexpected argument '%s'", argv[optind]);
    if (!have_prefs || seq_len < 0) return cli_usage("budget", "needs --pref and --seq-len");

    int64_t budgets[MAX_LAYERS];
    tappa_error err = { 0 };
    if (tappa_budgets_from_prefs(prefs, layers, cache, window, seq_len, budgets, &err))
        return cli_error("budget", &err);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(root, "budgets");
        for (int l = 0; l < layers; l++) cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)budgets[l]));
        char *text = cJSON_PrintUnformatted(root);
        puts(text);
        free(text);
        cJSON_Delete(root);
        return EXIT_OK;
    }
    long long total = 0;
    printf("layer  pref       budget  (+ window %lld)\n", window);
    for (int l = 0; l < layers; l++) {
        printf("%5d  %-9.4g  %6lld\n", l, prefs[l], (long long)budgets[l]);
        total += budgets[l];
    }
    printf("total  %9s  %6lld of a pool of %lld (C %lld, W %lld, N %lld)\n", "", total,
           (cache - window) * layers, cache, window, seq_len);
    return EXIT_OK;
}
