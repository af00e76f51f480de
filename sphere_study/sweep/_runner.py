r"""Running points: status on disk, attempts and retries, worker slots, the summary file."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .._io import atomic_write_json
from .._run_folder import run_lock_holder
from ..results import RESULTS_FILE, SWEEP_GROUP_ENV, ResultsError, load_results
from ._locking import _point_lock, _ProcessRegistry, die_with_parent
from ._schema import (
    FIT_COMMAND_ENV,
    LOCK_FILE,
    LOG_FILE,
    POINT_FILE,
    Point,
    Sweep,
)


def default_fit_command() -> list[str]:
    r"""``$SPHERE_STUDY_FIT_COMMAND`` split like a shell line, else ``[python, -m, sphere_study, fit]``."""
    line = os.environ.get(FIT_COMMAND_ENV)
    if line:
        return shlex.split(line)
    return [sys.executable, "-m", "sphere_study", "fit"]


def _is_default_fit_command(fit_command: Sequence[str]) -> bool:
    return list(fit_command) == [sys.executable, "-m", "sphere_study", "fit"]


def point_fit_args(point: Point, fit_command: Sequence[str]) -> list[str]:
    """The point's arguments after ``fit``: what ``sphere-study fit`` parses for it."""
    return point.command(fit_command)[len(fit_command) :]


def resolve_point_commands(
    points: Sequence[Point], fit_command: Sequence[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    r"""``({label: resolved fit config}, {label: error})``: every point's command line parsed by the fit's parser.

    Only the default fit command (``python -m sphere_study fit``) is parsed: a base config that is missing or not a
    mapping, a misspelled key, a value of the wrong type is an error; otherwise the point gets its resolved config
    (every default filled in: what the fit will run). Another command (a ``$SPHERE_STUDY_FIT_COMMAND``) is the
    user's own and is not parsed: both mappings are empty.
    """
    if not _is_default_fit_command(fit_command) or not points:
        return {}, {}
    from .._lightning_cli import resolve_fit_commands

    resolved = resolve_fit_commands([point_fit_args(point, fit_command) for point in points])
    configs = {point.label: config for point, (config, error) in zip(points, resolved, strict=True) if error is None}
    errors = {point.label: error for point, (_, error) in zip(points, resolved, strict=True) if error is not None}
    return configs, errors


def check_point_commands(points: Sequence[Point], fit_command: Sequence[str]) -> dict[str, str]:
    r"""``{point label: error}`` for every point whose fit command line would not parse (nothing is run); see
    :func:`resolve_point_commands`."""
    return resolve_point_commands(points, fit_command)[1]


def point_status(point: Point) -> str:
    r"""``"done"`` (a valid results file), ``"stale"`` (a valid results file made with other overrides: see the
    module docstring) or ``"pending"`` (anything else: never run, killed, failed; running it overwrites the folder)."""
    try:
        load_results(point.dir / RESULTS_FILE)
    except ResultsError:
        return "pending"
    return "stale" if _stale_reason(point) else "done"


def _stale_reason(point: Point) -> str | None:
    path = point.dir / POINT_FILE
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # unreadable: rewritten when the point runs
    expected = json.loads(json.dumps(point.spec()))
    if recorded.get("base") == expected["base"] and recorded.get("overrides") == expected["overrides"]:
        return None
    return (
        f"{path} records the overrides {recorded.get('overrides')} on {recorded.get('base')}, but the sweep file now "
        f"gives {expected['overrides']} on {expected['base']}; delete the folder to rerun it, or change 'output'"
    )


@dataclasses.dataclass
class PointOutcome:
    r"""What happened to a point: ``status`` is one of ``completed`` (ran now), ``skipped`` (already done), ``failed``,
    ``stale``, ``busy`` (locked by another sweep process) or ``interrupted``."""

    point: Point
    status: str
    attempts: int = 0
    returncode: int | None = None
    error: str | None = None
    wall_time_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.point.group,
            "name": self.point.name,
            "dir": str(self.point.dir),
            "params": self.point.params,
            "status": self.status,
            "attempts": self.attempts,
            "returncode": self.returncode,
            "error": self.error,
            "wall_time_s": round(self.wall_time_s, 3),
            "log": str(self.point.dir / LOG_FILE),
        }


@dataclasses.dataclass
class SweepReport:
    r"""The outcome of :func:`run_sweep`: one :class:`PointOutcome` per point, and the summary file written."""

    outcomes: list[PointOutcome]
    summary_path: Path
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def failed(self) -> list[PointOutcome]:
        """Failed and stale points: those that need the user's attention."""
        return [outcome for outcome in self.outcomes if outcome.status in ("failed", "stale")]


#: Statuses in the summary: outcomes of the points run now, then the on-disk states of points not selected.
_STATUSES = ("completed", "skipped", "failed", "stale", "busy", "interrupted", "done", "pending")


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def _run_point(
    point: Point, fit_command: Sequence[str], env: dict[str, str], retries: int, registry: _ProcessRegistry
) -> PointOutcome:
    start = time.monotonic()
    with _point_lock(point.dir) as locked:
        if not locked:
            return PointOutcome(point, "busy", error=f"{point.dir / LOCK_FILE} is held by another sweep process")
        status = point_status(point)  # again under the lock: another process may have just finished it
        if status == "done":
            return PointOutcome(point, "skipped")
        if status == "stale":
            return PointOutcome(point, "stale", error=_stale_reason(point))
        writer = run_lock_holder(point.dir)  # a fit still running, e.g. left behind by a sweep killed with -9
        if writer is not None:
            return PointOutcome(point, "busy", error=f"a fit (pid {writer}) is still writing {point.dir}")
        atomic_write_json(point.dir / POINT_FILE, point.spec())
        command = point.command(fit_command)
        outcome = PointOutcome(point, "failed")
        for attempt in range(1, retries + 2):
            if registry.stopping.is_set():
                outcome.status = "interrupted"
                break
            outcome.attempts = attempt
            outcome.returncode, outcome.error = _attempt(point, command, env, attempt, registry)
            if registry.stopping.is_set():
                outcome.status = "interrupted"
                break
            if outcome.error is None:
                outcome.status = "completed"
                break
        outcome.wall_time_s = time.monotonic() - start
        return outcome


def _attempt(
    point: Point, command: list[str], env: dict[str, str], attempt: int, registry: _ProcessRegistry
) -> tuple[int | None, str | None]:
    """Run the fit once, its output appended to the point's log; returns (exit status, error or None)."""
    log_path = point.dir / LOG_FILE
    with open(log_path, "a") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        threads = {k: env[k] for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS") if k in env}
        log.write(f"=== sweep attempt {attempt} of {point.label}, {stamp}, {threads}\n=== {shlex.join(command)}\n")
        log.flush()
        try:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=functools.partial(die_with_parent, os.getpid()),
            )
        except OSError as err:
            error = f"could not start the fit command {shlex.join(command[:4])} ...: {err}"
            log.write(f"=== attempt {attempt} failed: {error}\n")
            return None, error
        with registry.running(process):
            returncode = process.wait()
        if returncode != 0:
            error = _describe_exit(returncode)
        else:
            try:
                load_results(point.dir / RESULTS_FILE)
                error = None
            except ResultsError as err:
                error = f"the fit exited with status 0 but left no valid {RESULTS_FILE}: {err}"
        log.write(f"=== attempt {attempt} {'completed' if error is None else 'failed: ' + error}\n")
    return returncode, error


def _visible_gpus(count: int | None) -> list[str]:
    """The GPUs the workers may use: the parent's ``CUDA_VISIBLE_DEVICES`` entries, or ``0..count-1``."""
    if count is None:
        try:
            import torch

            count = torch.cuda.device_count()
        except Exception:  # no torch or a broken driver: run on CPU
            count = 0
    if count <= 0:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [d.strip() for d in visible.split(",") if d.strip()][:count]
    return [str(i) for i in range(count)]


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_env(slot: int, workers: int, gpus: Sequence[str], cpus: int, base: Mapping[str, str]) -> dict[str, str]:
    r"""The environment of a fit started in worker ``slot`` (0-based) of ``workers``.

    With ``gpus`` the slot gets ``gpus[slot % len(gpus)]`` as its only visible device; the CPU threads
    (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, which torch reads at start) are split evenly when ``workers > 1``.
    """
    env = dict(base)
    env["PYTHONUNBUFFERED"] = "1"  # the log shows progress as it happens
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    if workers > 1:
        threads = str(max(1, cpus // workers))
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
    return env


def run_sweep(
    sweep: Sweep,
    points: Sequence[Point] | None = None,
    *,
    workers: int = 1,
    retries: int = 1,
    fit_command: Sequence[str] | None = None,
    gpus: int | None = None,
    progress: bool = True,
    stream=None,
) -> SweepReport:
    r"""Run the sweep's points (all, or ``points``), skipping finished ones; write the summary.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep`.
    points : sequence of Point, optional
        A selection (see :func:`select_points`); default every point.
    workers : int
        Points run at once, each in its own process.
    retries : int
        Extra attempts for a point whose process fails.
    fit_command : sequence of str, optional
        The command prefix; default :func:`default_fit_command`.
    gpus : int, optional
        Number of GPUs to spread the workers over; default ``torch.cuda.device_count()``.
    progress : bool
        Show a progress bar (done/total, failures, ETA) and a line per finished point on ``stream`` (stderr).

    Returns
    -------
    SweepReport
        Every point's outcome. A KeyboardInterrupt stops the running fits, writes the summary and returns a report
        with ``interrupted=True``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    stream = sys.stderr if stream is None else stream
    points = list(sweep.points() if points is None else points)
    fit_command = list(default_fit_command() if fit_command is None else fit_command)
    started = time.time()

    outcomes: dict[int, PointOutcome] = {}
    pending = []
    for index, point in enumerate(points):
        status = point_status(point)
        if status == "done":
            outcomes[index] = PointOutcome(point, "skipped")
        elif status == "stale":
            outcomes[index] = PointOutcome(point, "stale", error=_stale_reason(point))
        else:
            pending.append(index)

    gpu_ids = _visible_gpus(gpus) if pending else []
    cpus = _cpu_count()
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(workers):
        slots.put(slot)
    registry = _ProcessRegistry()

    def run_in_slot(point: Point) -> PointOutcome:
        slot = slots.get()
        try:
            env = worker_env(slot, workers, gpu_ids, cpus, os.environ)
            env[SWEEP_GROUP_ENV] = f"{sweep.name}/{point.group}"  # the fit's wandb run joins this group
            return _run_point(point, fit_command, env, retries, registry)
        finally:
            slots.put(slot)

    where = f"{len(gpu_ids)} GPU(s)" if gpu_ids else f"CPU ({cpus} cores)"
    if gpu_ids and workers > len(gpu_ids):
        where += f"; {workers} workers share them, so some GPUs run two fits at once"
    if progress:
        print(
            f"sweep {sweep.name}: {len(points)} points, {len(points) - len(pending)} already done or stale, "
            f"{len(pending)} to run with {workers} worker(s) on {where} -> {sweep.output}",
            file=stream,
        )
    bar = tqdm(
        total=len(points),
        initial=len(points) - len(pending),
        unit="point",
        desc=sweep.name,
        file=stream,
        disable=not progress,
        dynamic_ncols=True,
    )
    failures = sum(outcome.status == "stale" for outcome in outcomes.values())
    bar.set_postfix(failed=failures)
    interrupted = False
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep-worker")
    futures: dict[Future, int] = {executor.submit(run_in_slot, points[i]): i for i in pending}
    try:
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, timeout=1.0, return_when="FIRST_COMPLETED")
            for future in done:
                outcome = future.result()
                outcomes[futures[future]] = outcome
                failures += outcome.status in ("failed", "stale")
                bar.update(1)
                bar.set_postfix(failed=failures)
                if progress:
                    bar.write(_outcome_line(outcome), file=stream)
    except KeyboardInterrupt:
        interrupted = True
        registry.stop_all()
        for future in futures:
            future.cancel()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        for future, index in futures.items():
            if index not in outcomes:
                finished = future.done() and not future.cancelled() and future.exception() is None
                outcomes[index] = future.result() if finished else PointOutcome(points[index], "interrupted")
        report = SweepReport([outcomes[i] for i in range(len(points))], sweep.summary_path, interrupted)
        _write_summary(sweep, report, started)
    return report


def _outcome_line(outcome: PointOutcome) -> str:
    if outcome.status == "completed":
        tries = f", attempt {outcome.attempts}" if outcome.attempts > 1 else ""
        return f"done    {outcome.point.label} in {outcome.wall_time_s:.0f} s{tries}"
    if outcome.status in ("failed", "stale"):
        log = outcome.point.dir / LOG_FILE
        return f"{outcome.status.upper():<7} {outcome.point.label}: {outcome.error} (log: {log})"
    return f"{outcome.status:<7} {outcome.point.label}" + (f": {outcome.error}" if outcome.error else "")


def _write_summary(sweep: Sweep, report: SweepReport, started: float) -> None:
    ran = {outcome.point.dir: outcome for outcome in report.outcomes}
    entries = [(ran.get(p.dir) or PointOutcome(p, point_status(p))).as_dict() for p in sweep.points()]
    statuses = [entry["status"] for entry in entries]
    atomic_write_json(
        report.summary_path,
        {
            "name": sweep.name,
            "sweep_file": str(sweep.path),
            "output": str(sweep.output),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "wall_time_s": round(time.time() - started, 3),
            "interrupted": report.interrupted,
            "num_points": len(entries),
            "num_selected": len(report.outcomes),
            "counts": {status: statuses.count(status) for status in _STATUSES},
            "points": entries,
        },
    )
