/* Contexts: a context binds tappa to one backend, the CPU reference or one
 * Vulkan device. Every tensor and op belongs to a context. */
#ifndef TAPPA_CONTEXT_H
#define TAPPA_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tappa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tappa_backend {
    TAPPA_BACKEND_CPU = 0,    /* float64 CPU reference, always available */
    TAPPA_BACKEND_VULKAN = 1, /* GLSL compute shaders on a Vulkan device */
} tappa_backend;

/* What the capability probe found on one Vulkan physical device. */
typedef struct tappa_device_info {
    int index;                   /* position in Vulkan's enumeration order */
    char name[256];
    char type[16];               /* "discrete", "integrated", "virtual", "cpu", "other" */
    uint32_t vendor_id, device_id;
    char api_version[24];        /* "1.3.230" */
    char driver[520];            /* driver name and info, e.g. "llvmpipe Mesa 22.3.6" */
    /* Limits that decide tile and split sizes. */
    uint64_t max_storage_buffer_range_bytes;
    uint64_t max_memory_allocation_bytes;
    uint32_t max_shared_memory_bytes;
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_count[3];
    uint32_t max_push_constants_bytes;
    uint32_t max_storage_buffers_per_stage; /* tappa's kernels bind up to 6 (Vulkan guarantees 4) */
    uint32_t min_storage_buffer_offset_alignment;
    /* Subgroups. */
    uint32_t subgroup_size;          /* default size */
    uint32_t subgroup_min_size, subgroup_max_size; /* equal to subgroup_size without size control */
    bool subgroup_size_control;
    /* Compute pipelines can require a subgroup size with full subgroups
     * (subgroupSizeControl, computeFullSubgroups, compute among the required
     * size stages): kernels that assume a size pin it where it varies. */
    bool compute_subgroup_size_pinning;
    bool subgroup_basic, subgroup_vote, subgroup_arithmetic, subgroup_ballot, subgroup_shuffle;
    bool subgroup_in_compute;        /* subgroup operations available in compute shaders */
    /* Optional arithmetic and storage. */
    bool shader_float16, shader_int8;
    bool storage_16bit, storage_8bit;
    bool cooperative_matrix_khr, cooperative_matrix_nv;
    /* VK_NV_cooperative_matrix tiles with f16 A and B, f32 C and D, subgroup
     * scope, that the device offers (M x N x K); tappa's tensor-core paths use them. */
    bool coopmat_f16_16x8x16, coopmat_f16_16x16x16;
    bool buffer_device_address;
    /* VK_KHR_pipeline_executable_properties: the compiler's statistics of a
     * built pipeline (registers, shared memory, ...) can be read back. */
    bool pipeline_statistics;
    /* Memory. */
    bool unified_memory;             /* host-visible device-local memory used with no staging copy */
    bool memory_budget_ext;          /* VK_EXT_memory_budget: budget below is the driver's */
    uint64_t device_local_bytes;     /* sum of device-local heaps */
    uint64_t budget_bytes;           /* what the driver says we may use now (heap size without the ext) */
    /* Driver quirks. */
    uint32_t loop_iteration_limit;   /* most loop iterations one invocation may run (0: none) */
    /* Timing. */
    bool timestamps;                 /* compute queue supports timestamps */
    float timestamp_period_ns;
    uint32_t timestamp_valid_bits;   /* of the compute queue's timestamps (they wrap past them) */
} tappa_device_info;

/* Probe every Vulkan device. On success *out is a malloc'ed array of *count
 * entries (free() it). No loader or no device is not an error: *count = 0 and
 * reason (if given, >= 256 bytes) says why. */
tappa_status tappa_list_devices(tappa_device_info **out, size_t *count, char *reason,
                                size_t reason_bytes, tappa_error *err);

typedef struct tappa_context_params {
    /* NULL: $TAPPA_DEVICE, else the first discrete GPU, then integrated, then
     * any other Vulkan device (e.g. lavapipe), then the CPU backend. Otherwise
     * "cpu", a device index, or a case-insensitive name substring; a named
     * device that does not exist is an error (no silent fallback). */
    const char *device;
    /* Enable VK_LAYER_KHRONOS_validation (also on when $TAPPA_VALIDATE=1). */
    bool validate;
    /* Split tensors into bindings of at most this many bytes (0: the device's
     * maxStorageBufferRange). Lets tests exercise splitting on big GPUs. */
    uint64_t max_binding_bytes;
    /* Use at most this much shared memory per workgroup (0: the device's
     * limit), e.g. 16384 to run the paths of devices with Vulkan's minimum. */
    uint32_t max_shared_memory_bytes;
} tappa_context_params;

#define TAPPA_CONTEXT_PARAMS_DEFAULT ((tappa_context_params){ .device = NULL, .validate = false, .max_binding_bytes = 0, .max_shared_memory_bytes = 0 })

typedef struct tappa_context tappa_context;

/* Create a context on the device params select (params may be NULL for the
 * defaults). Caller owns *out and frees it with tappa_context_destroy. */
tappa_status tappa_context_create(const tappa_context_params *params, tappa_context **out,
                                  tappa_error *err);
/* Wait for the device, save the pipeline cache, free everything, set *ctx to
 * NULL. Accepts NULL. */
void tappa_context_destroy(tappa_context **ctx);

tappa_backend tappa_context_backend(const tappa_context *ctx);
/* The probed device, or NULL on the CPU backend. Owned by ctx. */
const tappa_device_info *tappa_context_device(const tappa_context *ctx);
/* "cpu" or the device name. */
const char *tappa_context_name(const tappa_context *ctx);
/* When the default selection fell back to the CPU backend, why (one line);
 * otherwise NULL. */
const char *tappa_context_fallback_reason(const tappa_context *ctx);
/* Largest byte size one storage binding of a tensor segment may have. */
uint64_t tappa_context_max_binding_bytes(const tappa_context *ctx);

/* Where a Vulkan context's time went on the host, summed since it was
 * created: recording the ops' command buffers (descriptor sets, dispatches),
 * and submitting them and waiting for the GPU. Uploads and downloads (their
 * own small submissions) are not counted. Zeros on the CPU backend. */
typedef struct tappa_host_stats {
    double record_ms, submit_wait_ms;
    uint64_t submits, dispatches;
} tappa_host_stats;
tappa_host_stats tappa_context_host_stats(const tappa_context *ctx);

/* Where a Vulkan context's GPU time goes, per stage of the recorded work,
 * while profiling is on: a stage is what an op sequence names (the model's
 * forward pass names each of its steps, e.g. "q k v projections"), timed
 * from the previous stage's GPU timestamp to its own, so it includes the
 * barrier before it. Two stages are the library's own: "other (unnamed work,
 * copies)" after the last named stage of a recording (uploads and downloads
 * are all of theirs), and "waiting for the next submission", the GPU idle
 * between the parts of a recording submitted in parts. */
typedef struct tappa_gpu_stage {
    const char *name; /* static, owned by the library */
    double ms;        /* GPU time summed over every run of the stage */
    uint64_t runs;    /* times it ran */
    uint64_t dispatches;
} tappa_gpu_stage;
/* Start (on: the totals are cleared) or stop (off: they are freed)
 * profiling later work on ctx's device. Timestamps cost a little GPU time of
 * their own. Fails on the CPU backend and on devices without compute-queue
 * timestamps. */
tappa_status tappa_context_profile(tappa_context *ctx, bool on, tappa_error *err);
/* Copy up to max stage totals (first-seen order) into out; returns how many
 * there are. 0 when profiling is off. */
size_t tappa_context_gpu_stages(const tappa_context *ctx, tappa_gpu_stage *out, size_t max);

/* Validation-layer messages (warnings and errors) seen so far. */
size_t tappa_context_validation_count(const tappa_context *ctx);
/* Message i of the first few kept (i < min(count, kept)), or NULL. */
const char *tappa_context_validation_message(const tappa_context *ctx, size_t i);

#ifdef __cplusplus
}
#endif
#endif
