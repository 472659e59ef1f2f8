#!/usr/bin/env python3
"""Summarise a clock-probe build's stamps (clock-probe.patch): per workgroup,
eight u32 = realtime ns at start, Q tile done, key loop end, partials stored,
counted, end; SM id | merging << 16 | KV head << 20; SM cycles start to end.
Session 17's probe (clock-probe.patch here) also has each KV head's merging
workgroup stamp its merge, from word 3072: 8 u32 per KV head = realtime ns at
the merge's start, after its first batch of partials, after the last, after
its output stores. Usage: stamps.py stamps-N.bin [...]"""
import statistics as st
import struct
import sys

MERGE_AT = 3072  # first word of the merges' stamps


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


for path in sys.argv[1:]:
    raw = open(path, 'rb').read()
    a = struct.unpack('<%dI' % (len(raw) // 4), raw)
    rows = [a[i:i + 8] for i in range(0, min(len(a), MERGE_AT), 8) if a[i]]
    merges = [a[i:i + 4] for i in range(MERGE_AT, len(a), 8) if a[i]]
    t0 = min(r[0] for r in rows)
    rel = [[((r[k] - t0) % (1 << 32)) / 1000 for k in range(6)] for r in rows]
    sm = [r[6] & 0xffff for r in rows]
    last = [(r[6] >> 16) & 1 for r in rows]
    head = [r[6] >> 20 for r in rows]
    life = [(r[5] - r[0]) % (1 << 32) for r in rows]
    ghz = st.median([r[7] / n for r, n in zip(rows, life) if n])
    print(f'{path}: {len(rows)} workgroups on {len(set(sm))} SMs, {sum(last)} merging, SM clock {ghz:.2f} GHz')
    names = ['start', 'Q tile done', 'loop end', 'partials stored', 'counted', 'end']
    for k, name in enumerate(names):
        c = [x[k] for x in rel]
        print(f'  {name:16s} min {min(c):7.2f}  p10 {pct(c, .1):7.2f}  median {st.median(c):7.2f}'
              f'  p90 {pct(c, .9):7.2f}  max {max(c):7.2f} us')
    ms = [i for i in range(len(rows)) if last[i]]
    for what, k in (('loop end', 2), ('counted', 4), ('end', 5)):
        print(f'  merging workgroups, {what:8s}', ' '.join(f'{rel[i][k]:.2f}' for i in ms))
    heads = []
    for h in sorted(set(head)):
        le = sorted(rel[i][2] for i in range(len(rows)) if head[i] == h)
        heads.append(f'{h}: {le[0]:.1f}/{st.median(le):.1f}/{le[-1]:.1f}')
    print('  loop end per KV head, min/median/max:', '  '.join(heads))
    if merges:
        mnames = ['merge start', 'first batch', 'last batch', 'stores issued']
        for k, name in enumerate(mnames):
            print(f'  {name:16s}', ' '.join(f'{((m[k] - t0) % (1 << 32)) / 1000:.2f}' for m in merges))
