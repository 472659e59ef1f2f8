/* Shared by the tests that drive the tappa binary: start (device probe, a
 * fresh folder, a printed seed), run a command with stdout in DIR/out and
 * stderr in DIR/err, and clean up. */
#ifndef TAPPA_TESTS_CLI_RUN_H
#define TAPPA_TESTS_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json_file.h"
#include "rng.h"

/* Run cmd; returns its exit code (-1 if it did not exit) and the number of
 * lines it wrote to stderr. */
static int cli_run(const char *dir, const char *cmd, int *stderr_lines)
{
    char full[2048];
    snprintf(full, sizeof full, "%s >%s/out 2>%s/err", cmd, dir, dir);
    int rc = system(full);
    char path[256];
    snprintf(path, sizeof path, "%s/err", dir);
    FILE *f = fopen(path, "r");
    *stderr_lines = 0;
    for (int ch; f && (ch = fgetc(f)) != EOF;) *stderr_lines += ch == '\n';
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Exit 77 (skipped) unless `tappa info --device device` opens it; make the
 * folder dir (a mkdtemp template); seed r freshly and print the seed. */
static void cli_test_start(const char *name, const char *tappa, const char *device, char *dir, rng *r)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s info --device '%s' >/dev/null 2>&1", tappa, device);
    if (system(cmd) != 0) {
        printf("no device '%s': skipped\n", device);
        exit(77);
    }
    if (!mkdtemp(dir)) exit(1);
    uint64_t seed = rng_fresh_seed();
    printf("%s: seed %llu\n", name, (unsigned long long)seed);
    rng_seed(r, seed);
}

/* The last command's stdout (DIR/out) parsed as JSON, or NULL. */
static inline cJSON *cli_read_json(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/out", dir);
    return json_read_file(path);
}

/* Remove dir's files (and the runner's out and err) and dir itself. */
static void cli_test_cleanup(const char *dir, const char *const *files, size_t n)
{
    char path[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/out", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/err", dir);
    remove(path);
    rmdir(dir);
}

#endif
