/* PNG pictures drawn with cairo: line charts for tappa eval, and the helpers
 * tappa patterns' gallery draws with. */
#ifndef TAPPA_CLI_PLOT_H
#define TAPPA_CLI_PLOT_H

#include <cairo.h>
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

/* Write a cairo image surface to path as PNG, atomically. */
tappa_status plot_write_png(cairo_surface_t *surface, const char *path, tappa_error *err);
/* Text at (x, y): align 0 left, 0.5 centred, 1 right. */
void plot_text(cairo_t *cr, double x, double y, const char *s, double size, double align);
/* Drop cairo's and fontconfig's process-wide font caches once the last
 * picture of a run is drawn, so leak checkers see nothing left behind. */
void plot_release(void);

#endif
