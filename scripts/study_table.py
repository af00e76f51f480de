r"""The real-MNIST study's tables (README, ``docs/results/mnist_t10k/*/table.md``) from a plot folder's aggregate.

Reads ``aggregate.csv`` as ``sphere-study plot`` writes it (one row per setting, mean and std over seeds) and prints
Markdown: the metric on rotated and on unrotated test spheres per model/augmentation (rows) and training-set size N
(columns), mean ± std over the seeds (the seed count in brackets where a setting has fewer than the most); the
S2CNN's lead over the best CNN at each N (the difference of the means, ± the root sum of the two variances); and the
training compute of each row at the largest N (fit wall time and training FLOPs, means over seeds); and the total
compute of all points (fit wall time and FLOPs summed over points).

    python scripts/study_table.py docs/results/mnist_t10k/classification --metric acc
    python scripts/study_table.py docs/results/mnist_t10k/segmentation --metric miou_fg --out table.md
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sphere_study._io import atomic_write  # noqa: E402


def _float(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _augment_key(value: str) -> float:
    return math.inf if value == "online" else _float(value)


def _label(row: dict) -> str:
    trained = "rotated" if row["rotate_train"] == "true" else "unrotated"
    if row["family"] == "s2cnn":
        return f"S2CNN `{row['model']}` ({int(row['num_parameters']):,}), {trained}"
    augment = "online" if row["augment"] == "online" else f"A = {row['augment']}"
    return f"CNN `{row['model']}` ({int(row['num_parameters']):,}), {trained}, {augment}"


def _cell(row: dict | None, column: str, max_seeds: int) -> str:
    if row is None:
        return "–"
    mean, std = _float(row[f"{column}_mean"]), _float(row[f"{column}_std"])
    if math.isnan(mean):
        return "–"
    n = int(row["n"])
    seeds = f" [{n}]" if n < max_seeds else ""
    return f"{mean:.3f}{'' if math.isnan(std) else f' ± {std:.3f}'}{seeds}"


def study_tables(rows: list[dict], metric: str) -> str:
    """Markdown tables of ``test/{rotated,unrotated}/<metric>`` by setting and N, the S2CNN's lead, the compute."""
    sizes = sorted({int(r["train_size"]) for r in rows})
    order = sorted(
        {(r["family"] != "s2cnn", _augment_key(r["augment"]), _label(r)) for r in rows},
    )
    labels = [label for *_, label in order]
    by = {(_label(r), int(r["train_size"])): r for r in rows}
    max_seeds = max(int(r["n"]) for r in rows)
    out = []
    for test in ("rotated", "unrotated"):
        column = f"test/{test}/{metric}"
        out.append(f"`{column}`, mean ± std over seeds ([k]: only k seeds so far)\n")
        out.append("| model (parameters), trained on | " + " | ".join(f"N = {n:,}" for n in sizes) + " |")
        out.append("|---" * (len(sizes) + 1) + "|")
        for label in labels:
            out.append(f"| {label} | " + " | ".join(_cell(by.get((label, n)), column, max_seeds) for n in sizes) + " |")
        out.append("")
    column = f"test/rotated/{metric}"
    lead = []
    for n in sizes:
        s2 = [r for r in rows if int(r["train_size"]) == n and r["family"] == "s2cnn"]
        cnns = [r for r in rows if int(r["train_size"]) == n and r["family"] != "s2cnn"]
        cnns = [r for r in cnns if not math.isnan(_float(r[f"{column}_mean"]))]
        if not s2 or not cnns:
            continue
        best = max(cnns, key=lambda r: _float(r[f"{column}_mean"]))
        a, b = s2[0], best
        diff = _float(a[f"{column}_mean"]) - _float(b[f"{column}_mean"])
        spread = math.sqrt(_float(a[f"{column}_std"]) ** 2 + _float(b[f"{column}_std"]) ** 2)
        augment = "online" if b["augment"] == "online" else f"A = {b['augment']}"
        lead.append(f"| {n:,} | {augment} | {diff:+.3f}{'' if math.isnan(spread) else f' ± {spread:.3f}'} |")
    if lead:
        out.append(f"S2CNN minus the best CNN at each N, `{column}`\n")
        out += ["| N | best CNN | S2CNN − best CNN |", "|---|---|---|", *lead, ""]
    largest = sizes[-1]
    out.append(f"Training compute per point at N = {largest:,} (means over seeds)\n")
    out += ["| model, trained on | optimizer steps | fit wall time (s) | training FLOPs |", "|---|---|---|---|"]
    for label in labels:
        r = by.get((label, largest))
        if r is None:
            continue
        steps, wall, flops = (_float(r[f"{c}_mean"]) for c in ("optimizer_steps", "fit_wall_time_s", "train_flops"))
        out.append(f"| {label} | {steps:,.0f} | {wall:,.0f} | {flops:.2e} |")
    out += ["", _totals(rows)]
    return "\n".join(out) + "\n"


def _totals(rows: list[dict]) -> str:
    """One line: the points and the training compute of the whole study (sums over settings of mean × seeds)."""
    points = sum(int(r["n"]) for r in rows)
    wall = sum(_float(r["fit_wall_time_s_mean"]) * int(r["n"]) for r in rows)
    flops = sum(_float(r["train_flops_mean"]) * int(r["n"]) for r in rows)
    return (
        f"Total: {points} points, {wall / 3600:.2f} h of fit wall time summed over points (one CPU thread each "
        f"unless the device says otherwise), {flops:.2e} training FLOPs."
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plot_dir", type=Path, help="a folder holding aggregate.csv (sphere-study plot --out)")
    parser.add_argument("--metric", required=True, help="metric name after test/<rotated|unrotated>/, e.g. acc")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    path = args.plot_dir / "aggregate.csv"
    if not path.is_file():
        parser.error(f"{path} does not exist: run `sphere-study plot POINTS --out {args.plot_dir}` first")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or f"test/rotated/{args.metric}_mean" not in rows[0]:
        parser.error(f"{path} has no column test/rotated/{args.metric}_mean")
    text = study_tables(rows, args.metric)
    print(text, end="")
    if args.out:
        atomic_write(args.out, lambda tmp: tmp.write_text(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
