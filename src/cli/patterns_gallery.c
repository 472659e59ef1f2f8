/* The gallery of tappa patterns: log-scaled heatmaps of the sampled attention
 * rows per head, a grid per layer labelled with class and q-similarity, a
 * scatter of q-similarity against predictability, and index.html. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patterns_gallery.h"
#include "plot.h"
#include "tappa/tensor_io.h"

#define MAP_W 512          /* heatmap columns: keys pooled into bins (max), so sinks stay visible */
#define ROW_H 4            /* pixels per sampled row in a heatmap */
#define FLOOR_LOG10 (-6.0) /* weights below 1e-6 draw as the darkest colour */
#define PI 3.14159265358979323846

/* The colour of a weight on a log scale: black, purple, orange, pale yellow. */
static void colour(double w, double rgb[3])
{
    static const double stops[5][3] = {
        { 0.00, 0.00, 0.02 }, { 0.23, 0.06, 0.44 }, { 0.64, 0.17, 0.49 }, { 0.98, 0.53, 0.24 }, { 0.99, 0.99, 0.75 },
    };
    double t = (log10(w > 1e-30 ? w : 1e-30) - FLOOR_LOG10) / -FLOOR_LOG10;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double x = t * 4;
    int i = x >= 4 ? 3 : (int)x;
    double f = x - i;
    for (int c = 0; c < 3; c++) rgb[c] = stops[i][c] + f * (stops[i + 1][c] - stops[i][c]);
}

/* A head's rows as an image surface MAP_W x (s * ROW_H), keys pooled by max. */
static cairo_surface_t *heatmap(const float *rows, int64_t s, int64_t n)
{
    int64_t width = n < MAP_W ? n : MAP_W;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)width, (int)s);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) return img;
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int64_t r = 0; r < s; r++)
        for (int64_t x = 0; x < width; x++) {
            int64_t a = x * n / width, b = (x + 1) * n / width;
            double w = 0;
            for (int64_t j = a; j < b; j++) w = fmax(w, rows[r * n + j]);
            double rgb[3];
            colour(w, rgb);
            uint32_t *p = (uint32_t *)(px + r * stride) + x;
            *p = (uint32_t)(rgb[0] * 255) << 16 | (uint32_t)(rgb[1] * 255) << 8 | (uint32_t)(rgb[2] * 255);
        }
    cairo_surface_mark_dirty(img);
    return img;
}

/* Paint the heatmap of a head into the rectangle (x, y, w, h), unsmoothed. */
static void paint_map(cairo_t *cr, cairo_surface_t *img, double x, double y, double w, double h)
{
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, w / cairo_image_surface_get_width(img), h / cairo_image_surface_get_height(img));
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
}

static tappa_status finish(cairo_surface_t *surface, cairo_t *cr, const char *path, tappa_error *err)
{
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    tappa_status st = cs == CAIRO_STATUS_SUCCESS ? plot_write_png(surface, path, err)
                                                 : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gallery: %s", cairo_status_to_string(cs));
    cairo_surface_destroy(surface);
    return st;
}

static tappa_status head_png(const char *path, const gallery *g, int layer, int h, const tappa_head_pattern *p,
                             const float *rows, tappa_error *err)
{
    const double left = 60, top = 50, mw = 2 * MAP_W, mh = (double)(g->s * ROW_H);
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(left + mw + 20), (int)(top + mh + 50));
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_surface_t *img = heatmap(rows, g->s, g->n);
    paint_map(cr, img, left, top, mw, mh);
    cairo_surface_destroy(img);
    char text[256];
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    snprintf(text, sizeof text, "layer %d head %d: %s   q-sim %.3f   predictability %.3f", layer, h,
             tappa_pattern_class_name(p->cls), p->qsim, p->predictability);
    plot_text(cr, left, 22, text, 15, 0);
    snprintf(text, sizeof text, "vertical %.2f   diagonal %.2f   periodic %.2f%s", p->vertical, p->diagonal,
             p->periodic, p->period ? "" : " (no period)");
    plot_text(cr, left, 40, text, 12, 0);
    snprintf(text, sizeof text, "keys 0 .. %lld (max over bins), log10 weight from -6 (dark) to 0 (light)",
             (long long)g->n - 1);
    plot_text(cr, left, top + mh + 20, text, 12, 0);
    snprintf(text, sizeof text, "queries %lld .. %lld", (long long)(g->n - g->s), (long long)g->n - 1);
    cairo_save(cr);
    cairo_translate(cr, left - 12, top + mh);
    cairo_rotate(cr, -PI / 2);
    plot_text(cr, 0, 0, text, 12, 0);
    cairo_restore(cr);
    return finish(surface, cr, path, err);
}

static tappa_status layer_png(const char *path, const gallery *g, const gallery_layer *L, tappa_error *err)
{
    const int cols = g->hq < 8 ? g->hq : 8;
    const int rows = (g->hq + cols - 1) / cols;
    const double cw = 256, ch = (double)(g->s * 2), pad = 30, top = 40;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(cols * (cw + 10) + 10),
                                                          (int)(top + rows * (ch + pad + 6)));
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    char text[128];
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    snprintf(text, sizeof text, "layer %d: the last %lld queries' attention per head (log scale)", L->layer,
             (long long)g->s);
    plot_text(cr, 10, 24, text, 15, 0);
    for (int h = 0; h < g->hq; h++) {
        double x = 10 + (h % cols) * (cw + 10), y = top + (h / cols) * (ch + pad + 6) + pad;
        cairo_surface_t *img = heatmap(L->rows + (size_t)h * g->s * g->n, g->s, g->n);
        paint_map(cr, img, x, y, cw, ch);
        cairo_surface_destroy(img);
        const tappa_head_pattern *p = &L->heads[h];
        snprintf(text, sizeof text, "h%d %s  q %.2f", g->head_ids[h], tappa_pattern_class_name(p->cls), p->qsim);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, x, y - 6, text, 12, 0);
    }
    return finish(surface, cr, path, err);
}

/* The class colours of the scatter and the page (Okabe-Ito). */
static const double class_rgb[4][3] = {
    { 0.00, 0.45, 0.70 }, { 0.90, 0.62, 0.00 }, { 0.00, 0.62, 0.45 }, { 0.55, 0.55, 0.55 },
};

static tappa_status scatter_png(const char *path, const gallery *g, tappa_error *err)
{
    const double W = 760, H = 560, left = 80, right = 170, top = 50, bottom = 60;
    const double pw = W - left - right, ph = H - top - bottom;
    double lo = INFINITY, hi = -INFINITY;
    for (int l = 0; l < g->n_layers; l++)
        for (int h = 0; h < g->hq; h++) {
            lo = fmin(lo, g->layers[l].heads[h].qsim);
            hi = fmax(hi, g->layers[l].heads[h].qsim);
        }
    if (!(hi > lo)) {
        lo -= 0.05;
        hi += 0.05;
    }
    double span = hi - lo;
    lo -= 0.05 * span;
    hi += 0.05 * span;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    char text[160];
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (isfinite(g->spearman))
        snprintf(text, sizeof text, "q-similarity against predictability: Spearman %.3f over %d heads", g->spearman,
                 g->n_layers * g->hq);
    else snprintf(text, sizeof text, "q-similarity against predictability (%d heads)", g->n_layers * g->hq);
    plot_text(cr, left, 28, text, 15, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, left, top, pw, ph);
    cairo_stroke(cr);
    for (int i = 0; i <= 4; i++) {
        double fx = lo + (hi - lo) * i / 4, fy = i / 4.0;
        snprintf(text, sizeof text, "%.2f", fx);
        plot_text(cr, left + pw * i / 4, top + ph + 18, text, 11, 0.5);
        snprintf(text, sizeof text, "%.2f", fy);
        plot_text(cr, left - 8, top + ph - ph * i / 4 + 4, text, 11, 1);
    }
    plot_text(cr, left + pw / 2, H - 18, "q-similarity (cosine)", 13, 0.5);
    cairo_save(cr);
    cairo_translate(cr, 22, top + ph / 2);
    cairo_rotate(cr, -PI / 2);
    plot_text(cr, 0, 0, "predictability", 13, 0.5);
    cairo_restore(cr);
    for (int l = 0; l < g->n_layers; l++)
        for (int h = 0; h < g->hq; h++) {
            const tappa_head_pattern *p = &g->layers[l].heads[h];
            double y = p->predictability < 0 ? 0 : p->predictability > 1 ? 1 : p->predictability;
            cairo_set_source_rgba(cr, class_rgb[p->cls][0], class_rgb[p->cls][1], class_rgb[p->cls][2], 0.8);
            cairo_arc(cr, left + pw * (p->qsim - lo) / (hi - lo), top + ph - ph * y, 4, 0, 2 * PI);
            cairo_fill(cr);
        }
    for (int c = 0; c < 4; c++) {
        double y = top + 20 + 22.0 * c;
        cairo_set_source_rgb(cr, class_rgb[c][0], class_rgb[c][1], class_rgb[c][2]);
        cairo_arc(cr, left + pw + 25, y - 4, 5, 0, 2 * PI);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        plot_text(cr, left + pw + 36, y, tappa_pattern_class_name((tappa_pattern_class)c), 13, 0);
    }
    return finish(surface, cr, path, err);
}

/* text with &, <, > and " escaped, for the page. */
static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static tappa_status index_html(const char *path, const gallery *g, tappa_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gallery: out of host memory");
    int counts[4] = { 0, 0, 0, 0 };
    for (int l = 0; l < g->n_layers; l++)
        for (int h = 0; h < g->hq; h++) counts[g->layers[l].heads[h].cls]++;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tappa patterns: ", f);
    html_text(f, g->trace);
    fputs("</title>\n<style>\nbody { font-family: sans-serif; margin: 2em; color: #222; }\n"
          "table { border-collapse: collapse; margin: 1em 0; }\n"
          "td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; }\n"
          "th { background: #f4f4f4; } td.c { text-align: left; font-weight: bold; }\n"
          ".vertical { color: #0073b3; } .diagonal { color: #e69e00; } .periodic { color: #009e73; }\n"
          ".irregular { color: #888; } img { max-width: 100%; }\n</style>\n</head>\n", f);
    fputs("<body data-images=\"pending\">\n<h1>Attention patterns of ", f);
    html_text(f, g->trace);
    fprintf(f, "</h1>\n<p>%d heads in %d layers, the last %lld of %lld queries sampled per head. Classes: "
               "<span class=\"vertical\">vertical %d</span>, <span class=\"diagonal\">diagonal %d</span>, "
               "<span class=\"periodic\">periodic %d</span>, <span class=\"irregular\">irregular %d</span>.",
            g->n_layers * g->hq, g->n_layers, (long long)g->s, (long long)g->n, counts[0], counts[1], counts[2],
            counts[3]);
    if (isfinite(g->spearman))
        fprintf(f, " Spearman correlation of q-similarity and predictability: <b>%.3f</b>.", g->spearman);
    fputs("</p>\n<h2>q-similarity against predictability</h2>\n<img src=\"scatter.png\" alt=\"scatter of "
          "q-similarity against predictability\">\n",
          f);
    for (int l = 0; l < g->n_layers; l++) {
        const gallery_layer *L = &g->layers[l];
        fprintf(f, "<h2 id=\"layer-%d\">Layer %d</h2>\n<img src=\"layer-%d.png\" alt=\"layer %d heads\">\n<table>\n"
                   "<tr><th>head</th><th>class</th><th>q-sim</th><th>q-sim (window)</th><th>predictability</th>"
                   "<th>vertical</th><th>diagonal</th><th>periodic</th><th>period</th><th>heatmap</th></tr>\n",
                L->layer, L->layer, L->layer, L->layer);
        for (int h = 0; h < g->hq; h++) {
            const tappa_head_pattern *p = &L->heads[h];
            const char *c = tappa_pattern_class_name(p->cls);
            fprintf(f, "<tr><td>%d</td><td class=\"c %s\">%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
                       "<td>%.3f</td><td>%.3f</td><td>%lld</td><td><a href=\"layer-%d-head-%d.png\">open</a></td></tr>\n",
                    g->head_ids[h], c, c, p->qsim, p->qsim_window, p->predictability, p->vertical, p->diagonal,
                    p->periodic, (long long)p->period, L->layer, g->head_ids[h]);
        }
        fputs("</table>\n", f);
    }
    /* The page says whether every picture loaded: a browser test reads it. */
    fputs("<script>\nwindow.addEventListener('load', function () {\n"
          "  var ok = Array.prototype.every.call(document.images, function (i) { return i.complete && "
          "i.naturalWidth > 0; });\n"
          "  document.body.dataset.images = ok ? 'ok' : 'broken';\n});\n</script>\n</body>\n</html>\n",
          f);
    if (fclose(f)) {
        free(buf);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gallery: out of host memory");
    }
    tappa_status st = tappa_file_write(path, buf, len, err);
    free(buf);
    return st;
}

tappa_status gallery_write(const char *dir, const gallery *g, tappa_error *err)
{
    size_t cap = strlen(dir) + 64;
    char *path = malloc(cap);
    if (!path) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "gallery: out of host memory");
    tappa_status st = TAPPA_OK;
    for (int l = 0; l < g->n_layers && !st; l++) {
        const gallery_layer *L = &g->layers[l];
        for (int h = 0; h < g->hq && !st; h++) {
            snprintf(path, cap, "%s/layer-%d-head-%d.png", dir, L->layer, g->head_ids[h]);
            st = head_png(path, g, L->layer, g->head_ids[h], &L->heads[h], L->rows + (size_t)h * g->s * g->n, err);
        }
        snprintf(path, cap, "%s/layer-%d.png", dir, L->layer);
        if (!st) st = layer_png(path, g, L, err);
    }
    snprintf(path, cap, "%s/scatter.png", dir);
    if (!st) st = scatter_png(path, g, err);
    snprintf(path, cap, "%s/index.html", dir);
    if (!st) st = index_html(path, g, err);
    free(path);
    plot_release();
    return st;
}
