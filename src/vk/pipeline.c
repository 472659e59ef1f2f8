/* Compute pipelines, cached per (SPIR-V, specialization constants, required
 * subgroup size), and the on-disk pipeline cache under $XDG_CACHE_HOME/tappa
 * (or ~/.cache/tappa). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vk.h"

static void destroy_one(tvk_device *dev, tvk_pipeline *p)
{
    if (p->pipeline) dev->vk.vkDestroyPipeline(dev->device, p->pipeline, NULL);
    if (p->layout) dev->vk.vkDestroyPipelineLayout(dev->device, p->layout, NULL);
    if (p->set_layout) dev->vk.vkDestroyDescriptorSetLayout(dev->device, p->set_layout, NULL);
    free(p);
}

static tappa_status build(tvk_device *dev, tvk_pipeline *p, const uint32_t *code, size_t code_bytes,
                          tappa_error *err)
{
    VkDescriptorSetLayoutBinding b[TVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = p->n_bindings,
        .pBindings = b,
    };
    TVK_CHECK(err, dev->vk.vkCreateDescriptorSetLayout(dev->device, &dci, NULL, &p->set_layout));
    VkPushConstantRange push = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .offset = 0,
        .size = TVK_PUSH_BYTES,
    };
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &push,
    };
    TVK_CHECK(err, dev->vk.vkCreatePipelineLayout(dev->device, &lci, NULL, &p->layout));

    VkShaderModuleCreateInfo mci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = code_bytes,
        .pCode = code,
    };
    VkShaderModule module;
    TVK_CHECK(err, dev->vk.vkCreateShaderModule(dev->device, &mci, NULL, &module));
    VkSpecializationMapEntry entries[TVK_MAX_SPEC];
    for (uint32_t i = 0; i < p->n_spec; i++)
        entries[i] = (VkSpecializationMapEntry){ .constantID = i, .offset = 4 * i, .size = 4 };
    VkSpecializationInfo spec = {
        .mapEntryCount = p->n_spec,
        .pMapEntries = entries,
        .dataSize = 4 * p->n_spec,
        .pData = p->spec,
    };
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfoEXT sized = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO_EXT,
        .requiredSubgroupSize = p->subgroup_size,
    };
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .pNext = p->subgroup_size ? &sized : NULL,
            .flags = p->subgroup_size ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT_EXT : 0,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = module,
            .pName = "main",
            .pSpecializationInfo = p->n_spec ? &spec : NULL,
        },
        .layout = p->layout,
        .flags = p->statistics ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0,
    };
    VkResult r = dev->vk.vkCreateComputePipelines(dev->device, dev->pipeline_cache, 1, &pci, NULL,
                                                  &p->pipeline);
    dev->vk.vkDestroyShaderModule(dev->device, module, NULL);
    if (r < 0) return tvk_fail_result(err, r, "vkCreateComputePipelines", __FILE__, __LINE__);
    return TAPPA_OK;
}

tappa_status tvk_pipeline_get(tvk_device *dev, const uint32_t *code, size_t code_bytes,
                              uint32_t n_bindings, const uint32_t *spec, uint32_t n_spec,
                              tvk_pipeline **out, tappa_error *err)
{
    return tvk_pipeline_get_sized(dev, code, code_bytes, n_bindings, spec, n_spec, 0, out, err);
}

tappa_status tvk_pipeline_get_sized(tvk_device *dev, const uint32_t *code, size_t code_bytes,
                                    uint32_t n_bindings, const uint32_t *spec, uint32_t n_spec,
                                    uint32_t subgroup_size, tvk_pipeline **out, tappa_error *err)
{
    const tappa_device_info *info = &dev->info;
    if (subgroup_size && (!info->compute_subgroup_size_pinning || subgroup_size < info->subgroup_min_size ||
                          subgroup_size > info->subgroup_max_size))
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s cannot run a kernel at subgroup size %u", info->name,
                          subgroup_size);
    if (n_bindings > TVK_MAX_BINDINGS || n_spec > TVK_MAX_SPEC)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "pipeline with %u bindings, %u constants",
                          n_bindings, n_spec);
    if (n_bindings > dev->info.max_storage_buffers_per_stage)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                          "a kernel needs %u storage buffers, %s allows %u per shader stage",
                          n_bindings, dev->info.name, dev->info.max_storage_buffers_per_stage);
    for (size_t i = 0; i < dev->n_pipelines; i++) {
        tvk_pipeline *p = dev->pipelines[i];
        if (p->code == code && p->n_spec == n_spec && p->subgroup_size == subgroup_size &&
            (n_spec == 0 || !memcmp(p->spec, spec, 4 * n_spec))) {
            *out = p;
            return TAPPA_OK;
        }
    }
    tvk_pipeline **grown = realloc(dev->pipelines, (dev->n_pipelines + 1) * sizeof *grown);
    tvk_pipeline *p = calloc(1, sizeof *p);
    if (grown) dev->pipelines = grown;
    if (!grown || !p) {
        free(p);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    }
    p->code = code;
    p->n_spec = n_spec;
    if (n_spec) memcpy(p->spec, spec, 4 * n_spec);
    p->n_bindings = n_bindings;
    p->subgroup_size = subgroup_size;
    p->statistics = dev->capture_statistics && dev->info.pipeline_statistics;
    tappa_status st = build(dev, p, code, code_bytes, err);
    if (st) {
        destroy_one(dev, p);
        return st;
    }
    dev->pipelines[dev->n_pipelines++] = p;
    *out = p;
    return TAPPA_OK;
}

static double statistic_value(const VkPipelineExecutableStatisticKHR *s)
{
    switch (s->format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: return s->value.b32;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: return (double)s->value.i64;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: return (double)s->value.u64;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: return s->value.f64;
    default: return NAN;
    }
}

tappa_status tvk_pipeline_statistics(tvk_device *dev, const tvk_pipeline *p, tvk_statistic *out, size_t cap,
                                     size_t *count, tappa_error *err)
{
    *count = 0;
    if (!p->statistics)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "pipeline built without statistics (%s %s them)",
                          dev->info.name, dev->info.pipeline_statistics ? "keeps" : "does not keep");
    VkPipelineInfoKHR pinfo = { .sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = p->pipeline };
    VkPipelineExecutablePropertiesKHR execs[4];
    uint32_t n_exec = 4;
    for (uint32_t i = 0; i < n_exec; i++)
        execs[i] = (VkPipelineExecutablePropertiesKHR){ .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR };
    VkResult r = dev->vk.vkGetPipelineExecutablePropertiesKHR(dev->device, &pinfo, &n_exec, execs);
    if (r < 0) return tvk_fail_result(err, r, "vkGetPipelineExecutablePropertiesKHR", __FILE__, __LINE__);
    for (uint32_t e = 0; e < n_exec; e++) {
        VkPipelineExecutableInfoKHR einfo = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
            .pipeline = p->pipeline,
            .executableIndex = e,
        };
        VkPipelineExecutableStatisticKHR stats[32];
        uint32_t n_stats = 32;
        for (uint32_t i = 0; i < n_stats; i++)
            stats[i] = (VkPipelineExecutableStatisticKHR){ .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR };
        r = dev->vk.vkGetPipelineExecutableStatisticsKHR(dev->device, &einfo, &n_stats, stats);
        if (r < 0) return tvk_fail_result(err, r, "vkGetPipelineExecutableStatisticsKHR", __FILE__, __LINE__);
        for (uint32_t i = 0; i < n_stats && *count < cap; i++) {
            tvk_statistic *o = &out[(*count)++];
            if (n_exec > 1) snprintf(o->name, sizeof o->name, "%s: %s", execs[e].name, stats[i].name);
            else snprintf(o->name, sizeof o->name, "%s", stats[i].name);
            o->value = statistic_value(&stats[i]);
        }
    }
    return TAPPA_OK;
}

uint32_t tvk_subgroup_for(const tappa_device_info *info, uint32_t least, uint32_t most, uint32_t wg, bool *pin)
{
    *pin = false;
    uint32_t s = info->subgroup_size;
    if (info->subgroup_min_size == info->subgroup_max_size) return s >= least && s <= most && wg % s == 0 ? s : 0;
    if (!info->compute_subgroup_size_pinning) return 0;
    *pin = true;
    if (s >= least && s <= most && wg % s == 0) return s;
    for (s = info->subgroup_min_size; s && s <= info->subgroup_max_size; s *= 2) /* sizes are powers of two */
        if (s >= least && s <= most && wg % s == 0) return s;
    *pin = false;
    return 0;
}

void tvk_pipelines_destroy(tvk_device *dev)
{
    for (size_t i = 0; i < dev->n_pipelines; i++) destroy_one(dev, dev->pipelines[i]);
    free(dev->pipelines);
    dev->pipelines = NULL;
    dev->n_pipelines = 0;
}

/* The cache file is per device and driver build: the driver rejects data from
 * another one anyway, but separate files keep two GPUs from evicting each other. */
static bool cache_path(tvk_device *dev, char *dir, size_t dir_bytes)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg)
        n = snprintf(dir, dir_bytes, "%s/tappa", xdg);
    else if (home && *home)
        n = snprintf(dir, dir_bytes, "%s/.cache/tappa", home);
    else
        return false;
    if (n < 0 || (size_t)n >= dir_bytes) return false;
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(dev->phys, &props);
    n = snprintf(dev->pipeline_cache_path, sizeof dev->pipeline_cache_path,
                 "%s/pipelines-%04x-%04x-%08x.bin", dir, props.vendorID, props.deviceID,
                 props.driverVersion);
    return n > 0 && (size_t)n < sizeof dev->pipeline_cache_path;
}

/* A missing or unreadable cache is not an error: pipelines are then compiled
 * from SPIR-V, only slower. */
void tvk_pipeline_cache_load(tvk_device *dev)
{
    char dir[900];
    void *data = NULL;
    size_t bytes = 0;
    if (cache_path(dev, dir, sizeof dir)) {
        FILE *f = fopen(dev->pipeline_cache_path, "rb");
        if (f) {
            if (!fseek(f, 0, SEEK_END)) {
                long size = ftell(f);
                if (size > 0 && size < (64L << 20) && !fseek(f, 0, SEEK_SET)) {
                    data = malloc((size_t)size);
                    if (data && fread(data, 1, (size_t)size, f) == (size_t)size) bytes = (size_t)size;
                }
            }
            fclose(f);
        }
    } else {
        dev->pipeline_cache_path[0] = 0;
    }
    VkPipelineCacheCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = bytes,
        .pInitialData = bytes ? data : NULL,
    };
    if (dev->vk.vkCreatePipelineCache(dev->device, &ci, NULL, &dev->pipeline_cache) < 0) {
        /* Corrupt data can be refused: start empty rather than fail. */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        if (dev->vk.vkCreatePipelineCache(dev->device, &ci, NULL, &dev->pipeline_cache) < 0)
            dev->pipeline_cache = VK_NULL_HANDLE;
    }
    free(data);
}

void tvk_pipeline_cache_save(tvk_device *dev)
{
    if (!dev->pipeline_cache || !dev->pipeline_cache_path[0] || !dev->n_pipelines) return;
    size_t bytes = 0;
    if (dev->vk.vkGetPipelineCacheData(dev->device, dev->pipeline_cache, &bytes, NULL) < 0 || !bytes)
        return;
    void *data = malloc(bytes);
    if (!data) return;
    if (dev->vk.vkGetPipelineCacheData(dev->device, dev->pipeline_cache, &bytes, data) >= 0) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", dev->pipeline_cache_path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            char *parent = strrchr(dir, '/');
            if (parent) { *parent = 0; mkdir(dir, 0755); *parent = '/'; }
            mkdir(dir, 0755);
        }
        /* Write then rename, so a reader never sees half a file. */
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", dev->pipeline_cache_path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(data, 1, bytes, f) == bytes;
            ok = (fclose(f) == 0) && ok;
            if (!ok || rename(tmp, dev->pipeline_cache_path) != 0) remove(tmp);
        }
    }
    free(data);
}
