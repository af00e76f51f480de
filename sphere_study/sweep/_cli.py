r"""``sphere-study sweep``: the command line of :func:`~sphere_study.sweep.run_sweep`."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

import yaml

from ._locking import die_with_parent
from ._runner import (
    SweepReport,
    _cpu_count,
    _visible_gpus,
    default_fit_command,
    point_fit_args,
    point_status,
    resolve_point_commands,
    run_sweep,
    worker_env,
)
from ._schema import (
    _DOTTED_KEY_PATTERN,
    FIT_COMMAND_ENV,
    LOG_FILE,
    Point,
    Sweep,
    SweepConfigError,
    SweepError,
    load_sweep,
    select_points,
)
from ._wandb import create_wandb_sweeps, wandb_sweep_configs, write_wandb_sweep_configs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sphere-study sweep",
        description="Run a sweep of sphere-study fit runs (resumable), or turn it into wandb sweeps.",
        epilog="Extra --dotted.key=value arguments select the points with that value (as the wandb agent does).",
        allow_abbrev=False,
    )
    parser.add_argument("--config", required=True, help="sweep YAML file (see configs/sweeps/)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the points, their commands and an estimate of their training time; run nothing",
    )
    parser.add_argument(
        "--no-estimate",
        action="store_true",
        help="with --dry-run: skip the time estimate (and the calibration of each model it may need)",
    )
    parser.add_argument("--workers", type=int, default=1, help="points run in parallel (one GPU each if any)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts for a failing point (default 1)")
    parser.add_argument("--wandb", action="store_true", help="create wandb sweeps (one per group) instead of running")
    parser.add_argument("--group", action="append", default=[], help="run only this group (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _parse_selection(extra: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    """``--key=value`` / ``--key value`` pairs left over by argparse."""
    selection: dict[str, str] = {}
    items = list(extra)
    while items:
        item = items.pop(0)
        if not item.startswith("--") or len(item) < 3:
            parser.error(f"unexpected argument {item!r}")
        key, sep, text = item[2:].partition("=")
        if not sep:
            if not items or items[0].startswith("--"):
                parser.error(f"unrecognized option {item!r} (a point selection needs a value: {item}=VALUE)")
            text = items.pop(0)
        if not _DOTTED_KEY_PATTERN.match(key):
            parser.error(f"unrecognized option {item!r}")
        selection[key] = text
    return selection


def _estimate(points: Sequence[Point], configs: dict, fit_command: Sequence[str], workers: int):
    """The points' estimates (``sphere_study.cost``, imported only here), or None with the reason."""
    if not configs:
        return None, f"no estimate: the points run ${FIT_COMMAND_ENV}, which the sweep does not parse"
    from ..cost import estimate_fits

    # The environment the first worker's fit gets: its threads and GPU are what the calibration runs with.
    env = worker_env(0, workers, _visible_gpus(None), _cpu_count(), os.environ)
    fits = [(p.label, point_fit_args(p, fit_command), configs[p.label]) for p in points]
    return estimate_fits(fits, env=env, preexec_fn=functools.partial(die_with_parent, os.getpid())), None


def _print_dry_run(
    sweep: Sweep,
    points: Sequence[Point],
    fit_command: Sequence[str],
    estimates=None,
    workers: int = 1,
    note: str | None = None,
) -> None:
    statuses = [point_status(point) for point in points]
    counts = {s: statuses.count(s) for s in ("done", "pending", "stale")}
    print(
        f"sweep {sweep.name} ({sweep.path}): {len(points)} points in {len({p.group for p in points})} group(s) -> "
        f"{sweep.output}; {counts['done']} done, {counts['pending']} to run, {counts['stale']} stale"
    )
    width = len(str(len(points)))
    for index, (point, status) in enumerate(zip(points, statuses, strict=True), start=1):
        print(f"[{index:>{width}}] {status:<7} {point.label}")
        print(f"{'':>{width + 3}}{shlex.join(point.command(fit_command))}")
        if estimates is not None:
            from ..cost import point_line

            print(f"{'':>{width + 3}}{point_line(estimates[index - 1])}")
    if estimates is not None:
        from ..cost import summary_lines

        for line in summary_lines(estimates, [status == "pending" for status in statuses], workers):
            print(line)
    elif note:
        print(note)


def sweep_main(argv: Sequence[str] | None = None) -> int:
    r"""``sphere-study sweep --config FILE [--dry-run] [--workers N] [--retries 1] [--wandb] [--group G]``.

    Returns
    -------
    int
        0 when every point is done, 1 when a point failed or is stale, 2 for a bad sweep file or arguments, 130
        when interrupted.
    """
    parser = _parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    selection = _parse_selection(extra, parser)
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.retries < 0:
        parser.error(f"--retries must be >= 0, got {args.retries}")
    try:
        sweep = load_sweep(args.config)
        points = select_points(sweep.points(), args.group, selection)
        if args.wandb and (args.group or selection):
            raise SweepError("--wandb turns the whole sweep into wandb sweeps: drop --group and point selections")
        configs, invalid = resolve_point_commands(points, default_fit_command())
        if invalid:
            shown = "\n".join(f"  {label}: {error}" for label, error in list(invalid.items())[:10])
            more = f"\n  ... and {len(invalid) - 10} more" if len(invalid) > 10 else ""
            raise SweepConfigError(
                f"{sweep.path}: {len(invalid)} of {len(points)} point(s) would not start; nothing was run:\n"
                f"{shown}{more}"
            )
        if args.dry_run:
            estimates, note = None, None
            if not args.no_estimate:
                try:
                    estimates, note = _estimate(points, configs, default_fit_command(), args.workers)
                except KeyboardInterrupt:
                    print("sphere-study sweep: estimate interrupted (--no-estimate skips it)", file=sys.stderr)
                    return 130
            _print_dry_run(sweep, points, default_fit_command(), estimates, args.workers, note)
            if args.wandb:
                for group, config in wandb_sweep_configs(sweep).items():
                    print(f"# wandb sweep of group {group}\n{yaml.safe_dump(config, sort_keys=False)}")
            return 0
        if not (args.group or selection):  # a whole-sweep run; not each point a wandb agent starts
            written = write_wandb_sweep_configs(sweep)
            print(f"wandb sweep configs: {', '.join(str(p) for p in written)}", file=sys.stderr)
        if args.wandb:
            for group, path in create_wandb_sweeps(sweep).items():
                print(f"group {group}: run agents with  WANDB_MODE=online wandb agent {path}")
            return 0
    except (SweepConfigError, SweepError) as err:
        print(f"sphere-study sweep: error: {err}", file=sys.stderr)
        return 2

    with _sigterm_as_interrupt():
        report = run_sweep(sweep, points, workers=args.workers, retries=args.retries, progress=not args.no_progress)
    _print_report(sweep, report)
    if report.interrupted:
        return 130
    return 1 if report.failed else 0


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so that the running fits are stopped and the summary is written."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_report(sweep: Sweep, report: SweepReport) -> None:
    counts = ", ".join(
        f"{report.count(s)} {s}"
        for s in ("completed", "skipped", "failed", "stale", "busy", "interrupted")
        if report.count(s) or s in ("completed", "failed")
    )
    print(f"sweep {sweep.name}: {len(report.outcomes)} points: {counts}; summary: {report.summary_path}")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.point.label}: {outcome.error}\n    log: {outcome.point.dir / LOG_FILE}")
    if report.interrupted:
        print("  interrupted: run the same command again to resume")
