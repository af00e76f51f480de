r"""``sphere-study plot``: :func:`plot_main`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..results import HEADLINE_METRIC, RESULTS_FILE
from ._figures import make_figures, save_figure
from ._rows import (
    COMPUTE_COLUMNS,
    RUN_COLUMNS,
    PlotError,
    aggregate_over_seeds,
    collect_results,
    has_compute,
    metric_columns,
    write_csv,
)
from ._wandb import fetch_wandb_runs, log_to_wandb


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sphere-study plot",
        description="Collect results.json files (or wandb runs) into CSV tables and draw the study's figures.",
        allow_abbrev=False,
    )
    parser.add_argument("run_dir", nargs="?", help="folder searched recursively for results.json (e.g. a sweep folder)")
    parser.add_argument("--out", help="output folder (default RUN_DIR/plots, or plots/PROJECT with --wandb-project)")
    parser.add_argument("--wandb-project", metavar="ENTITY/PROJECT", help="read the runs from the wandb API instead")
    parser.add_argument(
        "--metric",
        help="metric name to plot (default per task: "
        + ", ".join(f"{task} {name}" for task, name in HEADLINE_METRIC.items())
        + ")",
    )
    parser.add_argument("--no-wandb", action="store_true", help="do not log the figures to a wandb summary run")
    return parser


def plot_main(argv: Sequence[str] | None = None) -> int:
    r"""``sphere-study plot DIR [--out OUT] [--wandb-project P] [--metric M] [--no-wandb]``.

    Returns
    -------
    int
        0 on success, 1 when there is nothing to plot or wandb failed, 2 for bad arguments.
    """
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if (args.run_dir is None) == (args.wandb_project is None):
        parser.error("give either RUN_DIR or --wandb-project ENTITY/PROJECT")
    source = args.run_dir or args.wandb_project
    out = Path(args.out or (Path(args.run_dir) / "plots" if args.run_dir else Path("plots") / source.replace("/", "_")))
    if out.exists() and not out.is_dir():
        print(f"sphere-study plot: error: --out {out} is a file; give a folder for the figures", file=sys.stderr)
        return 2
    try:
        rows, problems = collect_results(args.run_dir) if args.run_dir else fetch_wandb_runs(args.wandb_project)
        for problem in problems:
            print(f"sphere-study plot: skipped {problem}", file=sys.stderr)
        if not rows:
            raise PlotError(f"no completed runs in {source} (no valid {RESULTS_FILE})")
        without_compute = [row["run"] for row in rows if not has_compute(row)]
        if without_compute:
            print(
                f"sphere-study plot: {len(without_compute)} of {len(rows)} runs record no training compute "
                f"(results.json of schema version 1, e.g. {without_compute[0]}): left out of the figures against "
                "compute",
                file=sys.stderr,
            )
        aggregate = aggregate_over_seeds(rows)
        if args.metric and not any(c.endswith(f"/{args.metric}") for c in metric_columns(rows)):
            names = sorted({c.rsplit("/", 1)[-1] for c in metric_columns(rows) if c.startswith("test/")})
            parser.error(f"--metric {args.metric!r} is in no run; test metrics available: {', '.join(names)}")
        written = [
            write_csv(out / "runs.csv", rows, [*RUN_COLUMNS, *COMPUTE_COLUMNS, *metric_columns(rows)]),
            write_csv(out / "aggregate.csv", aggregate),
        ]
        figures, skipped = make_figures(aggregate, args.metric)
        pngs = {name: save_figure(fig, out / f"{name}.png") for name, fig in figures.items()}
        for message in skipped:
            print(f"sphere-study plot: no figure {message}", file=sys.stderr)
        files = ", ".join(path.name for path in [*written, *pngs.values()])
        print(f"{len(rows)} runs, {len(aggregate)} conditions -> {out}: {files}")
    except PlotError as err:
        print(f"sphere-study plot: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an unwritable --out, a folder where a file should go: one line, not a traceback
        from ..cli import error_line

        print(f"sphere-study plot: error: {error_line(err)}", file=sys.stderr)
        return 2
    if args.no_wandb:
        return 0
    try:
        run_folder = log_to_wandb(pngs, rows, aggregate, out, source, args.wandb_project, args.metric)
    except Exception as err:  # the PNGs and CSVs are written; say why wandb did not take them
        print(f"sphere-study plot: error: logging to wandb failed ({err}); rerun with --no-wandb", file=sys.stderr)
        return 1
    offline = " (offline; upload it with `wandb sync`)" if "offline" in run_folder.name else ""
    print(f"wandb summary run: {run_folder}{offline}")
    return 0
