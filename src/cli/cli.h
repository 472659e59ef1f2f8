/* Shared by the tappa subcommands: exit codes, one-line errors, context setup. */
#ifndef TAPPA_CLI_H
#define TAPPA_CLI_H

#include <stdbool.h>

#include "tappa/tappa.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_attn(int argc, char **argv);
int cmd_budget(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_qsim(int argc, char **argv);

/* Print "tappa CMD: MESSAGE (see 'tappa CMD --help')" and return EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Print "tappa CMD: MESSAGE" for a failed call and return EXIT_FAIL. */
int cli_error(const char *cmd, const tappa_error *err);
/* Open a context for --device (NULL: default); says in one line on stderr
 * when the default fell back to the CPU backend. */
tappa_status cli_context(const char *device, tappa_context **ctx, tappa_error *err);
/* Print the validation messages of ctx to stderr; returns how many there were. */
size_t cli_report_validation(const char *cmd, const tappa_context *ctx);
/* Parse a non-negative integer option value; false if not one. */
bool cli_parse_u64(const char *s, unsigned long long *out);
/* True if stderr is a terminal (progress lines go there only then). */
bool cli_stderr_tty(void);

#endif
