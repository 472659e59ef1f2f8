/* `tappa prune` and `tappa eval` on the bundled model (device argv[3]): a
 * pruned GGUF with one layer fewer, renumbered, its kept tensors identical to
 * the original's, the removed layer the first of the written order; scores
 * and perplexities on the device equal to the CPU reference's; perplexity
 * worse without a layer; bad arguments (K >= layers, a calibration text
 * shorter than one chunk, a text shorter than one window) as one-line errors
 * with no output file.
 * usage: test_prune_model TAPPA MODEL.gguf DEVICE */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_run.h"
#include "tappa/tappa.h"

static char dir[] = "/tmp/tappa-prune-model-XXXXXX";
static const char *tappa, *model, *device;

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* Some Python for calibration and some prose for evaluation, kept apart. */
static void write_texts(void)
{
    FILE *f = fopen(path_of("calib.txt"), "w");
    for (int i = 0; f && i < 12; i++)
        fprintf(f, "def scale_%d(values, factor=%d):\n    \"\"\"Multiply every value by the factor.\"\"\"\n"
                   "    return [v * factor for v in values]\n\n\n",
                i, i + 2);
    if (f) fclose(f);
    f = fopen(path_of("eval.txt"), "w");
    for (int i = 0; f && i < 8; i++)
        fprintf(f, "The module reads a configuration file, checks each entry, and reports the first "
                   "problem it finds with the line number %d. ",
                i * 7 + 3);
    if (f) fclose(f);
    f = fopen(path_of("tiny.txt"), "w");
    if (f) {
        fputs("x = 1\n", f);
        fclose(f);
    }
}

static cJSON *run_json(const char *args, const char *dev, int *rc)
{
    char cmd[2048];
    int lines;
    snprintf(cmd, sizeof cmd, "%s %s --json --device '%s'", tappa, args, dev);
    *rc = cli_run(dir, cmd, &lines);
    return cli_read_json(dir);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_prune_model TAPPA MODEL.gguf DEVICE\n");
        return 2;
    }
    tappa = argv[1], model = argv[2], device = argv[3];
    rng r;
    cli_test_start("test_prune_model", tappa, device, dir, &r);
    write_texts();
    char args[1024];
    int rc;
    snprintf(args, sizeof args, "prune -m %s --calib %s --n-layers 1 --beta 0.3 --chunk 64 -o %s --order-out %s", model,
             path_of("calib.txt"), path_of("p.gguf"), path_of("order.json"));
    cJSON *dev = run_json(args, device, &rc);
    CHECK_INT_EQ(rc, 0);
    snprintf(args, sizeof args, "prune -m %s --calib %s --n-layers 1 --beta 0.3 --chunk 64 -o %s", model,
             path_of("calib.txt"), path_of("p-cpu.gguf"));
    cJSON *cpu = run_json(args, "cpu", &rc);
    CHECK_INT_EQ(rc, 0);
    /* The device's calibration scores are the CPU reference's. */
    const char *lists[2] = { "bi", "q_similarity" };
    for (int li = 0; li < 2; li++)
        for (int l = 0; l < 4; l++) {
            double a = cJSON_GetArrayItem(cJSON_GetObjectItem(dev, lists[li]), l)->valuedouble;
            double b = cJSON_GetArrayItem(cJSON_GetObjectItem(cpu, lists[li]), l)->valuedouble;
            CHECK_NEAR(a, b, 1e-4 * fabs(b) + 1e-7);
        }
    int removed = (int)cJSON_GetArrayItem(cJSON_GetObjectItem(dev, "removed_layers"), 0)->valuedouble;
    CHECK_INT_EQ(removed, (int)cJSON_GetArrayItem(cJSON_GetObjectItem(dev, "prune_order"), 0)->valuedouble);
    CHECK(num(dev, "chunks") >= 3);
    /* The pruned file: 3 layers, renumbered, each kept layer's tensors as they were. */
    tappa_error err = { 0 };
    tappa_gguf *full = NULL, *pruned = NULL;
    CHECK_INT_EQ(tappa_gguf_open(model, &full, &err), TAPPA_OK);
    CHECK_INT_EQ(tappa_gguf_open(path_of("p.gguf"), &pruned, &err), TAPPA_OK);
    uint32_t blocks = 0;
    CHECK(pruned && tappa_gguf_u32(pruned, "llama.block_count", &blocks) && blocks == 3);
    CHECK(pruned && !tappa_gguf_find(pruned, "blk.3.attn_q.weight"));
    for (int l = 0, k = 0; full && pruned && l < 4; l++) {
        if (l == removed) continue;
        char a[64], b[64];
        snprintf(a, sizeof a, "blk.%d.ffn_down.weight", l);
        snprintf(b, sizeof b, "blk.%d.ffn_down.weight", k++);
        const tappa_gguf_tensor *ta = tappa_gguf_find(full, a), *tb = tappa_gguf_find(pruned, b);
        CHECK(ta && tb && ta->bytes == tb->bytes && !memcmp(ta->data, tb->data, ta->bytes));
    }
    CHECK(pruned && tappa_gguf_tensor_count(pruned) == tappa_gguf_tensor_count(full) - 9);
    tappa_gguf_close(&full);
    tappa_gguf_close(&pruned);
    cJSON *order = json_read_file(path_of("order.json"));
    CHECK(order && cJSON_GetObjectItem(order, "tappa_score") && cJSON_GetObjectItem(order, "removed_layers"));
    cJSON_Delete(order);
    cJSON_Delete(dev);
    cJSON_Delete(cpu);

    /* Perplexity: device = CPU reference; worse with a layer removed. */
    snprintf(args, sizeof args, "eval ppl -m %s -f %s --ctx 32", model, path_of("eval.txt"));
    cJSON *pd = run_json(args, device, &rc);
    CHECK_INT_EQ(rc, 0);
    cJSON *pc = run_json(args, "cpu", &rc);
    CHECK_INT_EQ(rc, 0);
    double ppl = num(pd, "ppl");
    CHECK(ppl > 1 && ppl < 2048);
    CHECK_NEAR(ppl, num(pc, "ppl"), 1e-4 * ppl);
    CHECK(num(pd, "windows") >= 3);
    snprintf(args, sizeof args, "eval ppl -m %s -f %s --ctx 32", path_of("p.gguf"), path_of("eval.txt"));
    cJSON *pp = run_json(args, device, &rc);
    CHECK_INT_EQ(rc, 0);
    CHECK(num(pp, "ppl") > ppl);
    snprintf(args, sizeof args, "eval prune -m %s -f %s --calib %s --n-layers 1 --beta 0.3 --chunk 64 --ctx 32", model,
             path_of("eval.txt"), path_of("calib.txt"));
    cJSON *ep = run_json(args, device, &rc);
    CHECK_INT_EQ(rc, 0);
    CHECK_NEAR(num(ep, "full_ppl"), ppl, 1e-9 * ppl);
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(ep, "pruned"), 0);
    CHECK_NEAR(num(row, "tappa_ppl"), num(pp, "ppl"), 1e-9 * num(pp, "ppl")); /* the same pruned model */
    CHECK(num(row, "shortgpt_ppl") > ppl);
    cJSON_Delete(pd);
    cJSON_Delete(pc);
    cJSON_Delete(pp);
    cJSON_Delete(ep);

    /* Bad arguments: one line, exit 1 or 2, no output file. */
    const char *bad[][2] = {
        { "prune -m %s --calib CALIB --n-layers 4 --beta 0.3 --chunk 64 -o OUT", "1" },   /* K >= layers */
        { "prune -m %s --calib TINY --n-layers 1 --beta 0.3 --chunk 64 -o OUT", "1" },    /* shorter than a chunk */
        { "prune -m %s --calib CALIB --n-layers 1 --chunk 64 -o OUT", "1" },              /* no beta for this model */
        { "prune -m %s --calib CALIB --n-layers 1 --method magic -o OUT", "2" },
        { "prune -m %s --calib CALIB --n-layers 0 -o OUT", "2" },
        { "eval ppl -m %s -f TINY --ctx 32", "1" },                                       /* shorter than a window */
        { "eval prune -m %s -f EVAL --calib CALIB --n-layers 1,9 --beta 0.3", "1" },
        { "eval frobnicate -m %s -f EVAL", "2" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char fmt[1024], line[1024], cmd[2048];
        snprintf(fmt, sizeof fmt, bad[i][0], model);
        /* Substitute the file names. */
        const char *keys[4] = { "CALIB", "TINY", "OUT", "EVAL" };
        const char *vals[4] = { path_of("calib.txt"), path_of("tiny.txt"), path_of("x.gguf"), path_of("eval.txt") };
        for (int k = 0; k < 4; k++) {
            char *at = strstr(fmt, keys[k]);
            if (!at) continue;
            snprintf(line, sizeof line, "%.*s%s%s", (int)(at - fmt), fmt, vals[k], at + strlen(keys[k]));
            snprintf(fmt, sizeof fmt, "%s", line);
        }
        snprintf(cmd, sizeof cmd, "%s %s --device '%s'", tappa, fmt, device);
        int lines;
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), atoi(bad[i][1]));
        CHECK_INT_EQ(lines, 1);
        FILE *f = fopen(path_of("x.gguf"), "r");
        CHECK(f == NULL);
        if (f) fclose(f);
    }
    /* A well-formed file with a context length of 0: refused at load, not divided by. */
    {
        FILE *f = fopen(model, "rb");
        static unsigned char buf[16 << 20];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        static const char key[] = "llama.context_length";
        unsigned char *at = NULL;
        for (size_t i = 0; !at && n >= sizeof key && i <= n - sizeof key; i++)
            if (!memcmp(buf + i, key, sizeof key - 1)) at = buf + i;
        CHECK(at != NULL);
        if (at) memset(at + sizeof key - 1 + 4, 0, 4); /* the u32 value after the u32 type */
        f = fopen(path_of("ctx0.gguf"), "wb");
        if (f) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
        char cmd[2048];
        int lines;
        snprintf(cmd, sizeof cmd, "%s prune -m %s --calib %s --n-layers 1 --beta 0.3 -o %s --device '%s'", tappa,
                 path_of("ctx0.gguf"), path_of("calib.txt"), path_of("x.gguf"), device);
        CHECK_INT_EQ(cli_run(dir, cmd, &lines), 1);
        CHECK_INT_EQ(lines, 1);
    }
    const char *files[] = { "calib.txt", "eval.txt", "tiny.txt", "p.gguf", "p-cpu.gguf", "order.json", "ctx0.gguf" };
    cli_test_cleanup(dir, files, sizeof files / sizeof files[0]);
    return check_exit("test_prune_model");
}
