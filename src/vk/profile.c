/* GPU time per named stage of recorded work: a timestamp opens each
 * recording and one closes each stage (tvk_stage); once the recording has run
 * the differences are added to the stages' totals, by name. */
#include <stdlib.h>
#include <string.h>

#include "vk.h"

/* Timestamps per recording: a Llama-3-8B decode step writes about 390. */
#define PROFILE_MARKS 4096
#define PROFILE_STAGES 64
/* Queries reset at a time, as a recording reaches them: a recording that
 * writes a few timestamps (an upload's) does not pay for resetting 4096. */
#define PROFILE_RESET_STEP 128

typedef struct tvk_profile {
    tvk_timer timer;                         /* PROFILE_MARKS timestamps */
    uint32_t marks;                          /* written in the open recording */
    uint32_t reset;                          /* queries reset in it, [0, reset) */
    const char *closes[PROFILE_MARKS];       /* closes[i]: the stage timestamp i ends (NULL: i = 0) */
    uint64_t dispatches[PROFILE_MARKS];      /* dev->dispatches when timestamp i was recorded */
    tappa_gpu_stage totals[PROFILE_STAGES];
    size_t n_totals;
} tvk_profile;

tappa_status tvk_profile_start(tvk_device *dev, tappa_error *err)
{
    /* An open recording refers to the current query pool. */
    if (dev->recording)
        return tappa_fail(err, TAPPA_ERR_INVALID_ARG, "profiling cannot start inside a recording");
    tvk_profile_stop(dev);
    tvk_profile *p = calloc(1, sizeof *p);
    tappa_status st = p ? tvk_timer_create(dev, PROFILE_MARKS, &p->timer, err)
                        : tappa_fail(err, TAPPA_ERR_NO_MEMORY, "out of host memory");
    if (st) {
        free(p);
        return st;
    }
    dev->profile = p;
    return TAPPA_OK;
}

void tvk_profile_stop(tvk_device *dev)
{
    tvk_profile *p = dev->profile;
    if (!p) return;
    tvk_timer_destroy(dev, &p->timer);
    free(p);
    dev->profile = NULL;
}

/* Timestamp p->marks, closing the stage name. Past PROFILE_MARKS the rest of
 * the recording is not timed (ten times what a decode step writes). */
static void mark(tvk_device *dev, tvk_profile *p, const char *name)
{
    if (p->marks >= PROFILE_MARKS) return;
    if (p->marks == p->reset) {
        uint32_t n = PROFILE_MARKS - p->reset < PROFILE_RESET_STEP ? PROFILE_MARKS - p->reset : PROFILE_RESET_STEP;
        tvk_timer_reset(dev, &p->timer, p->reset, n);
        p->reset += n;
    }
    tvk_timestamp(dev, &p->timer, p->marks);
    p->closes[p->marks] = name;
    p->dispatches[p->marks] = dev->dispatches;
    p->marks++;
}

void tvk_profile_begin(tvk_device *dev)
{
    tvk_profile *p = dev->profile;
    if (!p) return;
    p->marks = 0;
    p->reset = 0;
    mark(dev, p, NULL);
}

void tvk_stage(tvk_device *dev, const char *name)
{
    if (dev->profile && dev->recording) mark(dev, dev->profile, name);
}

/* The new command buffer of a split recording starts with a timestamp: the
 * time since the last one of the previous buffer is the GPU waiting for the
 * host to submit this one. */
void tvk_profile_split(tvk_device *dev)
{
    if (dev->profile && dev->profile->marks) mark(dev, dev->profile, TVK_STAGE_WAIT);
}

void tvk_profile_end(tvk_device *dev)
{
    /* Whatever was recorded after the last stage (copies included). */
    if (dev->profile && dev->profile->marks) mark(dev, dev->profile, TVK_STAGE_UNNAMED);
}

void tvk_profile_discard(tvk_device *dev)
{
    if (dev->profile) dev->profile->marks = 0;
}

static tappa_gpu_stage *total_for(tvk_profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_totals; i++)
        if (!strcmp(p->totals[i].name, name)) return &p->totals[i];
    if (p->n_totals == PROFILE_STAGES) return NULL; /* more names than any caller uses: not counted */
    p->totals[p->n_totals] = (tappa_gpu_stage){ .name = name };
    return &p->totals[p->n_totals++];
}

tappa_status tvk_profile_collect(tvk_device *dev, tappa_error *err)
{
    tvk_profile *p = dev->profile;
    if (!p || p->marks < 2) return TAPPA_OK;
    uint32_t count = p->marks;
    p->marks = 0;
    uint64_t ticks[PROFILE_MARKS];
    tappa_status st = tvk_timer_read_ticks(dev, &p->timer, count, ticks, err);
    if (st) return st;
    /* Timestamps wrap past their valid bits: differences are taken modulo. */
    uint32_t bits = dev->info.timestamp_valid_bits;
    uint64_t mask = bits == 0 || bits >= 64 ? UINT64_MAX : (1ull << bits) - 1;
    for (uint32_t i = 1; i < count; i++) {
        tappa_gpu_stage *t = total_for(p, p->closes[i]);
        if (!t) continue;
        t->ms += (double)((ticks[i] - ticks[i - 1]) & mask) * dev->info.timestamp_period_ns / 1e6;
        t->runs++;
        t->dispatches += p->dispatches[i] - p->dispatches[i - 1];
    }
    return TAPPA_OK;
}

size_t tvk_profile_stages(const tvk_device *dev, tappa_gpu_stage *out, size_t max)
{
    const tvk_profile *p = dev->profile;
    if (!p) return 0;
    for (size_t i = 0; i < p->n_totals && i < max; i++) out[i] = p->totals[i];
    return p->n_totals;
}
