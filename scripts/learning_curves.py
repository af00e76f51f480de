"""Learning curves of finished runs: validation metric per epoch, the plateau check, one PNG and one CSV.

Reads every run folder under the given folders (a folder with ``results.json`` and Lightning's CSV log
``logs/version_*/metrics.csv``), and writes

* ``<out>/learning_curves.png``: the validation metric against the epoch, one line per run (label: the run folder
  relative to the folder given);
* ``<out>/learning_curves.csv``: run, epoch, metric value;
* ``<out>/plateau.md``: per run the final value, the largest change over the last three epochs (in points, i.e.
  percent) and whether it is below the threshold (default 0.5 points), the criterion the shipped recipes meet.

    python scripts/learning_curves.py runs/sweeps/tuning_t10k --out docs/results/recipes --metric val/acc
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from matplotlib.figure import Figure


def epoch_curve(run: Path, metric: str) -> list[float]:
    """The metric's value per epoch from the run's newest CSV log (rows without it are skipped)."""
    logs = sorted(run.glob("logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    if not logs:
        raise FileNotFoundError(f"{run}: no logs/version_*/metrics.csv")
    by_epoch: dict[int, float] = {}
    for log in logs:  # a resumed run continues in a new version folder
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                if row.get(metric) not in (None, ""):
                    by_epoch[int(float(row["epoch"]))] = float(row[metric])
    return [by_epoch[e] for e in sorted(by_epoch)]


def plateau_change(curve: list[float], last: int = 3) -> float:
    """Largest difference between any two of the last ``last`` values (in the metric's units)."""
    tail = curve[-last:]
    return max(tail) - min(tail)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--metric", default="val/acc")
    p.add_argument("--threshold", type=float, default=0.5, help="plateau threshold in points (percent)")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    runs = []
    for folder in args.folders:
        for results in sorted(folder.rglob("results.json")):
            if "wandb" in results.parts:
                continue
            run = results.parent
            label = str(run.relative_to(folder)) if run != folder else folder.name
            runs.append((f"{folder.name}/{label}" if len(args.folders) > 1 else label, run))
    if not runs:
        print(f"no finished runs (results.json) under {[str(f) for f in args.folders]}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    rows, table = [], []
    for label, run in runs:
        curve = epoch_curve(run, args.metric)
        final = json.loads((run / "results.json").read_text())["metrics"]
        ax.plot(range(1, len(curve) + 1), curve, marker="o", ms=3, label=label)
        rows += [(label, e + 1, v) for e, v in enumerate(curve)]
        change = 100 * plateau_change(curve)
        rotated = final.get("test/rotated/acc", final.get("test/rotated/miou_fg"))
        table.append((label, len(curve), curve[-1], change, change < args.threshold, rotated))
    ax.set_xlabel("epoch")
    ax.set_ylabel(args.metric)
    ax.set_title(args.title or f"{args.metric} per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "learning_curves.png", dpi=120)
    with open(args.out / "learning_curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "epoch", args.metric])
        w.writerows(rows)
    lines = [
        f"| run | epochs | final {args.metric} | max change over the last 3 epochs (points) "
        f"| plateau (< {args.threshold}) | test, rotated |",
        "|---|---|---|---|---|---|",
    ]
    for label, n, last, change, ok, rotated in table:
        rot = "" if rotated is None else f"{rotated:.4f}"
        lines.append(f"| {label} | {n} | {last:.4f} | {change:.2f} | {'yes' if ok else 'no'} | {rot} |")
    (args.out / "plateau.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
