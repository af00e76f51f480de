"""Benchmark of the S² and SO(3) Fourier transforms (issue 2).

For b in (8, 16, 32, 64) and a batch of 64 real float32 signals: forward, inverse (real output), and
forward+inverse with backward, on CPU and on CUDA when present. Reports median wall time, peak extra memory,
and GFLOP/s of the Wigner step (the batched matrix products over beta: 4 real FLOPs per complex-by-real
multiply-add, counting only the non-redundant half of the spectrum that the transforms compute). When e3nn is
installed (``pip install -e .[bench]``), times e3nn's ``FromS2Grid`` / ``ToS2Grid`` at the same lmax = b-1 and grid
2b x 2b, and reports the speed ratio.

    python scripts/benchmark_transforms.py                 # all sizes, JSON to scripts/results/
    python scripts/benchmark_transforms.py --sizes 8       # the smallest size only (what the README runs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import devices, machine, measure  # noqa: E402

from sphere_study._io import atomic_write_json  # noqa: E402
from sphere_study.harmonics import s2_fft, s2_ifft, so3_fft, so3_ifft  # noqa: E402
from sphere_study.harmonics._fft import soft_wigner_step  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def wigner_step_flops(space: str, b: int, n_signals: int) -> int:
    """Real FLOPs of one Wigner step on the non-redundant half: sum over stored pairs (m, n>=0) of (#l) * 2b * 4."""
    count = 0
    for m in range(-b + 1, b):
        for n in range(0, b) if space == "so3" else (0,):
            if space == "s2" and m < 0:
                continue
            count += b - max(abs(m), abs(n))
    return 4 * count * 2 * b * n_signals


def bench_transform(space: str, b: int, batch: int, device: torch.device, repeats: int) -> dict:
    fft, ifft = (s2_fft, s2_ifft) if space == "s2" else (so3_fft, so3_ifft)
    shape = (batch,) + (2 * b,) * (2 if space == "s2" else 3)
    x = torch.randn(*shape, device=device)
    fft(x)  # builds and caches the tables (not timed)
    xhat = fft(x)
    flops = wigner_step_flops(space, b, batch)
    executed = soft_wigner_step(space, b, b, torch.float32, device).flops(batch)

    def fwd_bwd():
        xg = x.detach().requires_grad_(True)
        ifft(fft(xg), real=True).square().sum().backward()

    out = {"space": space, "b": b, "batch": batch, "device": device.type, "wigner_gflop": flops / 1e9,
           "wigner_gflop_executed": executed / 1e9}  # fmt: skip
    for name, fn in (
        ("forward", lambda: fft(x)),
        ("inverse", lambda: ifft(xhat, real=True)),
        ("fwd_inv_backward", fwd_bwd),
    ):
        r = measure(fn, device, repeats=repeats)
        out[name] = r
        if name != "fwd_inv_backward":
            r["wigner_gflops_per_s"] = flops / r["median_s"] / 1e9
    return out


def bench_e3nn(b: int, batch: int, device: torch.device, repeats: int, ours: dict) -> dict | None:
    try:
        from e3nn import o3
    except ImportError:
        return None
    to_grid = o3.ToS2Grid(lmax=b - 1, res=(2 * b, 2 * b), device=device)
    from_grid = o3.FromS2Grid(res=(2 * b, 2 * b), lmax=b - 1, device=device)
    x = torch.randn(batch, 2 * b, 2 * b, device=device)
    coeffs = from_grid(x)
    forward = measure(lambda: from_grid(x), device, repeats=repeats)
    inverse = measure(lambda: to_grid(coeffs), device, repeats=repeats)
    return {
        "b": b,
        "device": device.type,
        "forward": forward,
        "inverse": inverse,
        "speedup_forward": forward["median_s"] / ours["forward"]["median_s"],
        "speedup_inverse": inverse["median_s"] / ours["inverse"]["median_s"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="only this device")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default scripts/results/benchmark_transforms[_<sizes>].json)"
    )
    args = parser.parse_args(argv)
    rows, e3nn_rows = [], []
    header = (
        f"{'space':5} {'b':>3} {'dev':4} {'fwd s':>9} {'inv s':>9} {'fwd+inv+bwd s':>14} {'peak MiB':>9} "
        f"{'fwd GFLOP/s':>11} {'inv GFLOP/s':>11}"
    )
    print(header)
    for device in devices(args.device):
        for b in args.sizes:
            for space in ("s2", "so3"):
                r = bench_transform(space, b, args.batch, device, args.repeats)
                rows.append(r)
                peak = max(r[k]["peak_mem_mib"] for k in ("forward", "inverse", "fwd_inv_backward"))
                print(
                    f"{space:5} {b:3d} {device.type:4} {r['forward']['median_s']:9.4f} {r['inverse']['median_s']:9.4f} "
                    f"{r['fwd_inv_backward']['median_s']:14.4f} {peak:9.1f} "
                    f"{r['forward']['wigner_gflops_per_s']:11.2f} "
                    f"{r['inverse']['wigner_gflops_per_s']:11.2f}"
                )
                if space == "s2":
                    e = bench_e3nn(b, args.batch, device, args.repeats, r)
                    if e is not None:
                        e3nn_rows.append(e)
                        print(
                            f"      e3nn S2 b={b} {device.type}: forward {e['forward']['median_s']:.4f}s "
                            f"(e3nn time / ours = {e['speedup_forward']:.1f}), inverse {e['inverse']['median_s']:.4f}s "
                            f"(e3nn time / ours = {e['speedup_inverse']:.1f})"
                        )
    if not e3nn_rows:
        print("e3nn not installed: install the bench extra (pip install -e .[bench]) for the side-by-side comparison")
    suffix = "" if args.sizes == [8, 16, 32, 64] else "_" + "_".join(map(str, args.sizes))
    out = args.out or RESULTS / f"benchmark_transforms{suffix}.json"
    atomic_write_json(out, {"machine": machine(), "batch": args.batch, "transforms": rows, "e3nn_s2": e3nn_rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
