"""Benchmark of the model presets (issues 3, 13): forward and forward+backward time per batch, in seconds and in
reference units (the seconds one GFLOP of complex64 ``torch.bmm`` takes, measured interleaved in the same process:
see ``_timing.ReferenceGEMM``), and peak memory (RSS growth on CPU, ``max_memory_allocated`` on CUDA).

Every registered preset at its native bandwidth (S2CNN classifiers b=30, segmenters b=50, CNN classifiers b=30,
CNN segmenters b=50), batch 32 (and 8 for the 5.5M CNN), CPU and CUDA when present; JSON to scripts/results/.
``--models NAME[:BATCH] ...`` picks presets and batches. ``--targets`` runs the two workloads of issue 13 (Cohen
classifier at batch 32, the 204k segmenter at batch 4) and prints them against their targets. ``--profile`` adds
a per-operation table (``_profile.py``).

    python scripts/benchmark_models.py
    python scripts/benchmark_models.py --targets --profile
    python scripts/benchmark_models.py --models s2cnn_cls_cohen:32 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _profile import format_profile, profile_model  # noqa: E402
from _timing import ReferenceGEMM, devices, machine, measure_in_reference_units  # noqa: E402

from sphere_study._io import atomic_write_json  # noqa: E402
from sphere_study.models import available_models, build_model, count_parameters  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NATIVE_BANDWIDTH = {"cls": 30, "seg": 50}
EXTRA_BATCHES = {"cnn_seg_5p5m": [8]}
#: Issue 13's workloads and their targets in reference units (forward+backward), and the segmenter's memory target.
TARGETS = {("s2cnn_cls_cohen", 32): 15.0, ("s2cnn_seg_204k", 4): 380.0}
MEMORY_TARGET_MIB = {("s2cnn_seg_204k", 4): 1.1 * 1024}


def native_bandwidth(name: str) -> int:
    return NATIVE_BANDWIDTH["seg" if "_seg_" in name else "cls"]


def _workload(name: str, batch: int, device: torch.device):
    b = native_bandwidth(name)
    model = build_model(name, bandwidth=b).to(device)
    x = torch.rand(batch, model.in_channels, 2 * b, 2 * b, device=device)
    target = (
        torch.randint(0, model.num_classes, (batch,), device=device)
        if model.output_kind == "logits"
        else torch.randint(0, model.num_classes, (batch, 2 * b, 2 * b), device=device)
    )

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), target).backward()

    model.train()
    return model, forward, forward_backward


def bench(name: str, batch: int, device: torch.device, repeats: int, reference: ReferenceGEMM, profile: bool) -> dict:
    model, forward, forward_backward = _workload(name, batch, device)
    fwd = measure_in_reference_units(forward, device, reference, repeats=repeats)
    fwd_bwd = measure_in_reference_units(forward_backward, device, reference, repeats=repeats)
    row = {"model": name, "parameters": count_parameters(model), "bandwidth": native_bandwidth(name), "batch": batch,
           "device": device.type, "forward": fwd, "forward_backward": fwd_bwd,
           "backward_s": fwd_bwd["median_s"] - fwd["median_s"]}  # fmt: skip
    if (name, batch) in TARGETS:
        row["target_reference_units"] = TARGETS[(name, batch)]
    if (name, batch) in MEMORY_TARGET_MIB:
        row["target_peak_mem_mib"] = MEMORY_TARGET_MIB[(name, batch)]
    if profile and device.type == "cpu":
        row["profile"] = profile_model(forward_backward, model, batch, reference.rate_gflops())
    return row


def _parse_models(specs, default_batch: int) -> list[tuple[str, int]]:
    out = []
    for spec in specs:
        name, _, batch = spec.partition(":")
        out.append((name, int(batch) if batch else default_batch))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, help="NAME[:BATCH] (default: all but *_matched)")
    parser.add_argument("--targets", action="store_true", help="issue 13's two workloads, against their targets")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="only this device")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also print the per-operation profile (CPU)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.targets:
        runs = list(TARGETS)
    elif args.models:
        runs = _parse_models(args.models, args.batch)
    else:
        names = [n for n in available_models() if "matched" not in n]
        runs = [(n, b) for n in names for b in [args.batch, *EXTRA_BATCHES.get(n, [])]]
    rows = []
    print(f"{'model':16} {'params':>9} {'b':>3} {'batch':>5} {'dev':4} {'fwd s':>8} {'fwd+bwd s':>10} "
          f"{'fwd+bwd units':>13} {'target':>6} {'peak MiB':>9}")  # fmt: skip
    for device in devices(args.device):
        reference = ReferenceGEMM(device)
        for name, batch in runs:
            r = bench(name, batch, device, args.repeats, reference, args.profile)
            rows.append(r)
            target = r.get("target_reference_units")
            print(
                f"{name:16} {r['parameters']:9,d} {r['bandwidth']:3d} {batch:5d} {device.type:4} "
                f"{r['forward']['median_s']:8.3f} {r['forward_backward']['median_s']:10.3f} "
                f"{r['forward_backward']['reference_units']:13.1f} {target or '':>6} "
                f"{r['forward_backward']['peak_mem_mib']:9.0f}",
                flush=True,
            )
            if "profile" in r:
                print(format_profile(name, r["profile"]), flush=True)
    for r in rows:
        if "target_reference_units" in r:
            units, target = r["forward_backward"]["reference_units"], r["target_reference_units"]
            mem = r["forward_backward"]["peak_mem_mib"]
            print(f"{r['model']} batch {r['batch']} {r['device']}: {units:.1f} reference units = "
                  f"{units / target:.2f} x the target {target:.0f}; peak memory {mem / 1024:.2f} GiB",
                  flush=True)  # fmt: skip
    default = "benchmark_models.json" if not (args.models or args.targets) else "benchmark_models_subset.json"
    out = args.out or RESULTS / ("benchmark_models_targets.json" if args.targets else default)
    atomic_write_json(out, {"machine": machine(), "models": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
