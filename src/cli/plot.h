/* Line charts as PNG files (cairo), for tappa eval's results. */
#ifndef TAPPA_CLI_PLOT_H
#define TAPPA_CLI_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "tappa/status.h"

typedef struct plot_series {
    const char *name;
    const double *y; /* (n_x) */
    bool reference;  /* drawn black and dashed, e.g. the uncompressed baseline */
} plot_series;

/* One panel per y quantity would crowd: this draws one panel, x on a log2
 * scale (cache budgets), the series as lines with dots and a legend, and
 * writes it to path atomically. */
tappa_status plot_lines_png(const char *path, const char *title, const char *xlabel, const char *ylabel,
                            const double *x, size_t n_x, const plot_series *series, size_t n_series, tappa_error *err);

#endif
