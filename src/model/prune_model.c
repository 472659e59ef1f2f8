/* Layer removal in a GGUF file: the pruned model is the same file without
 * some blk.{i}.* tensors, the rest renumbered, and a smaller block count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tappa/model.h"

tappa_status tappa_gguf_remove_layers(const char *in_path, const int32_t *remove, size_t n, const char *out_path,
                                      tappa_error *err)
{
    tappa_gguf *g = NULL;
    tappa_status st = tappa_gguf_open(in_path, &g, err);
    if (st) return st;
    const char *arch = tappa_gguf_str(g, "general.architecture");
    char key[128];
    uint32_t layers = 0;
    if (arch) snprintf(key, sizeof key, "%s.block_count", arch);
    if (!arch || !tappa_gguf_u32(g, key, &layers)) {
        tappa_gguf_close(&g);
        return tappa_fail(err, TAPPA_ERR_FORMAT, "%s: no general.architecture or block count", in_path);
    }
    /* new_index[l]: layer l's index in the pruned file, -1 when removed. */
    int32_t *new_index = malloc(sizeof(int32_t) * (layers ? layers : 1));
    if (!new_index) st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    for (uint32_t l = 0; l < layers && !st; l++) new_index[l] = 0;
    for (size_t i = 0; i < n && !st; i++) {
        if (remove[i] < 0 || (uint32_t)remove[i] >= layers)
            st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "layer %d is outside 0..%u", remove[i], layers - 1);
        else if (new_index[remove[i]] < 0)
            st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "layer %d is listed twice", remove[i]);
        else
            new_index[remove[i]] = -1;
    }
    if (!st && n >= layers)
        st = tappa_fail(err, TAPPA_ERR_INVALID_ARG, "removing %zu of %u layers would leave none", n, layers);
    for (uint32_t l = 0, next = 0; l < layers && !st; l++)
        if (new_index[l] >= 0) new_index[l] = (int32_t)next++;
    tappa_gguf_writer *w = NULL;
    if (!st) st = tappa_gguf_writer_create(&w, err);
    for (size_t i = 0; i < tappa_gguf_kv_count(g) && !st; i++)
        st = !strcmp(tappa_gguf_kv_key(g, i), key) ? tappa_gguf_set_u32(w, key, layers - (uint32_t)n, err)
                                                    : tappa_gguf_copy_kv(w, g, i, err);
    for (size_t i = 0; i < tappa_gguf_tensor_count(g) && !st; i++) {
        const tappa_gguf_tensor *t = tappa_gguf_tensor_at(g, i);
        char name[256];
        int layer = -1, used = 0;
        if (sscanf(t->name, "blk.%d.%n", &layer, &used) == 1 && used > 0 && layer >= 0 && (uint32_t)layer < layers) {
            if (new_index[layer] < 0) continue;
            snprintf(name, sizeof name, "blk.%d.%s", new_index[layer], t->name + used);
        } else {
            snprintf(name, sizeof name, "%s", t->name);
        }
        st = tappa_gguf_add_tensor(w, name, t->type, t->n_dims, t->dims, t->data, err);
    }
    if (!st) st = tappa_gguf_write(w, out_path, err);
    tappa_gguf_writer_free(&w);
    free(new_index);
    tappa_gguf_close(&g);
    return st;
}
