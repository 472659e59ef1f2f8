#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "tappa/tensor_io.h"

#define PI 3.14159265358979323846
#define W 900
#define H 560
#define LEFT 90
#define RIGHT 200
#define TOP 60
#define BOTTOM 70

typedef struct png_buffer {
    unsigned char *data;
    size_t len, cap;
} png_buffer;

static cairo_status_t collect(void *closure, const unsigned char *data, unsigned int n)
{
    png_buffer *b = closure;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 65536;
        while (cap < b->len + n) cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) return CAIRO_STATUS_NO_MEMORY;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return CAIRO_STATUS_SUCCESS;
}

/* A colour-blind-safe palette (Okabe-Ito). */
static const double palette[8][3] = {
    { 0.00, 0.45, 0.70 }, { 0.90, 0.62, 0.00 }, { 0.00, 0.62, 0.45 }, { 0.80, 0.40, 0.00 },
    { 0.34, 0.71, 0.91 }, { 0.80, 0.47, 0.65 }, { 0.94, 0.89, 0.26 }, { 0.00, 0.00, 0.00 },
};

static void text(cairo_t *cr, double x, double y, const char *s, double size, double align)
{
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.width, y);
    cairo_show_text(cr, s);
}

/* The y axis: the data's range [lo, hi] padded by 8%, not below zero where no
 * value is, and widened to whole steps of 1, 2 or 5 times a power of ten, about
 * five of them: round labels a reader can read values off. */
static void y_axis(double lo, double hi, double *axis_lo, double *axis_hi, double *step)
{
    double pad = 0.08 * (hi - lo), from = lo - pad, to = hi + pad;
    if (lo >= 0 && from < 0) from = 0;
    double raw = (to - from) / 5, scale = pow(10, floor(log10(raw))), f = raw / scale;
    *step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * scale;
    *axis_lo = floor(from / *step) * *step;
    *axis_hi = ceil(to / *step) * *step;
}

tappa_status plot_lines_png(const char *path, const char *title, const char *xlabel, const char *ylabel,
                            const double *x, size_t n_x, const plot_series *series, size_t n_series, tappa_error *err)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < n_x; i++)
            if (isfinite(series[s].y[i])) {
                lo = fmin(lo, series[s].y[i]);
                hi = fmax(hi, series[s].y[i]);
            }
    if (!isfinite(lo) || n_x == 0) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "plot: nothing finite to draw");
    if (hi == lo) hi = lo + 1;
    double step;
    y_axis(lo, hi, &lo, &hi, &step);
    double x0 = log2(x[0]), x1 = log2(x[n_x - 1]);
    if (x1 == x0) x1 = x0 + 1, x0 -= 1;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(v) (LEFT + (log2(v) - x0) / (x1 - x0) * pw)
#define PY(v) (TOP + (hi - (v)) / (hi - lo) * ph)
    /* Grid, ticks and labels. */
    cairo_set_line_width(cr, 1);
    char label[64];
    int ticks = (int)lround((hi - lo) / step);
    for (int t = 0; t <= ticks; t++) {
        double v = lo + step * t;
        if (fabs(v) < 1e-9 * step) v = 0; /* not -1.2e-13 */
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, LEFT, PY(v));
        cairo_line_to(cr, LEFT + pw, PY(v));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(label, sizeof label, "%g", v);
        text(cr, LEFT - 8, PY(v) + 4, label, 12, 1);
    }
    for (size_t i = 0; i < n_x; i++) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, PX(x[i]), TOP);
        cairo_line_to(cr, PX(x[i]), TOP + ph);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(label, sizeof label, "%g", x[i]);
        text(cr, PX(x[i]), TOP + ph + 18, label, 12, 0.5);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, LEFT, TOP, pw, ph);
    cairo_stroke(cr);
    text(cr, LEFT + pw / 2, H - 22, xlabel, 14, 0.5);
    text(cr, W / 2.0, 34, title, 16, 0.5);
    cairo_save(cr);
    cairo_translate(cr, 28, TOP + ph / 2);
    cairo_rotate(cr, -PI / 2);
    text(cr, 0, 0, ylabel, 14, 0.5);
    cairo_restore(cr);
    /* The series, and a legend beside the plot. */
    for (size_t s = 0; s < n_series; s++) {
        const double *c = series[s].reference ? palette[7] : palette[s % 7];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 2.5);
        double dash[2] = { 8, 5 };
        cairo_set_dash(cr, dash, series[s].reference ? 2 : 0, 0);
        bool pen = false;
        for (size_t i = 0; i < n_x; i++) {
            if (!isfinite(series[s].y[i])) {
                pen = false;
                continue;
            }
            if (pen) cairo_line_to(cr, PX(x[i]), PY(series[s].y[i]));
            else cairo_move_to(cr, PX(x[i]), PY(series[s].y[i]));
            pen = true;
        }
        cairo_stroke(cr);
        for (size_t i = 0; i < n_x; i++)
            if (isfinite(series[s].y[i])) {
                cairo_arc(cr, PX(x[i]), PY(series[s].y[i]), 4, 0, 2 * PI);
                cairo_fill(cr);
            }
        double ly = TOP + 20 + 24.0 * (double)s;
        cairo_move_to(cr, LEFT + pw + 20, ly - 4);
        cairo_line_to(cr, LEFT + pw + 50, ly - 4);
        cairo_stroke(cr);
        cairo_set_dash(cr, dash, 0, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text(cr, LEFT + pw + 58, ly, series[s].name, 13, 0);
    }
#undef PX
#undef PY
    cairo_destroy(cr);
    tappa_status st = plot_write_png(surface, path, err);
    cairo_surface_destroy(surface);
    plot_release();
    return st;
}

tappa_status plot_write_png(cairo_surface_t *surface, const char *path, tappa_error *err)
{
    png_buffer png = { 0 };
    cairo_status_t cs = cairo_surface_write_to_png_stream(surface, collect, &png);
    tappa_status st = cs == CAIRO_STATUS_SUCCESS ? tappa_file_write(path, png.data, png.len, err)
                                                 : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "plot: %s", cairo_status_to_string(cs));
    free(png.data);
    return st;
}

void plot_release(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

void plot_text(cairo_t *cr, double x, double y, const char *s, double size, double align)
{
    text(cr, x, y, s, size, align);
}
