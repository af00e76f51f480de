r"""The side-by-side table of issue 10: rotated-test accuracy per epoch of the original s2cnn and of ours, per seed.

Reads the JSON files written by ``scripts/compare_s2cnn_training.py`` and writes a markdown table: one row per
implementation and seed, then the original's range over seeds (min–max) and, per epoch, whether the mean of ours lies
within it (the acceptance test: "our default must be within the original's seed spread at every epoch"), and, for
the seeds both ran (the same seed gives both the same initial weights and batches), the largest difference.

    python scripts/side_by_side_table.py docs/results/s2cnn_side_by_side/original.json \
        docs/results/s2cnn_side_by_side/ours_unit.json --out docs/results/s2cnn_side_by_side/table.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def _curves(path: Path) -> tuple[str, dict[str, list[float]]]:
    record = json.loads(path.read_text())
    return record["impl"], {seed: run["rotated_test_acc"] for seed, run in sorted(record["seeds"].items())}


def side_by_side(original: Path, ours: Path) -> str:
    impl_a, theirs = _curves(original)
    impl_b, mine = _curves(ours)
    epochs = min(len(c) for c in [*theirs.values(), *mine.values()])
    header = "| implementation | seed | " + " | ".join(f"ep {e + 1}" for e in range(epochs)) + " |"
    lines = [header, "|---|---|" + "---|" * epochs]
    for impl, curves in ((impl_a, theirs), (impl_b, mine)):
        for seed, curve in curves.items():
            lines.append(f"| {impl} | {seed} | " + " | ".join(f"{v:.4f}" for v in curve[:epochs]) + " |")
    low = [min(c[e] for c in theirs.values()) for e in range(epochs)]
    high = [max(c[e] for c in theirs.values()) for e in range(epochs)]
    mean = [statistics.fmean(c[e] for c in mine.values()) for e in range(epochs)]
    ranges = " | ".join(f"{a:.4f}–{b:.4f}" for a, b in zip(low, high, strict=True))
    lines.append(f"| {impl_a}, range over seeds | | {ranges} |")
    lines.append(f"| {impl_b}, mean over seeds | | " + " | ".join(f"{m:.4f}" for m in mean) + " |")
    inside = [a <= m <= b for a, m, b in zip(low, mean, high, strict=True)]
    verdicts = " | ".join("yes" if i else "**no**" for i in inside)
    lines.append(f"| mean of {impl_b} within the {impl_a}'s range | | {verdicts} |")
    paired = [s for s in theirs if s in mine]
    if paired:  # the same seed gives both the same initial weights and batches: compare run by run
        diff = [max(abs(mine[s][e] - theirs[s][e]) for s in paired) for e in range(epochs)]
        lines.append(f"| largest \\|{impl_b} − {impl_a}\\| at the same seed ({', '.join(paired)}) | | "
                     + " | ".join(f"{d:.4f}" for d in diff) + " |")  # fmt: skip
    lines.append("")
    lines.append(
        f"Rotated-test accuracy after each epoch; seeds {', '.join(theirs)} ({impl_a}) and {', '.join(mine)} "
        f"({impl_b}). The mean of {impl_b} is inside the {impl_a}'s seed range at "
        f"{sum(inside)} of {epochs} epochs."
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original", type=Path)
    parser.add_argument("ours", type=Path)
    parser.add_argument("--out", type=Path, help="markdown file (default: print)")
    args = parser.parse_args(argv)
    table = side_by_side(args.original, args.ours)
    if args.out:
        args.out.write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
