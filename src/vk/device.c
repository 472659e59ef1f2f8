/* Device selection and logical-device creation. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

static int type_rank(const char *type)
{
    /* Default preference: discrete, then integrated, then anything else
     * (virtual GPUs and CPU drivers such as lavapipe). */
    if (!strcmp(type, "discrete")) return 0;
    if (!strcmp(type, "integrated")) return 1;
    if (!strcmp(type, "virtual")) return 2;
    return 3;
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static bool is_index(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* Pick the device index for selector, or -1 with a message in err. */
static int select_device(const tappa_device_info *infos, uint32_t n, const char *selector,
                         tappa_error *err)
{
    if (!selector) {
        int best = -1;
        for (uint32_t i = 0; i < n; i++)
            if (best < 0 || type_rank(infos[i].type) < type_rank(infos[best].type)) best = (int)i;
        return best;
    }
    if (is_index(selector)) {
        long idx = strtol(selector, NULL, 10);
        if (idx >= 0 && idx < (long)n) return (int)idx;
        tappa_fail(err, TAPPA_ERR_NO_DEVICE, "device index %s does not exist (%u Vulkan device%s)",
                   selector, n, n == 1 ? "" : "s");
        return -1;
    }
    for (uint32_t i = 0; i < n; i++)
        if (contains_nocase(infos[i].name, selector)) return (int)i;
    tappa_fail(err, TAPPA_ERR_NO_DEVICE, "no Vulkan device matches '%s' (see 'tappa info')", selector);
    return -1;
}

static tappa_status pick_memory_types(tvk_device *dev, tappa_error *err)
{
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(dev->phys, &mp);
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int tensor = -1, staging = -1, mapped_local = -1;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if (tensor < 0 && (f & local) == local) tensor = (int)i;
        if (mapped_local < 0 && (f & (local | host)) == (local | host)) mapped_local = (int)i;
        /* Prefer cached host memory for staging: downloads read it on the CPU. */
        if ((f & host) == host &&
            (staging < 0 || (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT)))
            staging = (int)i;
    }
    if (staging < 0) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "device has no host-visible coherent memory");
    if (dev->info.unified_memory && mapped_local >= 0) {
        dev->tensor_memory_type = (uint32_t)mapped_local;
        dev->tensor_memory_mapped = true;
    } else {
        dev->tensor_memory_type = (uint32_t)(tensor >= 0 ? tensor : staging);
        dev->tensor_memory_mapped = tensor < 0;
    }
    dev->staging_memory_type = (uint32_t)staging;
    return TAPPA_OK;
}

static tappa_status create_logical(tvk_device *dev, tappa_error *err)
{
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (!q) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &nq, q);
    int family = -1;
    /* A compute family; prefer one with timestamps (and a dedicated one, which
     * some drivers run with less scheduling interference). */
    for (uint32_t i = 0; i < nq; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        int score = (q[i].timestampValidBits > 0) * 2 + !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT);
        if (family < 0) family = (int)i;
        int best = (q[family].timestampValidBits > 0) * 2 + !(q[family].queueFlags & VK_QUEUE_GRAPHICS_BIT);
        if (score > best) family = (int)i;
    }
    /* The probe took the first compute family's; this is the one in use. */
    if (family >= 0) dev->info.timestamp_valid_bits = q[family].timestampValidBits;
    free(q);
    if (family < 0) return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s has no compute queue", dev->info.name);
    dev->queue_family = (uint32_t)family;

    const tappa_device_info *info = &dev->info;
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .storageBuffer16BitAccess = info->storage_16bit,
    };
    VkPhysicalDeviceShaderFloat16Int8Features f16i8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
        .shaderFloat16 = info->shader_float16,
        .shaderInt8 = info->shader_int8,
    };
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
        .storageBuffer8BitAccess = info->storage_8bit,
    };
    const char *exts[8];
    uint32_t n_exts = 0;
    bool api12 = strncmp(info->api_version, "1.0", 3) && strncmp(info->api_version, "1.1", 3);
    VkPhysicalDeviceFeatures2 feats = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2 };
    void **next = &feats.pNext;
    *next = &s16; next = &s16.pNext;
    if (info->shader_float16 || info->shader_int8) {
        *next = &f16i8; next = &f16i8.pNext;
        if (!api12) exts[n_exts++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
    }
    if (info->storage_8bit) {
        *next = &s8; next = &s8.pNext;
        if (!api12) exts[n_exts++] = VK_KHR_8BIT_STORAGE_EXTENSION_NAME;
    }
    if (info->memory_budget_ext) exts[n_exts++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT sizes = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT,
        .subgroupSizeControl = VK_TRUE,
        .computeFullSubgroups = VK_TRUE,
    };
    if (info->compute_subgroup_size_pinning) {
        *next = &sizes; next = &sizes.pNext;
        if (strncmp(info->api_version, "1.3", 3) < 0) exts[n_exts++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
    }
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = VK_TRUE,
    };
    VkPhysicalDeviceVulkanMemoryModelFeatures vmm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES,
        .vulkanMemoryModel = VK_TRUE,
        .vulkanMemoryModelDeviceScope = VK_TRUE,
    };
    if (info->coopmat_f16_16x8x16 || info->coopmat_f16_16x16x16) { /* probed only with the memory model */
        *next = &coop; next = &coop.pNext;
        *next = &vmm; next = &vmm.pNext;
        exts[n_exts++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
        if (!api12) exts[n_exts++] = VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME;
    }

    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pipelineExecutableInfo = VK_TRUE,
    };
    if (info->pipeline_statistics) {
        *next = &exec; next = &exec.pNext;
        exts[n_exts++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
    }

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = dev->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &feats,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    TVK_CHECK(err, vkCreateDevice(dev->phys, &dci, NULL, &dev->device));
    volkLoadDeviceTable(&dev->vk, dev->device);
    dev->vk.vkGetDeviceQueue(dev->device, dev->queue_family, 0, &dev->queue);

    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = dev->queue_family,
    };
    TVK_CHECK(err, dev->vk.vkCreateCommandPool(dev->device, &pci, NULL, &dev->cmd_pool));
    VkCommandBufferAllocateInfo cai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = dev->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = TVK_CMD_RING,
    };
    TVK_CHECK(err, dev->vk.vkAllocateCommandBuffers(dev->device, &cai, dev->cmds));
    dev->cmd = dev->cmds[0];
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    for (int i = 0; i < TVK_CMD_RING; i++)
        TVK_CHECK(err, dev->vk.vkCreateFence(dev->device, &fci, NULL, &dev->fences[i]));
    tvk_pipeline_cache_load(dev);
    return pick_memory_types(dev, err);
}

tappa_status tvk_device_create(const char *selector, bool validate, tvk_device **out,
                               tappa_error *err)
{
    *out = NULL;
    tvk_device *dev = calloc(1, sizeof *dev);
    if (!dev) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_status st = tvk_instance_create(validate, dev, err);
    uint32_t n = 0;
    VkPhysicalDevice *phys = NULL;
    tappa_device_info *infos = NULL;
    if (st) goto fail;
    VkResult r = vkEnumeratePhysicalDevices(dev->instance, &n, NULL);
    if (r < 0 || n == 0) {
        st = tappa_fail(err, TAPPA_ERR_NO_DEVICE, "no Vulkan device found (install a driver, e.g. Debian's mesa-vulkan-drivers for lavapipe)");
        goto fail;
    }
    phys = calloc(n, sizeof *phys);
    infos = calloc(n, sizeof *infos);
    if (!phys || !infos) {
        st = tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
        goto fail;
    }
    r = vkEnumeratePhysicalDevices(dev->instance, &n, phys);
    if (r < 0) {
        st = tvk_fail_result(err, r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) tvk_probe_physical(phys[i], (int)i, &infos[i]);
    int pick = select_device(infos, n, selector, err);
    if (pick < 0) {
        st = TAPPA_ERR_NO_DEVICE;
        goto fail;
    }
    dev->phys = phys[pick];
    dev->info = infos[pick];
    free(phys);
    free(infos);
    phys = NULL;
    infos = NULL;
    st = create_logical(dev, err);
    if (st) goto fail;
    /* TAPPA_COOPMAT=0 keeps every op on its portable path, to compare the two
     * on one device. */
    const char *coopmat = getenv("TAPPA_COOPMAT");
    dev->coopmat = (dev->info.coopmat_f16_16x8x16 || dev->info.coopmat_f16_16x16x16) &&
                   !(coopmat && !strcmp(coopmat, "0"));
    *out = dev;
    return TAPPA_OK;
fail:
    free(phys);
    free(infos);
    tvk_device_destroy(&dev);
    return st;
}

void tvk_device_destroy(tvk_device **pdev)
{
    tvk_device *dev = pdev ? *pdev : NULL;
    if (!dev) return;
    if (dev->device) {
        dev->vk.vkDeviceWaitIdle(dev->device);
        tvk_pipeline_cache_save(dev);
        tvk_pipelines_destroy(dev);
        tvk_buffer_destroy(dev, &dev->staging);
        tvk_profile_stop(dev);
        for (size_t i = 0; i < dev->n_pools; i++)
            dev->vk.vkDestroyDescriptorPool(dev->device, dev->pools[i], NULL);
        free(dev->pools);
        if (dev->pipeline_cache) dev->vk.vkDestroyPipelineCache(dev->device, dev->pipeline_cache, NULL);
        for (int i = 0; i < TVK_CMD_RING; i++)
            if (dev->fences[i]) dev->vk.vkDestroyFence(dev->device, dev->fences[i], NULL);
        if (dev->cmd_pool) dev->vk.vkDestroyCommandPool(dev->device, dev->cmd_pool, NULL);
        dev->vk.vkDestroyDevice(dev->device, NULL);
    }
    if (dev->messenger) vkDestroyDebugUtilsMessengerEXT(dev->instance, dev->messenger, NULL);
    if (dev->instance) vkDestroyInstance(dev->instance, NULL);
    free(dev);
    *pdev = NULL;
}
