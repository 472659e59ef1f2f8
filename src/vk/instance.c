/* Vulkan instance, validation messenger and the capability probe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

const char *tvk_result_name(VkResult r)
{
    switch (r) {
#define R(x) case x: return #x;
        R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_INCOMPLETE)
        R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        R(VK_ERROR_INITIALIZATION_FAILED) R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED)
        R(VK_ERROR_LAYER_NOT_PRESENT) R(VK_ERROR_EXTENSION_NOT_PRESENT)
        R(VK_ERROR_FEATURE_NOT_PRESENT) R(VK_ERROR_INCOMPATIBLE_DRIVER) R(VK_ERROR_TOO_MANY_OBJECTS)
        R(VK_ERROR_FORMAT_NOT_SUPPORTED) R(VK_ERROR_FRAGMENTED_POOL) R(VK_ERROR_UNKNOWN)
        R(VK_ERROR_OUT_OF_POOL_MEMORY) R(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        R(VK_ERROR_FRAGMENTATION) R(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
        R(VK_PIPELINE_COMPILE_REQUIRED)
#undef R
    default: return "VkResult(unknown)";
    }
}

tappa_status tvk_fail_result(tappa_error *err, VkResult r, const char *call, const char *file,
                             int line)
{
    tappa_status st = (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
                          ? TAPPA_ERR_NO_MEMORY
                          : TAPPA_ERR_VULKAN;
    const char *base = strrchr(file, '/');
    return tappa_fail(err, st, "Vulkan call failed with %s (%d): %s at %s:%d", tvk_result_name(r),
                      (int)r, call, base ? base + 1 : file, line);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT types,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                    void *user)
{
    (void)severity;
    (void)types;
    tvk_device *dev = user;
    if (dev->validation_count < TVK_MAX_VALIDATION_KEPT) {
        char *slot = dev->validation_kept[dev->validation_count];
        snprintf(slot, sizeof dev->validation_kept[0], "%s", data->pMessage ? data->pMessage : "?");
        for (char *c = slot; *c; c++)
            if (*c == '\n') *c = ' ';
    }
    dev->validation_count++;
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *props = calloc(n, sizeof *props);
    bool found = false;
    if (props && vkEnumerateInstanceLayerProperties(&n, props) >= 0)
        for (uint32_t i = 0; i < n; i++)
            if (!strcmp(props[i].layerName, name)) found = true;
    free(props);
    return found;
}

static bool has_instance_extension(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *props = calloc(n, sizeof *props);
    bool found = false;
    if (props && vkEnumerateInstanceExtensionProperties(NULL, &n, props) >= 0)
        for (uint32_t i = 0; i < n; i++)
            if (!strcmp(props[i].extensionName, name)) found = true;
    free(props);
    return found;
}

tappa_status tvk_instance_create(bool validate, tvk_device *dev, tappa_error *err)
{
    VkResult r = volkInitialize();
    if (r != VK_SUCCESS)
        return tappa_fail(err, TAPPA_ERR_NO_DEVICE,
                          "no Vulkan loader found (libvulkan.so.1); install libvulkan1 and a driver");
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_1)
        return tappa_fail(err, TAPPA_ERR_NO_DEVICE, "the Vulkan loader is 1.0; tappa needs 1.1");

    const char *layers[1];
    uint32_t n_layers = 0;
    const char *exts[2];
    uint32_t n_exts = 0;
    if (validate) {
        if (!has_layer("VK_LAYER_KHRONOS_validation"))
            return tappa_fail(err, TAPPA_ERR_UNSUPPORTED,
                              "validation requested but VK_LAYER_KHRONOS_validation is not installed "
                              "(Debian: vulkan-validationlayers)");
        layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }
    VkInstanceCreateFlags flags = 0;
    /* MoltenVK and other portability drivers are listed only when asked for. */
    if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "tappa",
        .pEngineName = "tappa",
        .apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : loader_version,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = dev,
    };
    if (validate) ci.pNext = &mci; /* also catches messages from instance creation itself */
    r = vkCreateInstance(&ci, NULL, &dev->instance);
    /* The loader answers this when it found no driver at all. */
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return tappa_fail(err, TAPPA_ERR_NO_DEVICE,
                          "no Vulkan driver found (install one, e.g. Debian's mesa-vulkan-drivers for lavapipe)");
    if (r < 0) return tvk_fail_result(err, r, "vkCreateInstance", __FILE__, __LINE__);
    volkLoadInstanceOnly(dev->instance);
    if (validate)
        TVK_CHECK(err, vkCreateDebugUtilsMessengerEXT(dev->instance, &mci, NULL, &dev->messenger));
    return TAPPA_OK;
}

static bool has_device_extension(VkPhysicalDevice phys, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *props = calloc(n, sizeof *props);
    bool found = false;
    if (props && vkEnumerateDeviceExtensionProperties(phys, NULL, &n, props) >= 0)
        for (uint32_t i = 0; i < n; i++)
            if (!strcmp(props[i].extensionName, name)) found = true;
    free(props);
    return found;
}

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static void probe_memory(VkPhysicalDevice phys, tappa_device_info *info)
{
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT,
    };
    VkPhysicalDeviceMemoryProperties2 mem = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
        .pNext = info->memory_budget_ext ? &budget : NULL,
    };
    vkGetPhysicalDeviceMemoryProperties2(phys, &mem);
    const VkPhysicalDeviceMemoryProperties *p = &mem.memoryProperties;
    for (uint32_t h = 0; h < p->memoryHeapCount; h++) {
        if (!(p->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
        info->device_local_bytes += p->memoryHeaps[h].size;
        info->budget_bytes += info->memory_budget_ext ? budget.heapBudget[h] : p->memoryHeaps[h].size;
    }
    /* Unified memory: an integrated/CPU device whose device-local memory the
     * host can map coherently; tensors then live there with no staging copy. */
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                       VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    bool mappable_local = false;
    for (uint32_t i = 0; i < p->memoryTypeCount; i++)
        if ((p->memoryTypes[i].propertyFlags & want) == want) mappable_local = true;
    info->unified_memory = mappable_local && strcmp(info->type, "discrete") != 0;
}

/* The f16 x f16 + f32 tile shapes of VK_NV_cooperative_matrix that tappa's
 * tensor-core paths can use. */
static void probe_coopmat(VkPhysicalDevice phys, tappa_device_info *info)
{
    if (!vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) return;
    uint32_t n = 0;
    if (vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(phys, &n, NULL) != VK_SUCCESS || !n) return;
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    if (!p) return;
    for (uint32_t i = 0; i < n; i++) p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    if (vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(phys, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) {
            const VkCooperativeMatrixPropertiesNV *c = &p[i];
            if (c->AType != VK_COMPONENT_TYPE_FLOAT16_NV || c->BType != VK_COMPONENT_TYPE_FLOAT16_NV ||
                c->CType != VK_COMPONENT_TYPE_FLOAT32_NV || c->DType != VK_COMPONENT_TYPE_FLOAT32_NV ||
                c->scope != VK_SCOPE_SUBGROUP_NV || c->MSize != 16 || c->KSize != 16)
                continue;
            if (c->NSize == 8) info->coopmat_f16_16x8x16 = true;
            if (c->NSize == 16) info->coopmat_f16_16x16x16 = true;
        }
    free(p);
}

void tvk_probe_physical(VkPhysicalDevice phys, int index, tappa_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;

    VkPhysicalDeviceSubgroupProperties subgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
    };
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT size_control = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT,
    };
    VkPhysicalDeviceDriverProperties driver = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
    };
    info->subgroup_size_control = has_device_extension(phys, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(phys, &base);
    bool api12 = base.apiVersion >= VK_API_VERSION_1_2;
    bool api13 = base.apiVersion >= VK_API_VERSION_1_3;
    if (api13) info->subgroup_size_control = true;
    bool has_driver_props = api12 || has_device_extension(phys, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);

    VkPhysicalDeviceProperties2 props = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 };
    void **next = &props.pNext;
    *next = &subgroup; next = &subgroup.pNext;
    if (info->subgroup_size_control) { *next = &size_control; next = &size_control.pNext; }
    if (has_driver_props) { *next = &driver; next = &driver.pNext; }
    vkGetPhysicalDeviceProperties2(phys, &props);

    const VkPhysicalDeviceLimits *lim = &base.limits;
    snprintf(info->name, sizeof info->name, "%s", base.deviceName);
    snprintf(info->type, sizeof info->type, "%s", type_name(base.deviceType));
    info->vendor_id = base.vendorID;
    info->device_id = base.deviceID;
    snprintf(info->api_version, sizeof info->api_version, "%u.%u.%u",
             VK_API_VERSION_MAJOR(base.apiVersion), VK_API_VERSION_MINOR(base.apiVersion),
             VK_API_VERSION_PATCH(base.apiVersion));
    if (has_driver_props)
        snprintf(info->driver, sizeof info->driver, "%s %s", driver.driverName, driver.driverInfo);
    else
        snprintf(info->driver, sizeof info->driver, "driver version 0x%x", base.driverVersion);
    /* llvmpipe (lavapipe) ends every loop of an invocation once the loops
     * together ran 65535 iterations (Mesa's LP_MAX_TGSI_LOOP_ITERATIONS),
     * silently: kernels that loop over long dimensions split their work. */
    if (has_driver_props && driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE)
        info->loop_iteration_limit = 65535;

    info->max_storage_buffer_range_bytes = lim->maxStorageBufferRange;
    info->max_memory_allocation_bytes = (uint64_t)1 << 30; /* Vulkan's guaranteed minimum */
    info->max_shared_memory_bytes = lim->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    info->max_push_constants_bytes = lim->maxPushConstantsSize;
    info->max_storage_buffers_per_stage = lim->maxPerStageDescriptorStorageBuffers;
    info->min_storage_buffer_offset_alignment = (uint32_t)lim->minStorageBufferOffsetAlignment;
    info->timestamp_period_ns = lim->timestampPeriod;

    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
    };
    VkPhysicalDeviceProperties2 props_m3 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                             .pNext = &m3 };
    vkGetPhysicalDeviceProperties2(phys, &props_m3);
    if (m3.maxMemoryAllocationSize) info->max_memory_allocation_bytes = m3.maxMemoryAllocationSize;

    info->subgroup_size = subgroup.subgroupSize;
    info->subgroup_min_size = info->subgroup_max_size = subgroup.subgroupSize;
    if (info->subgroup_size_control && size_control.minSubgroupSize) {
        info->subgroup_min_size = size_control.minSubgroupSize;
        info->subgroup_max_size = size_control.maxSubgroupSize;
    }
    info->subgroup_in_compute = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    VkSubgroupFeatureFlags ops = subgroup.supportedOperations;
    info->subgroup_basic = ops & VK_SUBGROUP_FEATURE_BASIC_BIT;
    info->subgroup_vote = ops & VK_SUBGROUP_FEATURE_VOTE_BIT;
    info->subgroup_arithmetic = ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    info->subgroup_ballot = ops & VK_SUBGROUP_FEATURE_BALLOT_BIT;
    info->subgroup_shuffle = ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT;

    /* Optional features: chain only structures this device knows. */
    bool has_f16i8 = api12 || has_device_extension(phys, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    bool has_8bit = api12 || has_device_extension(phys, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
    bool has_bda = api12 || has_device_extension(phys, VK_KHR_BUFFER_DEVICE_ADDRESS_EXTENSION_NAME);
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
    };
    VkPhysicalDeviceShaderFloat16Int8Features f16i8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
    };
    VkPhysicalDevice8BitStorageFeatures s8 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
    };
    VkPhysicalDeviceBufferDeviceAddressFeatures bda = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES,
    };
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
    };
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
    };
    bool has_exec = has_device_extension(phys, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    info->cooperative_matrix_nv = has_device_extension(phys, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    /* The cooperative-matrix shaders declare the Vulkan memory model
     * (GL_KHR_memory_scope_semantics): tappa uses them only where it is on. */
    VkPhysicalDeviceVulkanMemoryModelFeatures vmm = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES,
    };
    bool has_vmm = api12 || has_device_extension(phys, VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME);
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT sizes = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT,
    };
    VkPhysicalDeviceFeatures2 feats = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2 };
    next = &feats.pNext;
    *next = &s16; next = &s16.pNext;
    if (info->subgroup_size_control) { *next = &sizes; next = &sizes.pNext; }
    if (has_f16i8) { *next = &f16i8; next = &f16i8.pNext; }
    if (has_8bit) { *next = &s8; next = &s8.pNext; }
    if (has_bda) { *next = &bda; next = &bda.pNext; }
    if (info->cooperative_matrix_nv) { *next = &coop; next = &coop.pNext; }
    if (has_vmm) { *next = &vmm; next = &vmm.pNext; }
    if (has_exec) { *next = &exec; next = &exec.pNext; }
    vkGetPhysicalDeviceFeatures2(phys, &feats);
    info->pipeline_statistics = exec.pipelineExecutableInfo;
    /* Device scope too: once the memory model is on, every shader's
     * device-scope atomics and barriers (decode's arrival counters) need it. */
    if (coop.cooperativeMatrix && vmm.vulkanMemoryModel && vmm.vulkanMemoryModelDeviceScope) probe_coopmat(phys, info);
    info->compute_subgroup_size_pinning = info->subgroup_size_control && sizes.subgroupSizeControl &&
                                          sizes.computeFullSubgroups &&
                                          (size_control.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
    info->storage_16bit = s16.storageBuffer16BitAccess;
    info->shader_float16 = f16i8.shaderFloat16;
    info->shader_int8 = f16i8.shaderInt8;
    info->storage_8bit = s8.storageBuffer8BitAccess;
    info->buffer_device_address = bda.bufferDeviceAddress;
    info->cooperative_matrix_khr = has_device_extension(phys, "VK_KHR_cooperative_matrix");
    info->memory_budget_ext = has_device_extension(phys, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    probe_memory(phys, info);

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (q) {
        vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, q);
        for (uint32_t i = 0; i < nq; i++)
            if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].timestampValidBits > 0 &&
                lim->timestampPeriod > 0 && !info->timestamps) {
                info->timestamps = true;
                info->timestamp_valid_bits = q[i].timestampValidBits;
            }
        free(q);
    }
}

tappa_status tvk_probe_all(tappa_device_info **devices, size_t *count, char *reason,
                           size_t reason_bytes, tappa_error *err)
{
    *devices = NULL;
    *count = 0;
    tvk_device tmp = { 0 };
    tappa_error local;
    tappa_status st = tvk_instance_create(false, &tmp, &local);
    if (st == TAPPA_ERR_NO_DEVICE || st == TAPPA_ERR_VULKAN) {
        if (reason) snprintf(reason, reason_bytes, "%s", local.message);
        if (tmp.instance) vkDestroyInstance(tmp.instance, NULL);
        return TAPPA_OK;
    }
    if (st) {
        if (err) *err = local;
        return st;
    }
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(tmp.instance, &n, NULL);
    if (r < 0 || n == 0) {
        if (reason) snprintf(reason, reason_bytes, "no Vulkan device found (install a driver, e.g. Debian's mesa-vulkan-drivers for lavapipe)");
        vkDestroyInstance(tmp.instance, NULL);
        return TAPPA_OK;
    }
    VkPhysicalDevice *phys = calloc(n, sizeof *phys);
    tappa_device_info *infos = calloc(n, sizeof *infos);
    if (!phys || !infos) {
        free(phys);
        free(infos);
        vkDestroyInstance(tmp.instance, NULL);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory probing devices");
    }
    r = vkEnumeratePhysicalDevices(tmp.instance, &n, phys);
    if (r < 0) {
        free(phys);
        free(infos);
        vkDestroyInstance(tmp.instance, NULL);
        return tvk_fail_result(err, r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
    }
    for (uint32_t i = 0; i < n; i++) tvk_probe_physical(phys[i], (int)i, &infos[i]);
    free(phys);
    vkDestroyInstance(tmp.instance, NULL);
    *devices = infos;
    *count = n;
    return TAPPA_OK;
}
