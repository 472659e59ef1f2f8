/* `tappa run` and `tappa trace` with the bundled model on a device (argv[3]):
 * greedy text equal to transformers' greedy continuation of each golden
 * prompt; a trace with every tensor of SPEC.md at its shape, equal to the CPU
 * reference's trace, its queries before and after RoPE equal at position 0 (no
 * rotation there) and different later; bad arguments and a missing model as
 * one-line errors.
 * usage: test_run_cli TAPPA GOLDEN.json DEVICE */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "tappa/tappa.h"

static char dir[] = "/tmp/tappa-run-XXXXXX";

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_run_cli TAPPA GOLDEN.json DEVICE\n");
        return 2;
    }
    const char *tappa = argv[1], *device = argv[3];
    /* The bundled model sits beside its golden file. */
    char model[512];
    snprintf(model, sizeof model, "%s", argv[2]);
    char *slash = strrchr(model, '/');
    snprintf(slash ? slash + 1 : model, sizeof model - (size_t)(slash ? slash + 1 - model : 0), "tiny-llama.gguf");
    rng r;
    cli_test_start("test_run_cli", tappa, device, dir, &r);
    cJSON *golden = json_read_file(argv[2]);
    CHECK(golden != NULL);
    char cmd[4096], path[256];
    int lines;
    const cJSON *p;
    int i = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(golden, "prompts"))
    {
        /* The prompt goes through a file: it holds newlines and quotes. */
        snprintf(path, sizeof path, "%s/prompt%d.txt", dir, i++);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(cJSON_GetObjectItem(p, "text")->valuestring, f);
            fclose(f);
        }
        snprintf(cmd, sizeof cmd, "%s run -f %s -n 32 --json --device '%s'", tappa, path, device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        cJSON *out = cli_read_json(dir);
        const cJSON *text = cJSON_GetObjectItem(out, "text"), *want = cJSON_GetObjectItem(p, "greedy_text");
        CHECK(cJSON_IsString(text) && cJSON_IsString(want) && !strcmp(text->valuestring, want->valuestring));
        CHECK_NEAR(cJSON_GetObjectItem(out, "prompt_tokens")->valuedouble,
                   cJSON_GetArraySize(cJSON_GetObjectItem(p, "ids")), 0);
        /* Where a decode step's host time went: Vulkan only, every step the
         * same whole number of dispatches. */
        const cJSON *host = cJSON_GetObjectItem(out, "decode_step_host");
        if (strcmp(device, "cpu")) {
            double d = cJSON_GetNumberValue(cJSON_GetObjectItem(host, "dispatches"));
            CHECK(d >= 1 && fabs(d - round(d)) < 1e-9);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(host, "record_ms")) > 0);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(host, "submit_wait_ms")) > 0);
        } else {
            CHECK(host == NULL);
        }
        cJSON_Delete(out);
        remove(path);
    }

    /* --profile: GPU time per stage of the decode steps. Every dispatch of a
     * step is in some stage, the stages add up to the total, the GPU's time
     * fits in the wall time, and the text is what greedy decoding gives
     * without the timestamps. On the CPU: a one-line refusal. */
    snprintf(cmd, sizeof cmd, "%s run -p 'def f(x):' -n 6 --json --profile --device '%s'", tappa, device);
    if (strcmp(device, "cpu")) {
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        cJSON *out = cli_read_json(dir);
        const cJSON *prof = cJSON_GetObjectItem(out, "gpu_profile"), *s;
        double sum = 0, dispatches = 0;
        int named = 0, positive = 0;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(prof, "stages"))
        {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(s, "stage"));
            double ms = cJSON_GetNumberValue(cJSON_GetObjectItem(s, "ms_per_step"));
            named += name && (!strcmp(name, "q k v projections") || !strcmp(name, "attention") ||
                              !strcmp(name, "down projection") || !strcmp(name, "lm head"));
            positive += ms > 0;
            sum += ms;
            dispatches += cJSON_GetNumberValue(cJSON_GetObjectItem(s, "dispatches_per_step"));
        }
        CHECK_INT_EQ(named, 4);
        CHECK(positive >= 10);
        /* 5 steps: the first untimed, 2 without timestamps, the last 2 profiled. */
        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(prof, "steps")), 2, 0);
        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(prof, "unprofiled_steps")), 2, 0);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(prof, "unprofiled_host_ms_per_step")) > 0);
        double gpu = cJSON_GetNumberValue(cJSON_GetObjectItem(prof, "gpu_ms_per_step"));
        CHECK(gpu > 0 && fabs(sum - gpu) <= 1e-9 * gpu + 1e-12);
        CHECK(gpu <= cJSON_GetNumberValue(cJSON_GetObjectItem(prof, "host_ms_per_step")));
        CHECK_NEAR(dispatches, cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "decode_step_host"),
                                                                        "dispatches")), 1e-9);
        char *profiled = cJSON_IsString(cJSON_GetObjectItem(out, "text")) ? strdup(cJSON_GetObjectItem(out, "text")->valuestring) : NULL;
        cJSON_Delete(out);
        snprintf(cmd, sizeof cmd, "%s run -p 'def f(x):' -n 6 --json --device '%s'", tappa, device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        out = cli_read_json(dir);
        const cJSON *text = cJSON_GetObjectItem(out, "text");
        CHECK(profiled && cJSON_IsString(text) && !strcmp(profiled, text->valuestring));
        free(profiled);
        cJSON_Delete(out);
    } else {
        CHECK(cli_run(dir, cmd, &lines) != 0);
        CHECK_INT_EQ(lines, 1);
    }

    /* A trace of more than one chunk on the device, and the CPU reference's to compare. */
    static const char prompt[] = "import os\nimport sys\n\n\ndef main(argv):\n    return 0";
    snprintf(cmd, sizeof cmd, "%s trace -p '%s' -o %s/t.safetensors --device '%s'", tappa, prompt, dir, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    snprintf(cmd, sizeof cmd, "%s trace -p '%s' -o %s/ref.safetensors --device cpu", tappa, prompt, dir);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    tappa_safetensors *t = NULL, *ref = NULL;
    tappa_error err = { 0 };
    CHECK_INT_EQ(tappa_safetensors_read(path, &t, &err), TAPPA_OK);
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    CHECK_INT_EQ(tappa_safetensors_read(path, &ref, &err), TAPPA_OK);
    remove(path);
    for (size_t i = 0; t && ref && i < tappa_safetensors_count(ref); i++) {
        const tappa_array *a = tappa_safetensors_at(ref, i);
        const tappa_array *b = tappa_safetensors_find(t, tappa_safetensors_name(ref, i));
        CHECK(b && b->bytes == a->bytes);
        double diff = 0, norm = 0;
        for (size_t e = 0; b && b->bytes == a->bytes && e < a->bytes / 4; e++) {
            double x = ((const float *)a->data)[e], y = ((const float *)b->data)[e];
            diff += (x - y) * (x - y);
            norm += x * x;
        }
        CHECK(sqrt(diff / norm) <= 1e-4);
    }
    tappa_safetensors_free(&ref);
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    const tappa_array *q = t ? tappa_safetensors_find(t, "layer.3.q") : NULL;
    const tappa_array *qp = t ? tappa_safetensors_find(t, "layer.3.q_pre") : NULL;
    const tappa_array *k = t ? tappa_safetensors_find(t, "layer.3.k") : NULL;
    const tappa_array *h = t ? tappa_safetensors_find(t, "hidden.4") : NULL;
    CHECK(q && qp && k && h && t && tappa_safetensors_find(t, "layer.0.v") && !tappa_safetensors_find(t, "hidden.5"));
    if (q && qp && k && h) {
        int64_t n = q->shape[1];
        CHECK(n > 2 && q->shape[0] == 4 && q->shape[2] == 64 && k->shape[0] == 2 && h->shape[0] == n && h->shape[1] == 256);
        const float *a = q->data, *b = qp->data;
        CHECK(!memcmp(a, b, 64 * sizeof(float)));                         /* head 0, position 0 */
        CHECK(memcmp(a + 2 * 64, b + 2 * 64, 64 * sizeof(float)) != 0);   /* head 0, position 2 */
    }
    tappa_safetensors_free(&t);
    remove(path);

    /* KV compression on a running model. The prompt: the golden prompts, three times over. */
    snprintf(path, sizeof path, "%s/long.txt", dir);
    FILE *lf = fopen(path, "w");
    for (int rep = 0; lf && rep < 3; rep++)
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(golden, "prompts")) fputs(cJSON_GetObjectItem(p, "text")->valuestring, lf);
    if (lf) fclose(lf);
    char *texts[4] = { 0 };
    const char *kv_args[4] = { "", "--kv full --kv-budget 16 --kv-window 4", "--kv tappa --kv-budget 16 --kv-window 4",
                               "--kv tappa --kv-budget 16 --kv-window 4" };
    double kept[4] = { 0 }, full_bytes[4] = { 0 };
    int budget_sum = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd, "%s run -f %s -n 12 --json %s --device '%s'", tappa, path, kv_args[i],
                 i == 3 ? "cpu" : device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        cJSON *out = cli_read_json(dir);
        const cJSON *text = cJSON_GetObjectItem(out, "text"), *kv = cJSON_GetObjectItem(out, "kv");
        texts[i] = cJSON_IsString(text) ? strdup(text->valuestring) : NULL;
        if (kv) {
            kept[i] = cJSON_GetObjectItem(kv, "prompt_bytes_kept")->valuedouble;
            full_bytes[i] = cJSON_GetObjectItem(kv, "prompt_bytes_full")->valuedouble;
            if (i == 2) {
                const cJSON *b;
                cJSON_ArrayForEach(b, cJSON_GetObjectItem(kv, "budgets")) budget_sum += b->valueint;
            }
        }
        cJSON_Delete(out);
    }
    CHECK(texts[0] && texts[1] && texts[2] && texts[3]);
    CHECK(texts[0] && texts[1] && !strcmp(texts[0], texts[1])); /* full keeps everything: the same text */
    CHECK(texts[2] && texts[3] && !strcmp(texts[2], texts[3])); /* device and CPU compress alike */
    CHECK(kept[1] == full_bytes[1] && kept[2] < full_bytes[2]);
    CHECK_INT_EQ(budget_sum, (16 - 4) * 4);                     /* the pool (C - W) L, all used */
    /* 2 (K, V) x 4 bytes x 2 KV heads x 64 dims x (the pool + 4 layers x the window). */
    CHECK_NEAR(kept[2], 2.0 * 4 * 2 * 64 * ((16 - 4) * 4 + 4 * 4), 0);
    for (int i = 0; i < 4; i++) free(texts[i]);
    /* Perplexity with "full" equals no compression; with tappa it is worse. */
    double ppl[2] = { 0 };
    const char *ppl_args[3] = { "", "--kv full --kv-budget 16 --kv-window 4", "--kv tappa --kv-budget 16 --kv-window 4" };
    double base = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s eval ppl -m %s -f %s --ctx 48 --json %s --device '%s'", tappa, model,
                 path, ppl_args[i], device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
        cJSON *out = cli_read_json(dir);
        const cJSON *v = cJSON_GetObjectItem(out, "ppl");
        double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (i == 0) base = x;
        else ppl[i - 1] = x;
        cJSON_Delete(out);
    }
    CHECK(base > 1);
    CHECK_NEAR(ppl[0], base, 1e-6 * base);
    CHECK(ppl[1] > base);
    /* eval kv: every method x budget, the plot a PNG; perplexity falls as the budget grows for tappa;
     * 24 of a 25-token context: budgets that the reference's one-pass redistribution lifts past the
     * positions a layer has are clamped. */
    char png[300];
    snprintf(png, sizeof png, "%s/kv.png", dir);
    snprintf(cmd, sizeof cmd,
             "%s eval kv -m %s -f %s --ctx 48 --methods tappa,streamingllm --budgets 8,24 --kv-window 4 --plot %s --json "
             "--device '%s'", tappa, model, path, png, device);
    CHECK_INT_EQ(cli_run(dir, cmd, &lines), 0);
    cJSON *kvr = cli_read_json(dir);
    const cJSON *res = cJSON_GetObjectItem(kvr, "results");
    CHECK_INT_EQ(cJSON_GetArraySize(res), 4);
    double tp8 = cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "ppl")->valuedouble;
    double tp24 = cJSON_GetObjectItem(cJSON_GetArrayItem(res, 1), "ppl")->valuedouble;
    double kl8 = cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "kl")->valuedouble;
    CHECK(tp24 < tp8 && tp24 > base * 0.999 && kl8 > 0);
    CHECK_NEAR(cJSON_GetObjectItem(kvr, "full_ppl")->valuedouble, base, 1e-6 * base);
    cJSON_Delete(kvr);
    FILE *pf = fopen(png, "rb");
    unsigned char magic[8] = { 0 };
    CHECK(pf && fread(magic, 1, 8, pf) == 8 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8));
    if (pf) fclose(pf);
    remove(png);
    remove(path);

    const char *bad[][2] = {
        { "run -p 'short prompt' --kv tappa --kv-budget 64", "1" }, /* budget not below the prompt */
        { "run --kv magic", "2" },
        { "run --kv tappa --kv-budget 8 --kv-window 8", "2" },
        { "eval kv -m /nonexistent.gguf -f x", "1" },
        { "run -m /nonexistent.gguf -n 2", "1" },
        { "run -n lots", "2" },
        { "run -p a -f b", "2" },
        { "trace -p hello", "2" },
        { "run --temp -1", "2" },
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        snprintf(cmd, sizeof cmd, "%s %s --device '%s'", tappa, bad[b][0], device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), atoi(bad[b][1]));
        CHECK_INT_EQ(lines, 1);
    }
    cJSON_Delete(golden);
    cli_test_cleanup(dir, NULL, 0);
    return check_exit("test_run_cli");
}
