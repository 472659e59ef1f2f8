/* Device buffers and host<->device transfers. On unified-memory devices
 * tensors are mapped and copied with memcpy; elsewhere through a staging
 * buffer and vkCmdCopyBuffer, in chunks so staging stays small. */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

#define STAGING_CHUNK_BYTES ((VkDeviceSize)64 << 20)
/* Staging kept for the next copy up to this size: small copies (a decode
 * step's embedding row and logits) would otherwise pay an allocation each,
 * large ones amortise it and should not pin 64 MiB of host memory. */
#define STAGING_KEEP_BYTES ((VkDeviceSize)4 << 20)

tappa_status tvk_buffer_create(tvk_device *dev, VkDeviceSize bytes, bool staging, tvk_buffer *out,
                               tappa_error *err)
{
    memset(out, 0, sizeof *out);
    if (bytes == 0) bytes = 4; /* Vulkan forbids empty buffers; empty tensors still get a handle */
    if (bytes > dev->info.max_memory_allocation_bytes)
        return tappa_fail(err, TAPPA_ERR_LIMIT,
                          "buffer of %llu bytes exceeds maxMemoryAllocationSize (%llu) of %s",
                          (unsigned long long)bytes,
                          (unsigned long long)dev->info.max_memory_allocation_bytes, dev->info.name);
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = bytes,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    TVK_CHECK(err, dev->vk.vkCreateBuffer(dev->device, &bci, NULL, &out->buffer));
    VkMemoryRequirements req;
    dev->vk.vkGetBufferMemoryRequirements(dev->device, out->buffer, &req);
    uint32_t type = staging ? dev->staging_memory_type : dev->tensor_memory_type;
    if (!(req.memoryTypeBits & (1u << type))) {
        tvk_buffer_destroy(dev, out);
        return tappa_fail(err, TAPPA_ERR_UNSUPPORTED, "no suitable memory type for a storage buffer on %s",
                          dev->info.name);
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    VkResult r = dev->vk.vkAllocateMemory(dev->device, &mai, NULL, &out->memory);
    if (r < 0) {
        tvk_buffer_destroy(dev, out);
        return tappa_fail(err, TAPPA_ERR_NO_MEMORY, "cannot allocate %llu bytes on %s (%s)",
                          (unsigned long long)req.size, dev->info.name, tvk_result_name(r));
    }
    r = dev->vk.vkBindBufferMemory(dev->device, out->buffer, out->memory, 0);
    if (r < 0) {
        tvk_buffer_destroy(dev, out);
        return tvk_fail_result(err, r, "vkBindBufferMemory", __FILE__, __LINE__);
    }
    if (staging || dev->tensor_memory_mapped) {
        r = dev->vk.vkMapMemory(dev->device, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped);
        if (r < 0) {
            tvk_buffer_destroy(dev, out);
            return tvk_fail_result(err, r, "vkMapMemory", __FILE__, __LINE__);
        }
    }
    out->bytes = bytes;
    return TAPPA_OK;
}

void tvk_buffer_destroy(tvk_device *dev, tvk_buffer *b)
{
    if (!b) return;
    if (b->buffer) dev->vk.vkDestroyBuffer(dev->device, b->buffer, NULL);
    if (b->memory) dev->vk.vkFreeMemory(dev->device, b->memory, NULL); /* unmaps too */
    memset(b, 0, sizeof *b);
}

/* Copy between a buffer range and host memory via staging, chunk by chunk. */
static tappa_status staged_copy(tvk_device *dev, const tvk_buffer *b, VkDeviceSize offset,
                                void *host, size_t bytes, bool to_device, tappa_error *err)
{
    VkDeviceSize chunk = bytes < STAGING_CHUNK_BYTES ? bytes : STAGING_CHUNK_BYTES;
    tappa_status st = TAPPA_OK;
    if (dev->staging.bytes < chunk) {
        tvk_buffer_destroy(dev, &dev->staging);
        st = tvk_buffer_create(dev, chunk, true, &dev->staging, err);
        if (st) return st;
    }
    const tvk_buffer *staging = &dev->staging;
    for (size_t done = 0; done < bytes && !st; done += chunk) {
        VkDeviceSize n = bytes - done < chunk ? bytes - done : chunk;
        if (to_device) memcpy(staging->mapped, (char *)host + done, n);
        st = tvk_begin(dev, err);
        if (st) break;
        VkBufferCopy region = {
            .srcOffset = to_device ? 0 : offset + done,
            .dstOffset = to_device ? offset + done : 0,
            .size = n,
        };
        if (to_device)
            dev->vk.vkCmdCopyBuffer(dev->cmd, staging->buffer, b->buffer, 1, &region);
        else
            dev->vk.vkCmdCopyBuffer(dev->cmd, b->buffer, staging->buffer, 1, &region);
        dev->transfer_pending = true;
        st = tvk_submit_wait(dev, err);
        if (!st && !to_device) memcpy((char *)host + done, staging->mapped, n);
    }
    if (dev->staging.bytes > STAGING_KEEP_BYTES) tvk_buffer_destroy(dev, &dev->staging);
    return st;
}

tappa_status tvk_buffer_write(tvk_device *dev, tvk_buffer *b, VkDeviceSize offset, const void *src,
                              size_t bytes, tappa_error *err)
{
    if (b->mapped) {
        memcpy((char *)b->mapped + offset, src, bytes);
        return TAPPA_OK;
    }
    return staged_copy(dev, b, offset, (void *)src, bytes, true, err);
}

tappa_status tvk_buffer_read(tvk_device *dev, const tvk_buffer *b, VkDeviceSize offset, void *dst,
                             size_t bytes, tappa_error *err)
{
    if (b->mapped) {
        memcpy(dst, (const char *)b->mapped + offset, bytes);
        return TAPPA_OK;
    }
    return staged_copy(dev, b, offset, dst, bytes, false, err);
}

tappa_status tvk_buffer_fill(tvk_device *dev, tvk_buffer *b, uint32_t bits, tappa_error *err)
{
    tappa_status st = tvk_begin(dev, err);
    if (st) return st;
    dev->vk.vkCmdFillBuffer(dev->cmd, b->buffer, 0, VK_WHOLE_SIZE, bits);
    dev->transfer_pending = true;
    return tvk_submit_wait(dev, err);
}
