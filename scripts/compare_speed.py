"""A/B timing of two versions of the package in one process (issue 13): the forward+backward of a preset under
``sphere_study`` (this checkout) and under another copy of the package imported as a different name, interleaved
with the reference GEMM, median of the per-repeat ratios. For measuring a change on a shared, noisy machine.

    cp -r <old checkout>/sphere_study /tmp/ab/sphere_study_old
    PYTHONPATH=.:/tmp/ab python scripts/compare_speed.py --old sphere_study_old --model s2cnn_cls_cohen:32
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import ReferenceGEMM  # noqa: E402


def workload(package: str, name: str, batch: int):
    models = importlib.import_module(f"{package}.models")
    b = 50 if "_seg_" in name else 30
    torch.manual_seed(0)
    model = models.build_model(name, bandwidth=b).train()
    x = torch.rand(batch, model.in_channels, 2 * b, 2 * b)
    shape = (batch,) if model.output_kind == "logits" else (batch, 2 * b, 2 * b)
    target = torch.randint(0, model.num_classes, shape)

    def step():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), target).backward()

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="importable name of the other package copy")
    parser.add_argument("--model", default="s2cnn_cls_cohen:32")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    name, _, batch = args.model.partition(":")
    ref = ReferenceGEMM(torch.device("cpu"))
    steps = {"new": workload("sphere_study", name, int(batch or 32)), "old": workload(args.old, name, int(batch or 32))}
    for step in steps.values():
        step()
    units = {k: [] for k in steps}
    import time

    for _ in range(args.repeats):
        for k, step in steps.items():
            r0 = ref.seconds_per_gflop()
            t = time.perf_counter()
            step()
            t = time.perf_counter() - t
            units[k].append(t / (0.5 * (r0 + ref.seconds_per_gflop())))
    med = {k: statistics.median(v) for k, v in units.items()}
    print(f"{name} batch {batch}: reference units new {med['new']:.1f}, old {med['old']:.1f}, "
          f"speed-up {med['old'] / med['new']:.2f}x (median of {args.repeats})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
