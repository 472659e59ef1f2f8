/* Shared by the tappa subcommands: exit codes, one-line errors, context setup. */
#ifndef TAPPA_CLI_H
#define TAPPA_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

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
int cmd_prune_scores(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_prune_order(int argc, char **argv);
int cmd_patterns(int argc, char **argv);

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
/* Write text and a newline to path atomically (temporary file, then rename). */
tappa_status cli_write_json(const char *path, const char *text, tappa_error *err);
/* JSON numbers that read back as exactly the same doubles (cJSON's own
 * printing keeps 15 digits when they are within an epsilon, which moves
 * values by an ulp), in the shortest such form, as Python's json writes them.
 * A non-finite v gives null. */
cJSON *cli_json_number(double v);
cJSON *cli_json_numbers(const double *v, size_t n);
/* A text file of at most max_bytes, NUL-terminated (caller frees), its length
 * in *len; NULL with err set on failure. */
char *cli_read_text(const char *path, size_t max_bytes, size_t *len, tappa_error *err);
/* Layer-pruning scores of a model from a calibration text in chunks of
 * `chunk` tokens (each after BOS): bi, q (layers) are means over the chunks. */
tappa_status cli_calibrate(tappa_context *ctx, tappa_model *m, const char *calib, size_t chunk, bool progress,
                           double *bi, double *q, size_t *n_chunks, tappa_error *err);
/* How many of name_0, name_1, ... a trace holds in a row (fmt has one %d),
 * e.g. "layer.%d.q" or "hidden.%d". */
int cli_count_tensors(const tappa_safetensors *t, const char *fmt);
/* Monotonic clock in milliseconds. */
double cli_now_ms(void);
/* True if stderr is a terminal (progress lines go there only then). */
bool cli_stderr_tty(void);

#endif
