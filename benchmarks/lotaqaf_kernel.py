"""Fused LoTA-QAF kernel benchmark (docs/methods.md §2, kernel benchmark).

Contenders in one process: (1) cuBLAS fp16 ``F.linear`` on the dequantized weight, (2) torch dequantize-then-matmul
(the reference), (3) fused unmerged int4+ternary, (4) fused merged int4, (5) a copy kernel for the bandwidth
reference. CUDA events around N launches without per-launch sync, median of 5; ≥ 4 weight copies rotated so
weights stream from HBM, not L2. Prints time, GB/s, efficiency vs the copy kernel and the ratios (1)/(3),
(1)/(4), (2)/(3). Without a GPU it checks the reference path against the layers and says so.

    python benchmarks/lotaqaf_kernel.py [--shapes 4096x4096,14336x4096] [--batches 1,16] [--group-size 64]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess

import torch

from arx.methods.quantization import QuantLinear, TernaryLinear, quantize_rtn
from arx.methods.quantization.kernel import (
    PackedWeight,
    kernel_available,
    lota_gemv,
    lota_gemv_reference,
    pack_layer,
    reference_weight,
)

DEFAULT_SHAPES = "4096x4096,1024x4096,14336x4096,4096x14336,28672x8192"  # N x K (out x in)


def make_layers(n: int, k: int, group_size: int, seed: int, device: str) -> tuple[PackedWeight, PackedWeight]:
    """(unmerged, merged) packed weights of one random ternary-adapted int4 layer."""
    g = torch.Generator().manual_seed(seed)
    base = QuantLinear(quantize_rtn((torch.randn(n, k, generator=g) * 0.02).to(device), 4, group_size))
    layer = TernaryLinear(base, rank=16, omega=4.0, generator=g)
    with torch.no_grad():
        layer.B.copy_(torch.randint(-1, 2, layer.B.shape, generator=g).float())
        layer.to(device)
        return pack_layer(layer), pack_layer(layer.merged())


def bytes_moved(w: PackedWeight, b: int) -> int:
    """Bytes a GEMV must read/write, counted like Marlin's bench: weights + scales + zeros + x + y."""
    weights = w.q.numel() + (0 if w.t is None else w.t.numel())
    n, k = w.shape
    return weights + 2 * (w.scales.numel() + w.zf.numel()) + 2 * b * k + 4 * b * n


def time_ms(fn, args_list, iters: int = 100, reps: int = 5) -> float:
    """Median over ``reps`` of the mean time per launch of ``iters`` launches cycling through ``args_list``."""
    for a in args_list:
        fn(*a)
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for i in range(iters):
            fn(*args_list[i % len(args_list)])
        end.record()
        torch.cuda.synchronize()
        out.append(start.elapsed_time(end) / iters)
    return statistics.median(out)


def copy_bandwidth_gbs() -> float:
    src = torch.empty(2 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = time_ms(lambda: dst.copy_(src), [()], iters=20)
    return 2 * src.numel() / (ms * 1e-3) / 1e9


def gpu_bench(shapes: list[tuple[int, int]], batches: list[int], group_size: int, copies: int) -> None:
    print(f"device: {torch.cuda.get_device_name()}")
    try:
        clocks = subprocess.run(["nvidia-smi", "-q", "-d", "CLOCK"], capture_output=True, text=True, timeout=20).stdout
        print("\n".join(line for line in clocks.splitlines() if "SM" in line or "Memory" in line)[:800])
    except (OSError, subprocess.SubprocessError):
        print("nvidia-smi unavailable (clocks not recorded)")
    bw = copy_bandwidth_gbs()
    print(f"(5) copy kernel bandwidth BW_copy = {bw:.0f} GB/s")
    hdr = (f"{'N':>6} {'K':>6} {'B':>3} | {'cublas':>8} {'torch':>8} {'fusedU':>8} {'fusedM':>8} ms | "
           f"{'GB/s U':>7} {'eff U':>6} {'GB/s M':>7} {'eff M':>6} | {'(1)/(3)':>7} {'(1)/(4)':>7} {'(2)/(3)':>7} | err")
    print(hdr)
    for n, k in shapes:
        pairs = [make_layers(n, k, group_size, s, "cuda") for s in range(copies)]
        fp16_w = [reference_weight(u).half() for u, _ in pairs]
        for b in batches:
            x = torch.randn(b, k, device="cuda").half()
            want = lota_gemv_reference(x, pairs[0][0])
            err_u = float((lota_gemv(x, pairs[0][0]) - want).abs().max() / want.abs().max())
            err_m = float((lota_gemv(x, pairs[0][1]) - want).abs().max() / want.abs().max())
            t1 = time_ms(lambda w: torch.nn.functional.linear(x, w), [(w,) for w in fp16_w])
            t2 = time_ms(lambda w: lota_gemv_reference(x, w), [(u,) for u, _ in pairs], iters=20)
            t3 = time_ms(lambda w: lota_gemv(x, w), [(u,) for u, _ in pairs])
            t4 = time_ms(lambda w: lota_gemv(x, w), [(m,) for _, m in pairs])
            gu = bytes_moved(pairs[0][0], b) / (t3 * 1e-3) / 1e9
            gm = bytes_moved(pairs[0][1], b) / (t4 * 1e-3) / 1e9
            print(f"{n:>6} {k:>6} {b:>3} | {t1:8.4f} {t2:8.4f} {t3:8.4f} {t4:8.4f}    | {gu:7.0f} {gu / bw:6.1%} "
                  f"{gm:7.0f} {gm / bw:6.1%} | {t1 / t3:7.2f} {t1 / t4:7.2f} {t2 / t3:7.2f} | "
                  f"{max(err_u, err_m):.1e}")
        del pairs, fp16_w
        torch.cuda.empty_cache()


def cpu_check(group_size: int) -> None:
    """No GPU: the correctness path only (reference vs the torch layers), no performance numbers."""
    torch.set_num_threads(1)
    print("no GPU (or no CuPy): running the reference correctness path only; no kernel timings")
    g = torch.Generator().manual_seed(0)
    base = QuantLinear(quantize_rtn(torch.randn(256, 512, generator=g), 4, group_size))
    layer = TernaryLinear(base, rank=16, omega=4.0, generator=g)
    with torch.no_grad():
        layer.B.copy_(torch.randint(-1, 2, layer.B.shape, generator=g).float())
        for b in (1, 16):
            x = torch.randn(b, 512, generator=g).half()
            want = layer(x.float())
            got_u = lota_gemv_reference(x, pack_layer(layer))
            got_m = lota_gemv_reference(x, pack_layer(layer.merged()))
            scale = float(want.abs().max())
            print(f"B={b:>2}: reference(unmerged) vs layer rel err {float((got_u - want).abs().max()) / scale:.2e} "
                  f"(fp16 scales/zf), merged vs unmerged rel err {float((got_m - got_u).abs().max()) / scale:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated NxK (out x in)")
    ap.add_argument("--batches", default="1,2,4,8,16")
    ap.add_argument("--group-size", type=int, default=64)
    ap.add_argument("--copies", type=int, default=4, help="weight copies rotated so weights come from HBM")
    a = ap.parse_args()
    if not kernel_available():
        cpu_check(a.group_size)
        return
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    gpu_bench(shapes, [int(b) for b in a.batches.split(",")], a.group_size, a.copies)


if __name__ == "__main__":
    main()
