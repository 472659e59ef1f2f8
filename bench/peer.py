#!/usr/bin/env python3
"""The CUDA peer of tappa-bench: PyTorch on the same GPU, the same shapes.

Times, with CUDA events (median of --reps batches of back-to-back calls,
inputs rotated over enough sets to leave the L2 cache, as tappa-bench does):
  copy     a 1 GiB f32 clone (read + write), the yardstick of this run;
  decode   SDPA, fp16, one query per head, Hq 32 / Hkv 8 / D 128 (enable_gqa),
           contexts 1K..128K;
  prefill  causal SDPA, fp16, the same heads, prompts 1K..16K;
  qsim     the reference's O(T^2 D) cosine q-similarity (normalise, u u^T,
           mean off the diagonal), L 32 x Hq 32 heads, T 1024, D 128, fp32.
Writes JSON (--json) for tappa-peer; prints a table.
Needs torch with CUDA; run on the lent GPU (bench/run-on-device.sh peer).
"""
import argparse
import json
import math
import os
import statistics
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit("peer.py: needs PyTorch (import torch failed); run it on the GPU machine")

L2_ROTATE_BYTES = 512 << 20  # rotate inputs over at least this much memory


def sets_for(bytes_per_set):
    return max(1, min(64, math.ceil(L2_ROTATE_BYTES / bytes_per_set)))


BATCH = 10  # calls between one pair of events


def time_us(fn, sets, reps):
    """Median over reps of the mean time of BATCH back-to-back calls fn(i % sets),
    in microseconds, after a warm-up. Calls queue behind each other, so the
    GPU never waits for Python to launch the next one (tappa-bench's GPU
    timestamps have no launch gap either); one call per event pair would count
    the launch latency, some 10-20 us, as kernel time."""
    for i in range(max(3, sets)):
        fn(i % sets)
    torch.cuda.synchronize()
    times = []
    for i in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for j in range(BATCH):
            fn((i * BATCH + j) % sets)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / BATCH)
    return statistics.median(times)


def bench_copy(reps):
    n = 256 << 20
    src = torch.empty(n, dtype=torch.float32, device="cuda").uniform_()
    dst = torch.empty_like(src)
    us = time_us(lambda i: dst.copy_(src), 1, reps)
    return {"op": "copy", "case": "n=%d (1024 MiB)" % n, "us": us, "bytes": 8.0 * n, "gbps": 8.0 * n / us / 1e3}


def bench_decode(n, reps, hq=32, hkv=8, d=128):
    kv_bytes = 2 * hkv * n * d * 2
    sets = sets_for(kv_bytes)
    qs = [torch.randn(1, hq, 1, d, dtype=torch.float16, device="cuda") for _ in range(sets)]
    ks = [torch.randn(1, hkv, n, d, dtype=torch.float16, device="cuda") for _ in range(sets)]
    vs = [torch.randn(1, hkv, n, d, dtype=torch.float16, device="cuda") for _ in range(sets)]
    us = time_us(lambda i: F.scaled_dot_product_attention(qs[i], ks[i], vs[i], enable_gqa=True), sets, reps)
    # The same bytes tappa-bench counts: q (f32 there, fp16 here: both negligible), K, V, out.
    byts = kv_bytes + 2 * hq * d * 2
    return {"op": "decode", "ctx": n, "case": "decode hq=%d hkv=%d ctx=%d d=%d" % (hq, hkv, n, d), "us": us,
            "bytes": byts, "gbps": byts / us / 1e3, "sets": sets}


def bench_prefill(n, reps, hq=32, hkv=8, d=128):
    q = torch.randn(1, hq, n, d, dtype=torch.float16, device="cuda")
    k = torch.randn(1, hkv, n, d, dtype=torch.float16, device="cuda")
    v = torch.randn(1, hkv, n, d, dtype=torch.float16, device="cuda")
    us = time_us(lambda i: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True), 1, reps)
    flops = 2.0 * 2.0 * hq * n * n * d / 2  # QK^T and PV, half under the causal mask (as tappa-bench)
    return {"op": "prefill", "ctx": n, "case": "prefill causal hq=%d hkv=%d n=%d d=%d" % (hq, hkv, n, d), "us": us,
            "flops": flops, "tflops": flops / us / 1e6}


def qsim_reference(q):
    """The reference's form: cosine of every ordered pair, mean off the diagonal, per head."""
    u = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    sim = u @ u.transpose(-1, -2)
    t = q.shape[-2]
    return (sim.sum(dim=(-1, -2)) - sim.diagonal(dim1=-2, dim2=-1).sum(-1)) / (t * (t - 1))


def bench_qsim(reps, heads=1024, t=1024, d=128):
    q = torch.randn(heads, t, d, dtype=torch.float32, device="cuda")
    us = time_us(lambda i: qsim_reference(q), 1, reps)
    byts = 4.0 * heads * t * d + 4.0 * heads
    return {"op": "qsim", "case": "heads=%d t=%d d=%d" % (heads, t, d), "us": us, "bytes": byts,
            "gbps": byts / us / 1e3, "flops": 2.0 * heads * t * t * d}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="a few small shapes")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("peer.py: no CUDA device visible to PyTorch")
    contexts = [1024, 4096] if a.quick else [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
    prompts = [1024] if a.quick else [1024, 2048, 4096, 8192, 16384]
    ops = [bench_copy(a.reps)]
    for n in contexts:
        ops.append(bench_decode(n, a.reps))
        print("decode %6d: %8.1f us" % (n, ops[-1]["us"]), file=sys.stderr)
    for n in prompts:
        ops.append(bench_prefill(n, max(5, a.reps // 3)))
        print("prefill %5d: %8.1f us" % (n, ops[-1]["us"]), file=sys.stderr)
    ops.append(bench_qsim(a.reps, heads=32 if a.quick else 1024))
    copy = ops[0]["gbps"]
    out = {"peer": "pytorch %s, cuda %s, sdpa backend default" % (torch.__version__, torch.version.cuda),
           "timing": "median of %d batches of %d back-to-back calls, CUDA events" % (a.reps, BATCH),
           "device": torch.cuda.get_device_name(), "reps": a.reps, "copy_gbps": copy, "ops": ops}
    print("peer (%s) on %s, copy %.1f GB/s" % (out["peer"], out["device"], copy))
    for o in ops:
        rate = ("%8.1f GB/s %5.1f%% of copy" % (o["gbps"], 100 * o["gbps"] / copy)) if "gbps" in o else \
               ("%8.1f TFLOP/s" % o["tflops"])
        print("%-8s %-40s %10.1f us %s" % (o["op"], o["case"], o["us"], rate))
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
