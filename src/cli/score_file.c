#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "score_file.h"

#define MAX_SCORE_FILE (64 << 20) /* far above any model's per-layer scores */
#define MAX_LAYERS 65536

/* The whole file as a NUL-terminated string without NUL bytes in it. */
static tappa_status slurp(const char *path, char **text, tappa_error *err)
{
    size_t len = 0;
    char *buf = cli_read_text(path, MAX_SCORE_FILE, &len, err);
    if (!buf) return err->status;
    if (strlen(buf) != len) {
        free(buf);
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: not a JSON text file (it holds NUL bytes)", path);
    }
    *text = buf;
    return TAPPA_OK;
}

tappa_status score_file_read(const char *path, score_file *out, tappa_error *err)
{
    memset(out, 0, sizeof *out);
    char *text = NULL;
    tappa_status st = slurp(path, &text, err);
    if (st) return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        /* Python's json module writes NaN and Infinity, which JSON has not. */
        bool non_finite = end && (!strncmp(end, "NaN", 3) || !strncmp(end, "Infinity", 8) ||
                                  !strncmp(end, "-Infinity", 9));
        free(text);
        if (non_finite)
            return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: a value at byte %zu is NaN or Infinity, not a number",
                              path, at);
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: not valid JSON (at byte %zu)", path, at);
    }
    free(text);
    const cJSON *scores = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "scores") : NULL;
    const cJSON *model = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    if (!cJSON_IsObject(root))
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: expected a JSON object with a \"scores\" array", path);
    else if (!scores)
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: no \"scores\" key (expected one score per layer)", path);
    else if (!cJSON_IsArray(scores))
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: \"scores\" is not an array", path);
    else if (cJSON_GetArraySize(scores) == 0)
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: \"scores\" is empty", path);
    else if (cJSON_GetArraySize(scores) > MAX_LAYERS)
        st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: %d scores; a model has at most %d layers", path,
                        cJSON_GetArraySize(scores), MAX_LAYERS);
    size_t n = st ? 0 : (size_t)cJSON_GetArraySize(scores), i = 0;
    if (!st && !(out->scores = malloc(n * sizeof *out->scores)))
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", path);
    const cJSON *v, *list = st ? NULL : scores;
    cJSON_ArrayForEach(v, list) { /* linear: cJSON_GetArrayItem walks the list each time */
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            st = tappa_fail(err, TAPPA_ERR_FORMAT, "%s: scores[%zu] is not a finite number", path, i);
            break;
        }
        out->scores[i++] = v->valuedouble;
    }
    if (!st && cJSON_IsString(model) && !(out->model = strdup(model->valuestring)))
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "%s: out of host memory", path);
    cJSON_Delete(root);
    if (st) {
        score_file_free(out);
        return st;
    }
    out->count = n;
    return TAPPA_OK;
}

void score_file_free(score_file *f)
{
    free(f->scores);
    free(f->model);
    memset(f, 0, sizeof *f);
}
