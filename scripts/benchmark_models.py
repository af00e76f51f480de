"""Benchmark of the model presets (issue 3): forward and forward+backward seconds and peak memory per batch.

Every registered preset at its native bandwidth (S2CNN classifiers b=30, segmenters b=50, CNN classifiers b=30,
CNN segmenters b=50), batch 32 (and 8 for the 5.5M CNN), CPU and CUDA when present; JSON to scripts/results/.

    python scripts/benchmark_models.py
    python scripts/benchmark_models.py --models s2cnn_cls_cohen --batch 32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import devices, machine, measure  # noqa: E402

from sphere_study._io import atomic_write_json  # noqa: E402
from sphere_study.models import available_models, build_model, count_parameters  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NATIVE_BANDWIDTH = {"cls": 30, "seg": 50}
EXTRA_BATCHES = {"cnn_seg_5p5m": [8]}


def native_bandwidth(name: str) -> int:
    return NATIVE_BANDWIDTH["seg" if "_seg_" in name else "cls"]


def bench(name: str, batch: int, device: torch.device, repeats: int) -> dict:
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
    fwd = measure(forward, device, repeats=repeats)
    fwd_bwd = measure(forward_backward, device, repeats=repeats)
    return {"model": name, "parameters": count_parameters(model), "bandwidth": b, "batch": batch, "device": device.type,
            "forward": fwd, "forward_backward": fwd_bwd,
            "backward_s": fwd_bwd["median_s"] - fwd["median_s"]}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, help="presets (default: all except the *_matched ones)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    names = args.models or [n for n in available_models() if "matched" not in n]
    rows = []
    print(f"{'model':16} {'params':>9} {'b':>3} {'batch':>5} {'dev':4} {'fwd s':>8} {'fwd+bwd s':>10} {'peak MiB':>9}")
    for device in devices():
        for name in names:
            for batch in [args.batch, *EXTRA_BATCHES.get(name, [])]:
                r = bench(name, batch, device, args.repeats)
                rows.append(r)
                print(
                    f"{name:16} {r['parameters']:9,d} {r['bandwidth']:3d} {batch:5d} {device.type:4} "
                    f"{r['forward']['median_s']:8.3f} {r['forward_backward']['median_s']:10.3f} "
                    f"{r['forward_backward']['peak_mem_mib']:9.0f}",
                    flush=True,
                )
    out = args.out or RESULTS / ("benchmark_models.json" if args.models is None else "benchmark_models_subset.json")
    atomic_write_json(out, {"machine": machine(), "models": rows})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
