/* The Vulkan runtime behind tappa's Vulkan backend: instance and device,
 * memory, pipelines, command recording and timestamps. Internal to the library;
 * ops in src/ops/ use it to record their dispatches. */
#ifndef TAPPA_VK_H
#define TAPPA_VK_H

#include <volk.h>

#include "tappa/context.h"

/* Check a VkResult; on failure record file, line, call and result in err and
 * return TAPPA_ERR_VULKAN from the enclosing function. */
#define TVK_CHECK(err, call)                                                                  \
    do {                                                                                      \
        VkResult tvk_r_ = (call);                                                             \
        if (tvk_r_ < 0)                                                                       \
            return tvk_fail_result((err), tvk_r_, #call, __FILE__, __LINE__);                 \
    } while (0)

tappa_status tvk_fail_result(tappa_error *err, VkResult r, const char *call, const char *file,
                             int line);
const char *tvk_result_name(VkResult r);

#define TVK_MAX_VALIDATION_KEPT 8
#define TVK_MAX_BINDINGS 8
#define TVK_MAX_SPEC 8
#define TVK_PUSH_BYTES 128 /* the guaranteed minimum maxPushConstantsSize */
#define TVK_CMD_RING 16    /* command buffers of one recording (tvk_flush): a 32-layer step flushes 9 times */

typedef struct tvk_pipeline {
    const uint32_t *code;    /* key: SPIR-V identity ... */
    uint32_t spec[TVK_MAX_SPEC];
    uint32_t n_spec;         /* ... specialization constants ... */
    uint32_t subgroup_size;  /* ... and the required subgroup size (0: the driver's choice) */
    uint32_t n_bindings;
    bool statistics;         /* built keeping the compiler's statistics (tvk_pipeline_statistics) */
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
} tvk_pipeline;

typedef struct tvk_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize bytes;
    void *mapped;          /* non-NULL when host-visible */
} tvk_buffer;

/* A cooperative-matrix tile layout as the kernels that work on its rows take
 * it (specialization constants): row_lanes lanes hold each row, an aligned
 * group; bit i of slots is set where a lane's element i lies on its second
 * row; bits 4i..4i+3 of cols give element i's column past element 0's. */
typedef struct coopmat_layout {
    uint32_t row_lanes, slots, cols;
} coopmat_layout;

typedef struct tvk_device {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    struct VolkDeviceTable vk;   /* per-device function table: several contexts may coexist */
    uint32_t queue_family;
    VkQueue queue;
    VkCommandPool cmd_pool;
    /* A recording's command buffers: cmd is the one being recorded, cmds[slot];
     * tvk_flush submits it and records on into the next, so the GPU starts
     * on the first part of a long recording while the host records the rest.
     * fences[i] signals when cmds[i] of the open recording has run. */
    VkCommandBuffer cmd;
    VkCommandBuffer cmds[TVK_CMD_RING];
    VkFence fences[TVK_CMD_RING];
    uint32_t slot;
    bool cmd_open;               /* cmd is between vkBeginCommandBuffer and vkEndCommandBuffer */
    bool recording;
    bool transfer_pending;       /* a copy or fill recorded since the last tvk_barrier */
    VkPipelineCache pipeline_cache;
    char pipeline_cache_path[1024];

    tappa_device_info info;
    /* Ops take their cooperative-matrix (tensor-core) paths where they have
     * one and the device offers the tiles; each such dispatch is counted, so
     * the conformance harness knows which cases ran on those paths. */
    bool coopmat;
    uint64_t coopmat_dispatches;
    /* Where a 16 x 16 f32 tile's elements lie, once probed (coopmat_layout.c),
     * and whether kernels can reduce its rows in registers. */
    bool coopmat_layout_probed, coopmat_rows_in_registers;
    coopmat_layout coopmat_layout;
    /* GPU time per named stage, while profiling (profile.c); NULL when off. */
    struct tvk_profile *profile;
    /* Host time of op_submit's recordings and of their submit-and-wait. */
    double record_ms, submit_wait_ms;
    uint64_t submits, dispatches;
    uint32_t tensor_memory_type;   /* where tensors live */
    uint32_t staging_memory_type;  /* host-visible coherent, for uploads/downloads */
    bool tensor_memory_mapped;     /* unified: tensors are mapped, no staging */
    /* Staging kept between small uploads and downloads (memory.c). */
    tvk_buffer staging;

    tvk_pipeline **pipelines;
    size_t n_pipelines;
    /* Pipelines built while this is set keep the compiler's statistics
     * (info.pipeline_statistics devices only). */
    bool capture_statistics;

    VkDescriptorPool *pools;     /* grown on demand, reset after each submission */
    size_t n_pools;

    /* Validation messages (written by the messenger callback). */
    size_t validation_count;
    char validation_kept[TVK_MAX_VALIDATION_KEPT][512];
} tvk_device;

/* Probe all devices (instance.c). devices: malloc'ed, caller frees. When the
 * loader or devices are missing, *count = 0 and reason says why. */
tappa_status tvk_probe_all(tappa_device_info **devices, size_t *count, char *reason,
                           size_t reason_bytes, tappa_error *err);

/* Open the device matching selector (NULL: default order) (device.c).
 * On TAPPA_ERR_NO_DEVICE with selector == NULL, the caller falls back to CPU. */
tappa_status tvk_device_create(const char *selector, bool validate, tvk_device **out,
                               tappa_error *err);
void tvk_device_destroy(tvk_device **dev);

/* Instance creation and probing helpers shared by instance.c and device.c. */
tappa_status tvk_instance_create(bool validate, tvk_device *dev, tappa_error *err);
void tvk_probe_physical(VkPhysicalDevice phys, int index, tappa_device_info *info);

/* Memory (memory.c). */

tappa_status tvk_buffer_create(tvk_device *dev, VkDeviceSize bytes, bool staging, tvk_buffer *out,
                               tappa_error *err);
void tvk_buffer_destroy(tvk_device *dev, tvk_buffer *b);
/* Copy between host memory and a buffer range, through a staging buffer when
 * the buffer is not mapped. */
tappa_status tvk_buffer_write(tvk_device *dev, tvk_buffer *b, VkDeviceSize offset, const void *src,
                              size_t bytes, tappa_error *err);
tappa_status tvk_buffer_read(tvk_device *dev, const tvk_buffer *b, VkDeviceSize offset, void *dst,
                             size_t bytes, tappa_error *err);
tappa_status tvk_buffer_fill(tvk_device *dev, tvk_buffer *b, uint32_t bits, tappa_error *err);

/* Pipelines (pipeline.c): cached per (SPIR-V, specialization constants,
 * required subgroup size). */
tappa_status tvk_pipeline_get(tvk_device *dev, const uint32_t *code, size_t code_bytes,
                              uint32_t n_bindings, const uint32_t *spec, uint32_t n_spec,
                              tvk_pipeline **out, tappa_error *err);
/* The same with a required subgroup size and full subgroups (the workgroup
 * a multiple of it), where info.compute_subgroup_size_pinning; 0: none. */
tappa_status tvk_pipeline_get_sized(tvk_device *dev, const uint32_t *code, size_t code_bytes,
                                    uint32_t n_bindings, const uint32_t *spec, uint32_t n_spec,
                                    uint32_t subgroup_size, tvk_pipeline **out, tappa_error *err);
void tvk_pipelines_destroy(tvk_device *dev);

/* One of the compiler's statistics of a pipeline, as the driver names it
 * ("Register Count", ...), prefixed with the executable's name where the
 * pipeline has several. */
typedef struct tvk_statistic {
    char name[96];
    double value;
} tvk_statistic;
/* The statistics of p (built with dev->capture_statistics on): up to cap of
 * them into out, *count set to how many were written. */
tappa_status tvk_pipeline_statistics(tvk_device *dev, const tvk_pipeline *p, tvk_statistic *out, size_t cap,
                                     size_t *count, tappa_error *err);
void tvk_pipeline_cache_load(tvk_device *dev);
void tvk_pipeline_cache_save(tvk_device *dev);

/* Commands (cmd.c). Recording is one command buffer per device: begin, record
 * dispatches/copies/barriers/timestamps, then submit_wait. */
typedef struct tvk_binding {
    const tvk_buffer *buffer;
    VkDeviceSize offset, range;
} tvk_binding;

tappa_status tvk_begin(tvk_device *dev, tappa_error *err);
tappa_status tvk_dispatch(tvk_device *dev, const tvk_pipeline *p, const tvk_binding *bindings,
                          const void *push, uint32_t push_bytes, uint32_t gx, uint32_t gy,
                          uint32_t gz, tappa_error *err);
/* Make all earlier shader writes and transfers visible to later ones. */
void tvk_barrier(tvk_device *dev);
/* Submit what the open recording holds so far without waiting, and go on
 * recording into a fresh command buffer (no-op when the ring is used up).
 * Barriers act across the split: they order by submission, not by buffer. */
tappa_status tvk_flush(tvk_device *dev, tappa_error *err);
/* Submit the rest of the recording and wait until all of it has run. */
tappa_status tvk_submit_wait(tvk_device *dev, tappa_error *err);
/* Abandon a recording after an error so the next tvk_begin starts clean.
 * Parts tvk_flush already submitted are waited for, not undone: their
 * writes stand. */
void tvk_abort(tvk_device *dev);

/* The subgroup size a kernel that needs one in [least, most], dividing its
 * workgroup of wg, runs at: the device's only size, or, where sizes vary and
 * pipelines can require one, a size to pin (*pin; the default size first);
 * 0 where neither (pipeline.c). */
uint32_t tvk_subgroup_for(const tappa_device_info *info, uint32_t least, uint32_t most, uint32_t wg, bool *pin);

/* Split a 1-D count of workgroups into a grid within the device limits;
 * shaders recover the linear id as x + y * gl_NumWorkGroups.x. */
void tvk_grid(const tvk_device *dev, uint64_t groups, uint32_t *gx, uint32_t *gy);

/* Timestamps (cmd.c). */
typedef struct tvk_timer {
    VkQueryPool pool;
    uint32_t count;
} tvk_timer;
tappa_status tvk_timer_create(tvk_device *dev, uint32_t count, tvk_timer *out, tappa_error *err);
void tvk_timer_destroy(tvk_device *dev, tvk_timer *t);
/* Record a reset of timestamps [first, first + count) (inside a recording). */
void tvk_timer_reset(tvk_device *dev, tvk_timer *t, uint32_t first, uint32_t count);
void tvk_timestamp(tvk_device *dev, tvk_timer *t, uint32_t index);
/* Read the first count timestamps in ticks, waiting for them. */
tappa_status tvk_timer_read_ticks(tvk_device *dev, tvk_timer *t, uint32_t count, uint64_t *ticks, tappa_error *err);
/* Read all of t's timestamps and convert to nanoseconds. */
tappa_status tvk_timer_read_ns(tvk_device *dev, tvk_timer *t, double *ns, tappa_error *err);

/* GPU stage profile (profile.c). While on, each recording starts with a
 * timestamp and tvk_stage(dev, name) writes one that closes the stage named:
 * the work recorded since the previous timestamp (and so the barrier before
 * it). When the recording has run, tvk_submit_wait adds each stage's time to
 * its name's total; work after the last stage goes to TVK_STAGE_UNNAMED, and
 * the GPU's wait between the parts of a flushed recording to TVK_STAGE_WAIT.
 * Names are static strings. */
#define TVK_STAGE_UNNAMED "other (unnamed work, copies)"
#define TVK_STAGE_WAIT "waiting for the next submission"
tappa_status tvk_profile_start(tvk_device *dev, tappa_error *err); /* clears the totals */
void tvk_profile_stop(tvk_device *dev);                             /* frees them */
void tvk_stage(tvk_device *dev, const char *name);
/* Called by cmd.c: at the start of a recording, before its end, and after
 * it has run (adds up; an error reading the timestamps is returned). */
void tvk_profile_begin(tvk_device *dev);
void tvk_profile_split(tvk_device *dev);
void tvk_profile_end(tvk_device *dev);
tappa_status tvk_profile_collect(tvk_device *dev, tappa_error *err);
void tvk_profile_discard(tvk_device *dev);
/* The totals so far, in first-seen order. */
size_t tvk_profile_stages(const tvk_device *dev, tappa_gpu_stage *out, size_t max);

#endif
