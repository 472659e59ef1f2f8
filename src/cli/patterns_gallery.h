/* tappa patterns --out DIR: the pictures (cairo PNGs) and the HTML page that
 * ties them together. */
#ifndef TAPPA_CLI_PATTERNS_GALLERY_H
#define TAPPA_CLI_PATTERNS_GALLERY_H

#include "tappa/patterns.h"

/* One analysed layer: its index in the model, each head's result and
 * sampled attention rows. */
typedef struct gallery_layer {
    int layer;
    const tappa_head_pattern *heads; /* (hq) */
    const float *rows;               /* (hq, s, n): row r is query n - s + r */
} gallery_layer;

typedef struct gallery {
    const char *trace;   /* the trace's file name, for the page's title */
    int hq;              /* heads shown per layer */
    const int *head_ids; /* (hq) each shown head's index in its layer */
    int64_t s, n;        /* sampled rows, keys */
    const gallery_layer *layers;
    int n_layers;
    double spearman;     /* q-similarity against predictability over all heads (NaN: undefined) */
} gallery;

/* Write DIR/index.html, DIR/scatter.png, DIR/layer-L.png (a grid of the
 * layer's heads) and DIR/layer-L-head-H.png (one heatmap per head) into the
 * existing folder dir. */
tappa_status gallery_write(const char *dir, const gallery *g, tappa_error *err);

#endif
