"""Cohen et al.'s Table 1 from a finished NR/R sweep: accuracy NR/NR, R/R, NR/R per model, mean ± std over seeds.

The sweep (``configs/reproduce/cohen2018_t10k.yaml``) trains every group on unrotated (NR) and rotated (R) spheres
and tests each run on both. Column X/Y is "trained X, tested Y": NR/NR and NR/R come from the NR-trained runs, R/R
from the R-trained ones (R/NR is listed too). Reads ``<sweep output>/<group>/<point>/results.json``.

    python scripts/cohen_table.py runs/reproduce/cohen2018_t10k --out docs/results/cohen2018_t10k/table1.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

COLUMNS = (
    ("NR/NR", False, "unrotated"),
    ("R/R", True, "rotated"),
    ("NR/R", False, "rotated"),
    ("R/NR", True, "unrotated"),
)


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f} (1 seed)"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_output", type=Path)
    p.add_argument("--out", type=Path, help="markdown file (default: print only)")
    args = p.parse_args(argv)
    acc: dict[tuple[str, bool, str], list[float]] = defaultdict(list)
    info: dict[str, tuple[str, int]] = {}
    for results in sorted(args.sweep_output.glob("*/*/results.json")):
        r = json.loads(results.read_text())
        group = results.parent.parent.name
        rotated_train = bool(r["data"]["rotate_train"])
        info[group] = (r["model"]["name"], r["model"]["num_parameters"])
        for split in ("unrotated", "rotated"):
            value = r["metrics"].get(f"test/{split}/acc")
            if value is not None:
                acc[(group, rotated_train, split)].append(value)
    if not info:
        print(f"no results.json under {args.sweep_output}/<group>/<point>/", file=sys.stderr)
        return 1
    lines = [
        "| model (sweep group) | parameters | " + " | ".join(c for c, _, _ in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for group, (name, params) in info.items():
        cells = [cell(acc[(group, trained, split)]) for _, trained, split in COLUMNS]
        lines.append(f"| {name} ({group}) | {params:,} | " + " | ".join(cells) + " |")
    seeds = max(len(v) for v in acc.values())
    lines.append("")
    lines.append(f"Test accuracy, mean ± sample std over up to {seeds} seeds; X/Y = trained X, tested Y.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
