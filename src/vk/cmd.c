/* Command recording and submission, descriptor sets and timestamps. A
 * recording goes into one command buffer and one submit, or into several
 * where tvk_flush splits it; descriptor pools are reset once all of it ran. */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

#define POOL_SETS 1024

static tappa_status begin_cmd(tvk_device *dev, tappa_error *err)
{
    TVK_CHECK(err, dev->vk.vkResetCommandBuffer(dev->cmd, 0));
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    TVK_CHECK(err, dev->vk.vkBeginCommandBuffer(dev->cmd, &bi));
    dev->cmd_open = true;
    dev->recording = true;
    return TAPPA_OK;
}

tappa_status tvk_begin(tvk_device *dev, tappa_error *err)
{
    if (dev->recording)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "a recording is already open on %s", dev->info.name);
    dev->slot = 0;
    dev->cmd = dev->cmds[0];
    tappa_status st = begin_cmd(dev, err);
    if (!st) tvk_profile_begin(dev);
    return st;
}

/* End the command buffer being recorded and submit it, signalling its fence. */
static tappa_status submit_cmd(tvk_device *dev, tappa_error *err)
{
    dev->cmd_open = false;
    TVK_CHECK(err, dev->vk.vkEndCommandBuffer(dev->cmd));
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &dev->cmd,
    };
    TVK_CHECK(err, dev->vk.vkResetFences(dev->device, 1, &dev->fences[dev->slot]));
    TVK_CHECK(err, dev->vk.vkQueueSubmit(dev->queue, 1, &si, dev->fences[dev->slot]));
    return TAPPA_OK;
}

static tappa_status add_pool(tvk_device *dev, tappa_error *err)
{
    VkDescriptorPool *grown = realloc(dev->pools, (dev->n_pools + 1) * sizeof *grown);
    if (!grown) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    dev->pools = grown;
    VkDescriptorPoolSize size = {
        .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = POOL_SETS * TVK_MAX_BINDINGS,
    };
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = POOL_SETS,
        .poolSizeCount = 1,
        .pPoolSizes = &size,
    };
    TVK_CHECK(err, dev->vk.vkCreateDescriptorPool(dev->device, &ci, NULL, &dev->pools[dev->n_pools]));
    dev->n_pools++;
    return TAPPA_OK;
}

/* Allocate from the newest pool; a full pool gets a fresh one beside it. */
static tappa_status alloc_set(tvk_device *dev, VkDescriptorSetLayout layout, VkDescriptorSet *set,
                              tappa_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (dev->n_pools == 0 || attempt == 1) {
            tappa_status st = add_pool(dev, err);
            if (st) return st;
        }
        VkDescriptorSetAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = dev->pools[dev->n_pools - 1],
            .descriptorSetCount = 1,
            .pSetLayouts = &layout,
        };
        VkResult r = dev->vk.vkAllocateDescriptorSets(dev->device, &ai, set);
        if (r == VK_SUCCESS) return TAPPA_OK;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return tvk_fail_result(err, r, "vkAllocateDescriptorSets", __FILE__, __LINE__);
    }
    return tappa_fail(err, TAPPA_ERR_VULKAN, "descriptor pool exhausted twice");
}

tappa_status tvk_dispatch(tvk_device *dev, const tvk_pipeline *p, const tvk_binding *bindings,
                          const void *push, uint32_t push_bytes, uint32_t gx, uint32_t gy,
                          uint32_t gz, tappa_error *err)
{
    const tappa_device_info *info = &dev->info;
    if (gx > info->max_workgroup_count[0] || gy > info->max_workgroup_count[1] ||
        gz > info->max_workgroup_count[2])
        return tappa_fail(err, TAPPA_ERR_LIMIT, "dispatch %ux%ux%u exceeds maxComputeWorkGroupCount",
                          gx, gy, gz);
    if (push_bytes > TVK_PUSH_BYTES)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "push constants of %u bytes", push_bytes);
    VkDescriptorSet set;
    tappa_status st = alloc_set(dev, p->set_layout, &set, err);
    if (st) return st;
    VkDescriptorBufferInfo bi[TVK_MAX_BINDINGS];
    VkWriteDescriptorSet w[TVK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->n_bindings; i++) {
        if (bindings[i].range > info->max_storage_buffer_range_bytes)
            return tappa_fail(err, TAPPA_ERR_LIMIT,
                              "binding %u of %llu bytes exceeds maxStorageBufferRange (%llu)", i,
                              (unsigned long long)bindings[i].range,
                              (unsigned long long)info->max_storage_buffer_range_bytes);
        bi[i] = (VkDescriptorBufferInfo){
            .buffer = bindings[i].buffer->buffer,
            .offset = bindings[i].offset,
            .range = bindings[i].range,
        };
        w[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &bi[i],
        };
    }
    dev->vk.vkUpdateDescriptorSets(dev->device, p->n_bindings, w, 0, NULL);
    dev->vk.vkCmdBindPipeline(dev->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    dev->vk.vkCmdBindDescriptorSets(dev->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set,
                                    0, NULL);
    /* The layout declares the full 128-byte range; pad so every byte is defined. */
    uint8_t block[TVK_PUSH_BYTES] = { 0 };
    if (push_bytes) memcpy(block, push, push_bytes);
    dev->vk.vkCmdPushConstants(dev->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, TVK_PUSH_BYTES,
                               block);
    dev->vk.vkCmdDispatch(dev->cmd, gx, gy, gz);
    dev->dispatches++;
    return TAPPA_OK;
}

void tvk_barrier(tvk_device *dev)
{
    /* The transfer stage waits only where a copy was recorded since the
     * last barrier (earlier ones that barrier covered): a chain of compute
     * steps then waits for compute alone. */
    bool copies = dev->transfer_pending;
    dev->transfer_pending = false;
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | (copies ? VK_ACCESS_TRANSFER_WRITE_BIT : 0),
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags src = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | (copies ? VK_PIPELINE_STAGE_TRANSFER_BIT : 0);
    VkPipelineStageFlags dst = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    dev->vk.vkCmdPipelineBarrier(dev->cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

tappa_status tvk_submit_wait(tvk_device *dev, tappa_error *err)
{
    if (!dev->recording)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "submit without a recording");
    tvk_profile_end(dev);
    dev->recording = false;
    /* Make results visible to host reads of mapped memory. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    dev->vk.vkCmdPipelineBarrier(dev->cmd,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    tappa_status st = submit_cmd(dev, err);
    uint32_t submitted = st ? dev->slot : dev->slot + 1;
    /* Descriptor sets stay allocated until every part has run. */
    VkResult r = submitted ? dev->vk.vkWaitForFences(dev->device, submitted, dev->fences, VK_TRUE, UINT64_MAX)
                           : VK_SUCCESS;
    if (!st && r < 0) st = tvk_fail_result(err, r, "vkWaitForFences", __FILE__, __LINE__);
    for (size_t i = 0; i < dev->n_pools; i++) {
        r = dev->vk.vkResetDescriptorPool(dev->device, dev->pools[i], 0);
        if (!st && r < 0) st = tvk_fail_result(err, r, "vkResetDescriptorPool", __FILE__, __LINE__);
    }
    if (st) tvk_profile_discard(dev);
    else st = tvk_profile_collect(dev, err);
    return st;
}

tappa_status tvk_flush(tvk_device *dev, tappa_error *err)
{
    if (!dev->recording) return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "flush without a recording");
    if (dev->slot + 1 >= TVK_CMD_RING) return TAPPA_OK;
    tappa_status st = submit_cmd(dev, err);
    if (st) return st;
    dev->cmd = dev->cmds[++dev->slot];
    st = begin_cmd(dev, err);
    if (!st) tvk_profile_split(dev);
    return st;
}

void tvk_abort(tvk_device *dev)
{
    if (!dev->recording) return;
    dev->recording = false;
    tvk_profile_discard(dev);
    /* After a failed tvk_flush, cmd may be ended already or not begun. */
    if (dev->cmd_open) dev->vk.vkEndCommandBuffer(dev->cmd);
    dev->cmd_open = false;
    if (dev->slot) dev->vk.vkWaitForFences(dev->device, dev->slot, dev->fences, VK_TRUE, UINT64_MAX);
    for (uint32_t i = 0; i <= dev->slot; i++) dev->vk.vkResetCommandBuffer(dev->cmds[i], 0);
    for (size_t i = 0; i < dev->n_pools; i++)
        dev->vk.vkResetDescriptorPool(dev->device, dev->pools[i], 0);
    dev->slot = 0;
    dev->cmd = dev->cmds[0];
}

void tvk_grid(const tvk_device *dev, uint64_t groups, uint32_t *gx, uint32_t *gy)
{
    uint64_t max_x = dev->info.max_workgroup_count[0];
    if (groups == 0) groups = 1;
    if (groups <= max_x) {
        *gx = (uint32_t)groups;
        *gy = 1;
    } else {
        *gx = (uint32_t)max_x;
        *gy = (uint32_t)((groups + max_x - 1) / max_x);
    }
}

tappa_status tvk_timer_create(tvk_device *dev, uint32_t count, tvk_timer *out, tappa_error *err)
{
    memset(out, 0, sizeof *out);
    if (!dev->info.timestamps)
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "%s has no compute-queue timestamps",
                          dev->info.name);
    VkQueryPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = count,
    };
    TVK_CHECK(err, dev->vk.vkCreateQueryPool(dev->device, &ci, NULL, &out->pool));
    out->count = count;
    return TAPPA_OK;
}

void tvk_timer_destroy(tvk_device *dev, tvk_timer *t)
{
    if (t && t->pool) dev->vk.vkDestroyQueryPool(dev->device, t->pool, NULL);
    if (t) memset(t, 0, sizeof *t);
}

void tvk_timer_reset(tvk_device *dev, tvk_timer *t, uint32_t first, uint32_t count)
{
    dev->vk.vkCmdResetQueryPool(dev->cmd, t->pool, first, count);
}

void tvk_timestamp(tvk_device *dev, tvk_timer *t, uint32_t index)
{
    /* BOTTOM_OF_PIPE: the timestamp is written once all earlier work finished. */
    dev->vk.vkCmdWriteTimestamp(dev->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, t->pool, index);
}

tappa_status tvk_timer_read_ticks(tvk_device *dev, tvk_timer *t, uint32_t count, uint64_t *ticks, tappa_error *err)
{
    VkResult r = dev->vk.vkGetQueryPoolResults(dev->device, t->pool, 0, count, count * sizeof *ticks, ticks,
                                               sizeof *ticks, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    return r < 0 ? tvk_fail_result(err, r, "vkGetQueryPoolResults", __FILE__, __LINE__) : TAPPA_OK;
}

tappa_status tvk_timer_read_ns(tvk_device *dev, tvk_timer *t, double *ns, tappa_error *err)
{
    uint64_t *ticks = calloc(t->count, sizeof *ticks);
    if (!ticks) return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    tappa_status st = tvk_timer_read_ticks(dev, t, t->count, ticks, err);
    for (uint32_t i = 0; i < t->count && !st; i++) ns[i] = (double)ticks[i] * dev->info.timestamp_period_ns;
    free(ticks);
    return st;
}
