#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tappa %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'tappa %s --help')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_error(const char *cmd, const tappa_error *err)
{
    fprintf(stderr, "tappa %s: %s\n", cmd, err->message);
    return EXIT_FAIL;
}

tappa_status cli_context(const char *device, tappa_context **ctx, tappa_error *err)
{
    tappa_context_params p = TAPPA_CONTEXT_PARAMS_DEFAULT;
    p.device = device;
    tappa_status st = tappa_context_create(&p, ctx, err);
    if (st) return st;
    const char *why = tappa_context_fallback_reason(*ctx);
    if (why) fprintf(stderr, "tappa: no Vulkan device (%s); running on the CPU reference backend\n", why);
    return TAPPA_OK;
}

size_t cli_report_validation(const char *cmd, const tappa_context *ctx)
{
    size_t n = tappa_context_validation_count(ctx);
    for (size_t i = 0; i < n; i++) {
        const char *m = tappa_context_validation_message(ctx, i);
        if (!m) {
            fprintf(stderr, "tappa %s: ... and %zu more validation messages\n", cmd, n - i);
            break;
        }
        fprintf(stderr, "tappa %s: validation: %s\n", cmd, m);
    }
    return n;
}

bool cli_parse_u64(const char *s, unsigned long long *out)
{
    if (!s || !*s || *s == '-') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool cli_stderr_tty(void) { return isatty(STDERR_FILENO); }

tappa_status cli_write_json(const char *path, const char *text, tappa_error *err)
{
    size_t len = strlen(text);
    char *file = malloc(len + 1);
    if (!file) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", path);
    memcpy(file, text, len);
    file[len] = '\n';
    tappa_status st = tappa_file_write(path, file, len + 1, err);
    free(file);
    return st;
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

cJSON *cli_json_number(double v)
{
    if (!isfinite(v)) return cJSON_CreateNull(); /* JSON has no NaN or Infinity */
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    if (!strpbrk(text, ".e")) strcat(text, ".0"); /* a float, as Python writes 1.0 */
    return cJSON_CreateRaw(text);
}

cJSON *cli_json_numbers(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cli_json_number(v[i]));
    return a;
}

char *cli_read_text(const char *path, size_t max_bytes, size_t *len, tappa_error *err)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tappa_fail(err, TAPPA_ERR_IO, "%s: cannot open: %s", path, strerror(errno)), NULL;
    char *buf = NULL;
    size_t cap = 0;
    tappa_status st = TAPPA_OK;
    /* Read to the end rather than trust a size: pipes and /dev/stdin have none. */
    for (;;) {
        if (cap - *len < 65536 + 1) {
            size_t want = cap ? 2 * cap : 131072;
            char *grown = realloc(buf, want);
            if (!grown) {
                st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", path);
                break;
            }
            buf = grown;
            cap = want;
        }
        size_t got = fread(buf + *len, 1, cap - *len - 1, f);
        *len += got;
        if (*len > max_bytes) {
            st = tappa_fail(err, TAPPA_ERR_LIMIT, "%s: longer than %zu MiB", path, max_bytes >> 20);
            break;
        }
        if (!got) {
            if (ferror(f)) st = tappa_fail(err, TAPPA_ERR_IO, "%s: read failed", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(buf);
        return NULL;
    }
    buf[*len] = '\0';
    return buf;
}

int cli_count_tensors(const tappa_safetensors *t, const char *fmt)
{
    int n = 0;
    char name[64];
    for (;; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (!tappa_safetensors_find(t, name)) return n;
    }
}
