/* The bundled model's forward pass against transformers: the logits of the
 * golden prompts (models/tiny-llama/golden.*) within SPEC's tolerances - f32
 * weights 1e-4, weights converted to f16 at load 5e-3, q8_0 reported - and
 * greedy generation reproducing transformers' greedy tokens. On a Vulkan
 * device whose tensors are host-mapped (lavapipe, integrated GPUs), f32 once
 * more with them unmapped, the path of a discrete GPU: embedding rows and
 * logits then ride in each step's own submission.
 * usage: test_model MODEL.gguf GOLDEN.json GOLDEN.safetensors DEVICE */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/internal.h"
#include "json_file.h"
#include "tappa/tappa.h"

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Every prompt's logits against transformers'; the largest normalised error. */
static double logits_error(tappa_model *m, const cJSON *golden, const tappa_safetensors *ref)
{
    int V = tappa_model_get_info(m)->vocab;
    double worst = 0;
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(golden, "prompts"))
    {
        const cJSON *ids = cJSON_GetObjectItem(p, "ids");
        int n = cJSON_GetArraySize(ids);
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
        float *logits = malloc(sizeof(float) * (size_t)n * V);
        for (int t = 0; t < n; t++) tok[t] = cJSON_GetArrayItem(ids, t)->valueint;
        char name[64];
        snprintf(name, sizeof name, "prompt.%d.logits", i++);
        const tappa_array *want = tappa_safetensors_find(ref, name);
        CHECK(want && want->shape[0] == n && want->shape[1] == V);
        tappa_session *s = NULL;
        tappa_error err = { 0 };
        CHECK_INT_EQ(tappa_session_create(m, n, &s, &err), TAPPA_OK);
        for (size_t k = 0; k < (size_t)n * V; k++) logits[k] = NAN; /* poisoned */
        CHECK_INT_EQ(tappa_session_eval(s, tok, (size_t)n, true, logits, &err), TAPPA_OK);
        double diff = 0, norm = 0;
        for (size_t k = 0; want && k < (size_t)n * V; k++) {
            double r = ((const float *)want->data)[k];
            diff += (logits[k] - r) * (logits[k] - r);
            norm += r * r;
        }
        double e = sqrt(diff / norm);
        worst = isnan(e) || e > worst ? e : worst;
        tappa_session_free(&s);
        free(tok);
        free(logits);
    }
    return worst;
}

/* Greedy continuation of every prompt: transformers' tokens exactly. */
static void check_greedy(tappa_model *m, const cJSON *golden)
{
    int V = tappa_model_get_info(m)->vocab;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(golden, "prompts"))
    {
        const cJSON *ids = cJSON_GetObjectItem(p, "ids"), *greedy = cJSON_GetObjectItem(p, "greedy");
        int n = cJSON_GetArraySize(ids), g = cJSON_GetArraySize(greedy);
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
        float *logits = malloc(sizeof(float) * V);
        for (int t = 0; t < n; t++) tok[t] = cJSON_GetArrayItem(ids, t)->valueint;
        tappa_session *s = NULL;
        tappa_error err = { 0 };
        CHECK_INT_EQ(tappa_session_create(m, n + g, &s, &err), TAPPA_OK);
        CHECK_INT_EQ(tappa_session_eval(s, tok, (size_t)n, false, logits, &err), TAPPA_OK);
        int same = 0;
        for (int t = 0; t < g; t++) {
            int32_t next = argmax(logits, V);
            same += next == cJSON_GetArrayItem(greedy, t)->valueint;
            if (next != cJSON_GetArrayItem(greedy, t)->valueint) break;
            CHECK_INT_EQ(tappa_session_eval(s, &next, 1, false, logits, &err), TAPPA_OK);
        }
        CHECK_INT_EQ(same, g);
        tappa_session_free(&s);
        free(tok);
        free(logits);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: test_model MODEL.gguf GOLDEN.json GOLDEN.safetensors DEVICE\n");
        return 2;
    }
    tappa_error err = { 0 };
    tappa_context_params cp = TAPPA_CONTEXT_PARAMS_DEFAULT;
    cp.device = argv[4];
    tappa_context *ctx = NULL;
    if (tappa_context_create(&cp, &ctx, &err)) {
        printf("no device '%s': skipped\n", argv[4]);
        return 77;
    }
    cJSON *golden = json_read_file(argv[2]);
    tappa_safetensors *ref = NULL;
    CHECK(golden != NULL);
    CHECK_INT_EQ(tappa_safetensors_read(argv[3], &ref, &err), TAPPA_OK);
    struct { const char *name; tappa_model_params p; double tol; } cases[] = {
        { "f32", TAPPA_MODEL_PARAMS_DEFAULT, 1e-4 },
        { "f16", { false, TAPPA_GGML_F16 }, 5e-3 },
        { "q8_0", { false, TAPPA_GGML_Q8_0 }, 5e-2 },
        { "f32, tensors unmapped", TAPPA_MODEL_PARAMS_DEFAULT, 1e-4 },
    };
    size_t n_cases = sizeof cases / sizeof cases[0] - !(ctx->vk && ctx->vk->tensor_memory_mapped);
    for (size_t c = 0; golden && ref && c < n_cases; c++) {
        if (c == 3) ctx->vk->tensor_memory_mapped = false; /* for the tensors made from here on */
        tappa_model *m = NULL;
        CHECK_INT_EQ(tappa_model_load(ctx, argv[1], &cases[c].p, &m, &err), TAPPA_OK);
        if (!m) {
            fprintf(stderr, "%s\n", err.message);
            break;
        }
        double e = logits_error(m, golden, ref);
        printf("%s weights: logits error %.3g (tolerance %g)\n", cases[c].name, e, cases[c].tol);
        CHECK(e <= cases[c].tol);
        if (c == 0 || c == 3) check_greedy(m, golden);
        tappa_model_free(&m);
    }
    CHECK_INT_EQ((int)tappa_context_validation_count(ctx), 0);
    cJSON_Delete(golden);
    tappa_safetensors_free(&ref);
    tappa_context_destroy(&ctx);
    return check_exit("test_model");
}
