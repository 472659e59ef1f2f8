/* Shared by the tests that drive the tappa binary: run a command with stdout
 * in DIR/out and stderr in DIR/err, and probe for a device. */
#ifndef TAPPA_TESTS_CLI_RUN_H
#define TAPPA_TESTS_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

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

/* True if `tappa info --device device` opens it. */
static int cli_has_device(const char *tappa, const char *device)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s info --device '%s' >/dev/null 2>&1", tappa, device);
    return system(cmd) == 0;
}

#endif
