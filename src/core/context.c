#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

tappa_status tappa_context_create(const tappa_context_params *params, tappa_context **out,
                                  tappa_error *err)
{
    *out = NULL;
    tappa_context_params p = params ? *params : TAPPA_CONTEXT_PARAMS_DEFAULT;
    if (!p.device) {
        const char *env = getenv("TAPPA_DEVICE");
        if (env && *env) p.device = env;
    }
    if (env_flag("TAPPA_VALIDATE")) p.validate = true;

    tappa_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    bool want_cpu = p.device && !strcmp(p.device, "cpu");
    if (!want_cpu) {
        tappa_error local = { 0 };
        tappa_status st = tvk_device_create(p.device, p.validate, &ctx->vk, &local);
        if (st == TAPPA_OK) {
            ctx->backend = TAPPA_BACKEND_VULKAN;
            snprintf(ctx->name, sizeof ctx->name, "%s", ctx->vk->info.name);
            uint64_t limit = ctx->vk->info.max_storage_buffer_range_bytes;
            if (ctx->vk->info.max_memory_allocation_bytes < limit)
                limit = ctx->vk->info.max_memory_allocation_bytes;
            if (p.max_binding_bytes && p.max_binding_bytes < limit) limit = p.max_binding_bytes;
            tappa_device_info *info = &ctx->vk->info;
            if (p.max_shared_memory_bytes && p.max_shared_memory_bytes < info->max_shared_memory_bytes)
                info->max_shared_memory_bytes = p.max_shared_memory_bytes;
            ctx->max_binding_bytes = limit;
            *out = ctx;
            return TAPPA_OK;
        }
        /* Only the default choice may fall back: a named device must exist. */
        if (p.device || st != TAPPA_ERR_NO_DEVICE) {
            free(ctx);
            if (err) *err = local;
            return st;
        }
        snprintf(ctx->fallback_reason, sizeof ctx->fallback_reason, "%s", local.message);
    }
    ctx->backend = TAPPA_BACKEND_CPU;
    snprintf(ctx->name, sizeof ctx->name, "cpu");
    ctx->max_binding_bytes = UINT64_MAX;
    *out = ctx;
    return TAPPA_OK;
}

void tappa_context_destroy(tappa_context **ctx)
{
    if (!ctx || !*ctx) return;
    tappa_tensor_destroy(&(*ctx)->decode_ml);
    tappa_tensor_destroy(&(*ctx)->decode_o);
    tappa_tensor_destroy(&(*ctx)->decode_count);
    tappa_tensor_destroy(&(*ctx)->decode_lse);
    tappa_tensor_destroy(&(*ctx)->prefill_ml);
    tvk_device_destroy(&(*ctx)->vk);
    free(*ctx);
    *ctx = NULL;
}

tappa_backend tappa_context_backend(const tappa_context *ctx) { return ctx->backend; }

const tappa_device_info *tappa_context_device(const tappa_context *ctx)
{
    return ctx->vk ? &ctx->vk->info : NULL;
}

const char *tappa_context_name(const tappa_context *ctx) { return ctx->name; }

const char *tappa_context_fallback_reason(const tappa_context *ctx)
{
    return ctx->fallback_reason[0] ? ctx->fallback_reason : NULL;
}

uint64_t tappa_context_max_binding_bytes(const tappa_context *ctx) { return ctx->max_binding_bytes; }

double clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

tappa_host_stats tappa_context_host_stats(const tappa_context *ctx)
{
    tappa_host_stats s = { 0 };
    if (ctx->vk) {
        s.record_ms = ctx->vk->record_ms;
        s.submit_wait_ms = ctx->vk->submit_wait_ms;
        s.submits = ctx->vk->submits;
        s.dispatches = ctx->vk->dispatches;
    }
    return s;
}

tappa_status tappa_context_profile(tappa_context *ctx, bool on, tappa_error *err)
{
    if (!ctx->vk) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "GPU profiling needs a Vulkan device; this is the CPU");
    if (ctx->vk->recording)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "profiling cannot start or stop inside a recording");
    if (!on) {
        tvk_profile_stop(ctx->vk);
        return TAPPA_OK;
    }
    return tvk_profile_start(ctx->vk, err);
}

size_t tappa_context_gpu_stages(const tappa_context *ctx, tappa_gpu_stage *out, size_t max)
{
    return ctx->vk ? tvk_profile_stages(ctx->vk, out, max) : 0;
}

size_t tappa_context_validation_count(const tappa_context *ctx)
{
    return ctx->vk ? ctx->vk->validation_count : 0;
}

const char *tappa_context_validation_message(const tappa_context *ctx, size_t i)
{
    if (!ctx->vk || i >= ctx->vk->validation_count || i >= TVK_MAX_VALIDATION_KEPT) return NULL;
    return ctx->vk->validation_kept[i];
}

tappa_status tappa_list_devices(tappa_device_info **out, size_t *count, char *reason,
                                size_t reason_bytes, tappa_error *err)
{
    if (reason && reason_bytes) reason[0] = 0;
    return tvk_probe_all(out, count, reason, reason_bytes, err);
}
