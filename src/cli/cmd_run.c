/* tappa run: generate text with a GGUF model, streaming it, then a summary. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rng.h"

static const char help[] =
    "usage: tappa run [-m MODEL.gguf] [-p TEXT | -f FILE] [-n N] [--temp T] [--top-p P] [--seed S]\n"
    "                 [--weights keep|f32|f16|q8_0] [--kv METHOD [--kv-budget C] [--kv-window W]]\n"
    "                 [--verbose] [--profile] [--device D] [--json]\n"
    "Generate text with a Llama or Qwen2 model, streamed as it comes, then a summary:\n"
    "prompt tokens, prefill and decode tokens/s, KV-cache bytes.\n"
    "  -m FILE        the model (default: the bundled tiny Llama, models/tiny-llama/tiny-llama.gguf)\n"
    "  -p TEXT        the prompt (default: a line of Python)\n"
    "  -f FILE        the prompt from a file\n"
    "  -n N           tokens to generate (default 128); stops early at the end-of-text token\n"
    "  --temp T       sampling temperature (default 0: greedy)\n"
    "  --top-p P      nucleus sampling: the smallest set of tokens with probability >= P (default 1)\n"
    "  --seed S       sampling seed (default: fresh, printed in the summary)\n"
    "  --weights W    the matrices as stored (keep, default) or converted at load\n"
    "  --kv METHOD    compress the prompt's KV cache at the end of prefill, then decode on it:\n"
    "                 tappa, cake, snapkv, pyramidkv, h2o, streamingllm or full (SPEC.md)\n"
    "  --kv-budget C  average positions kept per layer, window included (default 128)\n"
    "  --kv-window W  the observation window, always kept (default 32)\n"
    "  --verbose      each layer's q-similarity and budget after compression, and where a\n"
    "                 decode step's time goes on the host (recording, submit and wait)\n"
    "  --profile      where a decode step's time goes on the GPU: a timestamp at the end of\n"
    "                 each stage of the forward pass (norms, projections, RoPE, attention, ...),\n"
    "                 averaged over the later half of the steps; the earlier half runs without\n"
    "                 them, so their own cost shows (Vulkan devices with timestamps)\n"
    "  --device D     index, name substring, or 'cpu'\n"
    "  --json         no streaming: print {\"text\", \"tokens\", ...} at the end\n";

#define DEFAULT_PROMPT "def fibonacci(n):\n"

/* A token and its unnormalised probability. */
typedef struct candidate {
    float p;
    int32_t id;
} candidate;

/* Most probable first, ties by lower id. */
static int by_probability(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Greedy (temp 0) or temperature + top-p sampling from logits; cand: (V) scratch. */
static int32_t sample(const float *logits, int V, double temp, double top_p, rng *r, candidate *cand)
{
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temp <= 0) return best;
    double sum = 0;
    for (int i = 0; i < V; i++) {
        cand[i] = (candidate){ (float)exp((logits[i] - logits[best]) / temp), i };
        sum += cand[i].p;
    }
    /* One sort (a vocabulary of 128K is sorted in milliseconds), then the
     * smallest prefix holding top_p of the mass. */
    qsort(cand, (size_t)V, sizeof *cand, by_probability);
    double mass = 0;
    int kept = 0;
    while (kept < V && mass < top_p * sum) mass += cand[kept++].p;
    double u = rng_uniform(r, 0, mass), acc = 0;
    for (int i = 0; i < kept; i++)
        if ((acc += cand[i].p) >= u) return cand[i].id;
    return cand[kept - 1].id;
}

#define MAX_STAGES 64

/* Summed GPU time of the stages. */
static double stages_ms(const tappa_gpu_stage *stages, size_t n)
{
    double ms = 0;
    for (size_t i = 0; i < n; i++) ms += stages[i].ms;
    return ms;
}

/* Decode steps timed on the host (the session's eval of one token), those
 * without timestamps [0] and those profiled [1]. */
typedef struct step_split {
    double ms[2];
    unsigned long long steps[2];
} step_split;

/* The GPU profile of the profiled decode steps as a table: per stage, ms and
 * dispatches per step and its share; then a step's host time with and
 * without the timestamps, and how much of it the GPU's timeline holds. */
static void print_profile(const tappa_gpu_stage *stages, size_t n, const step_split *sp)
{
    unsigned long long steps = sp->steps[1];
    if (!steps || !n) {
        fprintf(stderr, "tappa run: --profile: no decode step was profiled (-n 3 or more: the first step is left out)\n");
        return;
    }
    double total = stages_ms(stages, n);
    fprintf(stderr, "tappa run: GPU time of a decode step, by stage (mean of the last %llu steps; a stage runs from\n"
                    "           the previous stage's timestamp to its own, so it includes the barrier before it)\n", steps);
    fprintf(stderr, "  %-30s %10s %7s %11s\n", "stage", "ms/step", "share", "dispatches");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %-30s %10.3f %6.1f%% %11.1f\n", stages[i].name, stages[i].ms / steps,
                total > 0 ? 100 * stages[i].ms / total : 0, (double)stages[i].dispatches / steps);
    fprintf(stderr, "  %-30s %10.3f %6.1f%%\n", "GPU total", total / steps, 100.0);
    double profiled = sp->ms[1] / steps;
    fprintf(stderr, "  a profiled step took %.3f ms on the host, %.3f ms of it off the GPU's timeline\n", profiled,
            profiled > total / steps ? profiled - total / steps : 0);
    if (sp->steps[0]) {
        double plain = sp->ms[0] / sp->steps[0];
        if (profiled >= plain)
            fprintf(stderr, "  the first %llu steps, without timestamps, took %.3f ms each: the timestamps cost %.3f ms a step\n",
                    sp->steps[0], plain, profiled - plain);
        else
            fprintf(stderr, "  the first %llu steps, without timestamps, took %.3f ms each, longer than the profiled ones:\n"
                            "  the device's own variation exceeds what the timestamps cost\n", sp->steps[0], plain);
    }
}

static void add_profile_json(cJSON *root, const tappa_gpu_stage *stages, size_t n, const step_split *sp)
{
    cJSON *p = cJSON_AddObjectToObject(root, "gpu_profile");
    double per = sp->steps[1] ? (double)sp->steps[1] : 1, total = stages_ms(stages, n);
    cJSON_AddNumberToObject(p, "steps", (double)sp->steps[1]);
    cJSON_AddNumberToObject(p, "gpu_ms_per_step", total / per);
    cJSON_AddNumberToObject(p, "host_ms_per_step", sp->ms[1] / per);
    cJSON_AddNumberToObject(p, "unprofiled_steps", (double)sp->steps[0]);
    cJSON_AddNumberToObject(p, "unprofiled_host_ms_per_step", sp->steps[0] ? sp->ms[0] / sp->steps[0] : 0);
    cJSON *a = cJSON_AddArrayToObject(p, "stages");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stage", stages[i].name);
        cJSON_AddNumberToObject(o, "ms_per_step", stages[i].ms / per);
        cJSON_AddNumberToObject(o, "share", total > 0 ? stages[i].ms / total : 0);
        cJSON_AddNumberToObject(o, "dispatches_per_step", (double)stages[i].dispatches / per);
        cJSON_AddItemToArray(a, o);
    }
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "model", required_argument, NULL, 'm' }, { "prompt", required_argument, NULL, 'p' },
        { "file", required_argument, NULL, 'f' },  { "tokens", required_argument, NULL, 'n' },
        { "temp", required_argument, NULL, 't' },  { "top-p", required_argument, NULL, 'P' },
        { "seed", required_argument, NULL, 's' },  { "weights", required_argument, NULL, 'w' },
        { "device", required_argument, NULL, 'd' }, { "json", no_argument, NULL, 'j' },
        { "kv", required_argument, NULL, 'K' },    { "kv-budget", required_argument, NULL, 'B' },
        { "kv-window", required_argument, NULL, 'W' }, { "verbose", no_argument, NULL, 'v' },
        { "profile", no_argument, NULL, 'G' },     { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *kv_method = NULL;
    unsigned long long kv_budget = 128, kv_window = 32;
    bool verbose = false, profile = false;
    const char *model_path = TAPPA_BUNDLED_MODEL, *prompt = NULL, *file = NULL, *device = NULL;
    unsigned long long n_gen = 128, seed = 0;
    bool have_seed = false, json = false;
    double temp = 0, top_p = 1;
    tappa_model_params mp = TAPPA_MODEL_PARAMS_DEFAULT;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:p:f:n:", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': file = optarg; break;
        case 'n':
            if (!cli_parse_u64(optarg, &n_gen) || n_gen > (1u << 20))
                return cli_usage("run", "-n needs a token count, got '%s'", optarg);
            break;
        case 't':
            temp = strtod(optarg, &end);
            if (*end || !(temp >= 0) || temp > 100) return cli_usage("run", "--temp needs a number >= 0, got '%s'", optarg);
            break;
        case 'P':
            top_p = strtod(optarg, &end);
            if (*end || !(top_p > 0 && top_p <= 1)) return cli_usage("run", "--top-p needs a number in (0, 1], got '%s'", optarg);
            break;
        case 's':
            if (!cli_parse_u64(optarg, &seed)) return cli_usage("run", "--seed needs a number, got '%s'", optarg);
            have_seed = true;
            break;
        case 'w':
            mp.keep_type = !strcmp(optarg, "keep");
            if (!strcmp(optarg, "f32")) mp.type = TAPPA_GGML_F32;
            else if (!strcmp(optarg, "f16")) mp.type = TAPPA_GGML_F16;
            else if (!strcmp(optarg, "q8_0")) mp.type = TAPPA_GGML_Q8_0;
            else if (!mp.keep_type) return cli_usage("run", "--weights must be keep, f32, f16 or q8_0, not '%s'", optarg);
            break;
        case 'd': device = optarg; break;
        case 'j': json = true; break;
        case 'K': kv_method = optarg; break;
        case 'B':
            if (!cli_parse_u64(optarg, &kv_budget) || kv_budget < 2) return cli_usage("run", "--kv-budget needs a count >= 2, got '%s'", optarg);
            break;
        case 'W':
            if (!cli_parse_u64(optarg, &kv_window) || kv_window < 1) return cli_usage("run", "--kv-window needs a count >= 1, got '%s'", optarg);
            break;
        case 'v': verbose = true; break;
        case 'G': profile = true; break;
        case 'h': fputs(help, stdout); return EXIT_OK;
        default: return cli_usage("run", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("run", "unexpected argument '%s'", argv[optind]);
    if (prompt && file) return cli_usage("run", "give -p TEXT or -f FILE, not both");
    if (!have_seed) seed = rng_fresh_seed();
    tappa_compress_params cp;
    tappa_compress_defaults(&cp);
    if (kv_method) {
        tappa_error perr = { 0 };
        if (tappa_method_parse(kv_method, &cp.method, &perr)) return cli_usage("run", "%s", perr.message);
        if (kv_window >= kv_budget)
            return cli_usage("run", "--kv-window %llu must be below --kv-budget %llu", kv_window, kv_budget);
        cp.cache_size = (int64_t)kv_budget;
        cp.window = (int64_t)kv_window;
    }

    tappa_error err = { 0 };
    tappa_context *ctx = NULL;
    tappa_model *m = NULL;
    tappa_session *s = NULL;
    int32_t *ids = NULL;
    candidate *cand = NULL;
    float *logits = NULL;
    char *text = NULL;
    size_t len = 0, n_prompt = 0;
    tappa_status st = TAPPA_OK;
    if (file) {
        text = cli_read_text(file, 64u << 20, &len, &err);
        if (!text) st = err.status;
    } else {
        const char *src = prompt ? prompt : DEFAULT_PROMPT;
        len = strlen(src);
        text = strdup(src);
        if (!text) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    if (!st) st = cli_context(device, &ctx, &err);
    const tappa_device_info *dinfo = ctx ? tappa_context_device(ctx) : NULL;
    if (!st && profile && !(dinfo && dinfo->timestamps))
        st = tappa_fail(&err, TAPPA_ERR_UNSUPPORTED, "--profile needs a Vulkan device with compute-queue timestamps; %s has none",
                        tappa_context_name(ctx));
    if (!st) st = tappa_model_load(ctx, model_path, &mp, &m, &err);
    const tappa_model_info *info = m ? tappa_model_get_info(m) : NULL;
    const tappa_tokenizer *tok = m ? tappa_model_tokenizer(m) : NULL;
    if (!st) st = tappa_tokenize(tok, text, len, true, &ids, &n_prompt, &err);
    if (!st && n_prompt == 0) st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG, "the prompt has no tokens");
    if (!st && (int64_t)(n_prompt + n_gen) > info->context)
        fprintf(stderr, "tappa run: %zu prompt + %llu new tokens pass the model's trained context of %d\n", n_prompt,
                n_gen, info->context);
    if (!st && kv_method && n_prompt <= kv_budget)
        st = tappa_fail(&err, TAPPA_ERR_INVALID_ARG,
                        "--kv-budget %llu is not below the prompt's %zu tokens: there is nothing to compress", kv_budget,
                        n_prompt);
    if (!st) st = tappa_session_create(m, (int64_t)(n_prompt + n_gen), &s, &err);
    if (!st && kv_method) st = tappa_session_record_trace(s, &err);
    if (!st) {
        logits = malloc(sizeof(float) * info->vocab);
        cand = malloc(sizeof *cand * (size_t)info->vocab);
        if (!logits || !cand) st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    /* Prefill in chunks, so a long prompt shows progress. */
    double t0 = cli_now_ms();
    bool progress = !json && cli_stderr_tty() && n_prompt > 256;
    for (size_t done = 0; !st && done < n_prompt;) {
        size_t chunk = n_prompt - done < 256 ? n_prompt - done : 256;
        st = tappa_session_eval(s, ids + done, chunk, false, logits, &err);
        done += chunk;
        if (progress) fprintf(stderr, "\rtappa run: prompt %zu / %zu tokens", done, n_prompt);
    }
    if (progress) fputc('\n', stderr);
    double prefill_ms = cli_now_ms() - t0;
    /* Compression at the end of prefill: the full cache's bytes, then the kept ones. */
    size_t kv_full = s ? tappa_session_kv_bytes(s) : 0;
    tappa_compress_layer *report = NULL;
    double compress_ms = 0;
    if (!st && kv_method) {
        report = calloc((size_t)info->layers, sizeof *report);
        double c0 = cli_now_ms();
        st = report ? tappa_session_compress(s, &cp, report, &err) : tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        compress_ms = cli_now_ms() - c0;
    }
    size_t kv_kept = s ? tappa_session_kv_bytes(s) : 0;
    if (!st && kv_method && verbose && !json) {
        fprintf(stderr, "layer  q-sim    budget  (+ window %lld)\n", (long long)cp.window);
        for (int l = 0; l < info->layers; l++)
            fprintf(stderr, "%5d  %6.4f  %6lld\n", l, report[l].qsim, (long long)report[l].budget);
    }
    rng r;
    rng_seed(&r, seed);
    char *out = NULL;
    size_t out_len = 0, out_cap = 0;
    unsigned long long generated = 0, steps_run = 0;
    /* --profile: decode steps 1 .. plain_end - 1 run without timestamps and
     * plain_end on with them, so their own cost shows beside the profile.
     * Step 0 is in neither (it may build the pipelines a single token takes,
     * a prompt's chunks take others); prefill and compression are in neither. */
    step_split split = { 0 };
    unsigned long long plain_end = n_gen > 1 ? 1 + (n_gen - 2) / 2 : 1;
    double t1 = cli_now_ms();
    tappa_host_stats h0 = tappa_context_host_stats(ctx);
    if (!st && !json) fwrite(text, 1, len, stdout);
    for (; !st && generated < n_gen; generated++) {
        int32_t next = sample(logits, info->vocab, temp, top_p, &r, cand);
        if (next == tappa_tokenizer_eos(tok)) break;
        char piece[256];
        size_t n = tappa_token_piece(tok, next, piece, sizeof piece);
        if (out_len + n + 1 > out_cap) {
            out_cap = (out_len + n + 1) * 2;
            char *grown = realloc(out, out_cap);
            if (!grown) {
                st = tappa_fail(&err, TAPPA_ERR_NO_MEMORY, "out of host memory");
                break;
            }
            out = grown;
        }
        memcpy(out + out_len, piece, n);
        out_len += n;
        if (!json) {
            fwrite(piece, 1, n, stdout);
            fflush(stdout);
        }
        if (generated + 1 < n_gen) {
            bool profiled = profile && steps_run >= plain_end;
            if (profiled && steps_run == plain_end) st = tappa_context_profile(ctx, true, &err);
            double e0 = cli_now_ms();
            if (!st) st = tappa_session_eval(s, &next, 1, false, logits, &err);
            if (steps_run > 0) {
                split.ms[profiled] += cli_now_ms() - e0;
                split.steps[profiled]++;
            }
            steps_run++;
        }
    }
    double decode_ms = cli_now_ms() - t1;
    tappa_host_stats h1 = tappa_context_host_stats(ctx);
    /* Where a decode step's time went on the host: recording, submit + GPU. */
    double steps = steps_run ? (double)steps_run : 1; /* generated - 1, or generated after an EOS */
    double rec_ms = (h1.record_ms - h0.record_ms) / steps, wait_ms = (h1.submit_wait_ms - h0.submit_wait_ms) / steps;
    double disp = (double)(h1.dispatches - h0.dispatches) / steps;
    tappa_gpu_stage stages[MAX_STAGES];
    size_t n_stages = profile && !st ? tappa_context_gpu_stages(ctx, stages, MAX_STAGES) : 0;
    if (n_stages > MAX_STAGES) n_stages = MAX_STAGES;
    if (!st) {
        double pre_tps = prefill_ms > 0 ? n_prompt / (prefill_ms / 1e3) : 0;
        double dec_tps = decode_ms > 0 && generated ? generated / (decode_ms / 1e3) : 0;
        if (json) {
            cJSON *root = cJSON_CreateObject();
            if (out) out[out_len] = '\0';
            cJSON_AddStringToObject(root, "prompt", text);
            cJSON_AddStringToObject(root, "text", out ? out : "");
            cJSON_AddNumberToObject(root, "prompt_tokens", (double)n_prompt);
            cJSON_AddNumberToObject(root, "generated_tokens", (double)generated);
            cJSON_AddNumberToObject(root, "prefill_tokens_per_s", pre_tps);
            cJSON_AddNumberToObject(root, "decode_tokens_per_s", dec_tps);
            cJSON_AddNumberToObject(root, "kv_cache_bytes", (double)tappa_session_kv_bytes(s));
            if (profile) add_profile_json(root, stages, n_stages, &split);
            if (h1.submits > h0.submits) {
                cJSON *h = cJSON_AddObjectToObject(root, "decode_step_host");
                cJSON_AddNumberToObject(h, "record_ms", rec_ms);
                cJSON_AddNumberToObject(h, "submit_wait_ms", wait_ms);
                cJSON_AddNumberToObject(h, "dispatches", disp);
            }
            if (kv_method) {
                cJSON *kv = cJSON_AddObjectToObject(root, "kv");
                cJSON_AddStringToObject(kv, "method", tappa_method_name(cp.method));
                cJSON_AddNumberToObject(kv, "budget", (double)cp.cache_size);
                cJSON_AddNumberToObject(kv, "window", (double)cp.window);
                cJSON_AddNumberToObject(kv, "prompt_bytes_full", (double)kv_full);
                cJSON_AddNumberToObject(kv, "prompt_bytes_kept", (double)kv_kept);
                cJSON_AddNumberToObject(kv, "ms", compress_ms);
                cJSON *b = cJSON_AddArrayToObject(kv, "budgets");
                for (int l = 0; l < info->layers; l++) cJSON_AddItemToArray(b, cJSON_CreateNumber((double)report[l].budget));
            }
            cJSON_AddNumberToObject(root, "seed", (double)seed);
            cJSON_AddStringToObject(root, "device", tappa_context_name(ctx));
            char *j = cJSON_Print(root);
            if (j) puts(j);
            free(j);
            cJSON_Delete(root);
        } else {
            printf("\n\n");
            fflush(stdout); /* the text before the summary on a terminal */
            fprintf(stderr,
                    "tappa run: %zu prompt tokens, prefill %.1f tokens/s; %llu generated, decode %.1f tokens/s; "
                    "KV cache %.2f MiB; seed %llu; on %s\n",
                    n_prompt, pre_tps, generated, dec_tps, tappa_session_kv_bytes(s) / 1048576.0, seed,
                    tappa_context_name(ctx));
            if (verbose && h1.submits > h0.submits)
                fprintf(stderr, "tappa run: a decode step: %.3f ms recording %.0f dispatches, %.3f ms submitting and "
                                "waiting for the GPU\n", rec_ms, disp, wait_ms);
            if (profile) print_profile(stages, n_stages, &split);
            if (kv_method)
                fprintf(stderr, "tappa run: --kv %s: the prompt's KV cache %.3f MiB -> %.3f MiB (%.1f%% kept, budget %lld, "
                                "window %lld) in %.1f ms\n",
                        tappa_method_name(cp.method), kv_full / 1048576.0, kv_kept / 1048576.0,
                        kv_full ? 100.0 * kv_kept / kv_full : 0, (long long)cp.cache_size, (long long)cp.window, compress_ms);
        }
    }
    if (report) tappa_compress_report_free(report, info->layers);
    free(report);
    free(out);
    free(ids);
    free(cand);
    free(logits);
    free(text);
    tappa_session_free(&s);
    tappa_model_free(&m);
    tappa_context_destroy(&ctx);
    if (st) return cli_error("run", &err);
    return EXIT_OK;
}
