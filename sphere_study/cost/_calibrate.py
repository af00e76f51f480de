r"""Timing a point's batches: a child process trains the point's task on synthetic batches of its shape.

The parent (:func:`run_calibrations`, called by the estimate) writes the jobs to a request file and starts
``python -m sphere_study.cost calibrate REQUEST RESULTS`` with the environment a sweep gives its fits (threads,
``CUDA_VISIBLE_DEVICES``), so the timing is taken in a process like the fit's, and a calibration that runs out of
memory kills that child, not the sweep. For each job the child:

1. builds the task and data module from the point's ``fit`` arguments, with the fit's own parser
   (:func:`sphere_study._lightning_cli.instantiate_fit_command`): the network, loss, metrics and optimizer the fit
   would train;
2. runs a Lightning ``Trainer`` with the point's per-batch trainer options (precision, determinism, progress bar,
   logging interval, ...; see :data:`~sphere_study.cost._estimate.TRAINER_TIMING_OPTIONS`) over synthetic batches of
   the point's shape ``[B, C, 2b, 2b]`` in the data module's own loader, so one *training batch* is what the fit
   loop does per batch: loading it from memory, forward, loss, metrics, backward, optimizer step, logging;
3. times it with :class:`WindowTimer`: a warm-up of at least :data:`WARMUP_S` seconds (lazy allocations, kernel
   selection, table loading), then windows of consecutive batches of at least :data:`WINDOW_S` seconds, at least
   :data:`MIN_WINDOWS` of them and more up to :data:`MAX_WINDOWS` while the timed part is under
   :data:`TIMED_BUDGET_S` (one window when it already took :data:`LONG_TIMED_S`); the result is the median over
   windows of (window time / batches in it), robust to a shared machine's bursts. CUDA work is synchronised before
   each reading;
4. times *evaluation batches* (forward, loss, metrics under ``Trainer.validate``) the same way.

The LR scheduler is left out (it steps once per epoch), as are the CLI's always-on callbacks (they act per epoch or
every 50 steps).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "WARMUP_S",
    "WINDOW_S",
    "MIN_WINDOWS",
    "MAX_WINDOWS",
    "TIMED_BUDGET_S",
    "LONG_TIMED_S",
    "WindowTimer",
    "calibrate_job",
    "run_calibrations",
]

#: Seconds of batches run before timing: the first batches pay one-time costs (allocator growth, kernel choice,
#: Wigner tables read from disk, cudnn autotuning).
WARMUP_S = 1.0
#: Shortest timed window: per-batch timer and scheduler noise must be small against it.
WINDOW_S = 0.25
#: Fewest windows (a median of three resists one burst of load) and most windows per measurement.
MIN_WINDOWS = 3
MAX_WINDOWS = 9
#: Windows are added (up to MAX_WINDOWS) while the timed part is shorter than this.
TIMED_BUDGET_S = 3.0
#: One window suffices once the timed part is this long: a batch of that length averages the noise out by itself,
#: and three of them would make one calibration of the b = 50 S2CNN segmenter (minutes per batch on a loaded CPU)
#: take most of an hour.
LONG_TIMED_S = 30.0
#: The synthetic training set holds this many batches: more than a calibration runs (a 1 ms batch is done after a
#: few thousand), so no epoch ends in it; small enough that the sampler's permutation of it costs nothing.
MAX_CALIBRATION_BATCHES = 20_000
# The synthetic set repeats this many batches of random samples (memory stays small at b = 50).
_DISTINCT_BATCHES = 4


class WindowTimer:
    r"""Warm-up, then windows of consecutive batches; :meth:`seconds_per_batch` is the median window rate.

    Call :meth:`start` before the first batch and :meth:`tick` after each; :attr:`done` turns true once
    :data:`MAX_WINDOWS` windows are complete, or :data:`MIN_WINDOWS` and the timed part reached
    :data:`TIMED_BUDGET_S`, or one window and the timed part reached :data:`LONG_TIMED_S`. A window holds
    :math:`k = \max(1, \lceil w / t_\text{warm-up} \rceil)` batches, :math:`w` = :data:`WINDOW_S` and
    :math:`t_\text{warm-up}` the mean batch time of the warm-up (the first batch included: pessimistic).
    """

    def __init__(
        self,
        warmup_s: float = WARMUP_S,
        window_s: float = WINDOW_S,
        min_windows: int = MIN_WINDOWS,
        max_windows: int = MAX_WINDOWS,
        budget_s: float = TIMED_BUDGET_S,
        long_s: float = LONG_TIMED_S,
    ) -> None:
        self.warmup_s, self.window_s, self.budget_s, self.long_s = warmup_s, window_s, budget_s, long_s
        self.min_windows, self.max_windows = min_windows, max_windows
        self.t0: float | None = None
        self.batches = 0
        self.warmup_batches: int | None = None
        self.window_batches: int | None = None
        self.windows: list[float] = []  # seconds per batch in each window
        self._timed_start = self._window_start = 0.0
        self._in_window = 0

    def start(self, now: float) -> None:
        self.t0 = now

    @property
    def warming_up(self) -> bool:
        return self.warmup_batches is None

    @property
    def timed_s(self) -> float:
        return sum(self.windows) * (self.window_batches or 1)

    @property
    def done(self) -> bool:
        n = len(self.windows)
        return (
            n >= self.max_windows
            or (n >= self.min_windows and self.timed_s >= self.budget_s)
            or (n >= 1 and self.timed_s >= self.long_s)
        )

    def needs_reading(self) -> bool:
        """Whether the next tick reads the clock meaningfully (CUDA must be synchronised before it then)."""
        return self.warming_up or self._in_window + 1 >= (self.window_batches or 1)

    def tick(self, now: float) -> None:
        if self.t0 is None:
            raise RuntimeError("WindowTimer.tick() before start()")
        self.batches += 1
        if self.done:
            return
        if self.warming_up:
            if now - self.t0 >= self.warmup_s:
                self.warmup_batches = self.batches
                per_batch = (now - self.t0) / self.batches
                self.window_batches = max(1, math.ceil(self.window_s / per_batch))
                self._timed_start = self._window_start = now
            return
        self._in_window += 1
        if self._in_window == self.window_batches:
            self.windows.append((now - self._window_start) / self.window_batches)
            self._window_start, self._in_window = now, 0

    def seconds_per_batch(self) -> float:
        if not self.windows:
            raise RuntimeError(f"no complete timing window after {self.batches} batch(es) (warm-up not finished)")
        return statistics.median(self.windows)


class _TimingComplete(Exception):
    """Raised by the evaluation clock once its windows are complete (caught around ``Trainer.validate``)."""


def _clock_callback(timer: WindowTimer, device: str, stage: str):
    """A Lightning callback that feeds ``timer`` (and stops training once it is done)."""
    import lightning.pytorch as pl
    import torch

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    class BatchClock(pl.Callback):
        def _begin(self) -> None:
            sync()
            timer.start(time.perf_counter())

        def _end(self, trainer) -> None:
            if timer.needs_reading():
                sync()
            timer.tick(time.perf_counter())
            if timer.done:
                if stage == "train":
                    trainer.should_stop = True
                else:  # a validation loop cannot be told to stop: leave it through an exception
                    raise _TimingComplete

        def on_train_start(self, trainer, pl_module) -> None:
            if stage == "train":
                self._begin()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if stage == "train":
                self._end(trainer)

        def on_validation_start(self, trainer, pl_module) -> None:
            if stage == "eval":
                self._begin()

        def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
            if stage == "eval":
                self._end(trainer)

    return BatchClock()


class _SyntheticSpheres:
    r"""Random samples of a data module's shape and dtypes (uint8 intensities ``[C, 2b, 2b]``, labels or masks),
    cycled over a virtual length of :data:`MAX_CALIBRATION_BATCHES` batches.

    Per batch it does what :class:`~sphere_study.data.SphericalDataset` does: uint8 to float32 / 255, targets to int64,
    the whole batch at once through ``__getitems__``, so the loader's work matches the fit's.
    """

    def __init__(self, task: str, bandwidth: int, in_channels: int, num_classes: int, batch_size: int) -> None:
        import torch

        side, self.distinct = 2 * bandwidth, _DISTINCT_BATCHES * batch_size
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (self.distinct, in_channels, side, side), dtype=torch.uint8,
                                    generator=generator)  # fmt: skip
        shape = (self.distinct, side, side) if task == "segmentation" else (self.distinct,)
        self.targets = torch.randint(0, num_classes, shape, dtype=torch.uint8, generator=generator)
        self.length = MAX_CALIBRATION_BATCHES * batch_size

    def __len__(self) -> int:
        return self.length

    def __getitems__(self, indices):
        import torch

        idx = torch.as_tensor(indices, dtype=torch.int64) % self.distinct
        x = self.images[idx].to(torch.float32).div_(255.0)
        return list(zip(x.unbind(0), self.targets[idx].to(torch.int64).unbind(0), strict=True))

    def __getitem__(self, index: int):
        return self.__getitems__([index])[0]


def _optimizer_only(configured):
    """The optimizer of a ``configure_optimizers`` result (its scheduler steps per epoch: not timed)."""
    if isinstance(configured, dict):
        return configured["optimizer"]
    return configured


@contextlib.contextmanager
def _quiet() -> Any:
    """Lightning's banners, progress bars and warnings go nowhere while timing (the user sees our progress lines)."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _peak_memory_mib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; the whole process so far


def calibrate_job(job: dict[str, Any], say: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    r"""Time one job (the fit arguments of a point, the device, threads and trainer options) as the module docstring
    says; returns the timing record the cache stores.

    ``say`` receives progress messages. Raises whatever building or training raises (an out-of-memory error, a
    network that rejects the shape, ...).
    """
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.loggers import CSVLogger

    from .._lightning_cli import instantiate_fit_command

    device = job["device"]
    torch.set_num_threads(int(job["threads"]))
    started = time.perf_counter()
    with _quiet():
        task, datamodule = instantiate_fit_command(list(job["args"]))
    configured = task.configure_optimizers
    task.configure_optimizers = lambda: _optimizer_only(configured())
    dataset = _SyntheticSpheres(
        datamodule.task, datamodule.bandwidth, datamodule.in_channels, datamodule.num_classes, datamodule.batch_size
    )
    options = {k: v for k, v in (job.get("trainer") or {}).items() if v is not None}
    common = dict(
        accelerator=device,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **options,
    )
    train_timer, eval_timer = WindowTimer(), WindowTimer()
    say("training batches ...")
    with tempfile.TemporaryDirectory(prefix="sphere_study_calibration_") as tmp, _quiet():
        common["default_root_dir"] = tmp
        # A CSV logger as every fit has one (a fit's wandb logger is offline and logs as rarely).
        common["logger"] = CSVLogger(tmp, name="calibration")
        trainer = pl.Trainer(
            max_epochs=1, limit_val_batches=0, callbacks=[_clock_callback(train_timer, device, "train")], **common
        )
        trainer.fit(task, train_dataloaders=datamodule.loader(dataset, train=True))
    train_s = train_timer.seconds_per_batch()
    say(f"{_seconds(train_s)} per training batch; evaluation batches ...")
    with tempfile.TemporaryDirectory(prefix="sphere_study_calibration_") as tmp, _quiet():
        common["default_root_dir"] = tmp
        common["logger"] = False
        trainer = pl.Trainer(
            limit_val_batches=MAX_CALIBRATION_BATCHES, callbacks=[_clock_callback(eval_timer, device, "eval")], **common
        )
        with contextlib.suppress(_TimingComplete):
            trainer.validate(task, dataloaders=datamodule.loader(dataset, train=False), verbose=False)
    eval_s = eval_timer.seconds_per_batch()
    return {
        "train_batch_s": train_s,
        "eval_batch_s": eval_s,
        "train_windows": train_timer.windows,
        "eval_windows": eval_timer.windows,
        "window_batches": [train_timer.window_batches, eval_timer.window_batches],
        "warmup_batches": [train_timer.warmup_batches, eval_timer.warmup_batches],
        "calibration_s": time.perf_counter() - started,
        "peak_memory_mib": round(_peak_memory_mib(device), 1),
        "threads": torch.get_num_threads(),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 0.1 else f"{seconds:.3g} s"


def _child_main(argv: Sequence[str]) -> int:
    """``python -m sphere_study.cost calibrate REQUEST RESULTS``: time each job, append one JSON line per job."""
    if len(argv) != 2:
        print("usage: python -m sphere_study.cost calibrate REQUEST.json RESULTS.jsonl", file=sys.stderr)
        return 2
    from .._allocator import keep_freed_memory
    from ..cli import error_line

    keep_freed_memory()  # as the sphere-study command does for every fit (a quarter of a CPU step otherwise)
    jobs = json.loads(Path(argv[0]).read_text())["jobs"]
    for index, job in enumerate(jobs, start=1):
        prefix = f"  [{index}/{len(jobs)}] {job['label']}:"

        def say(message: str, prefix: str = prefix) -> None:
            print(f"{prefix} {message}", file=sys.__stderr__, flush=True)

        try:
            line = {"digest": job["digest"], "timing": calibrate_job(job, say)}
            timing = line["timing"]
            say(
                f"{_seconds(timing['train_batch_s'])} per training batch, {_seconds(timing['eval_batch_s'])} per "
                f"evaluation batch (calibrated in {timing['calibration_s']:.0f} s)"
            )
        except Exception as err:  # reported per job; the other jobs still run
            line = {"digest": job["digest"], "error": f"{type(err).__name__}: {error_line(err)}"[:500]}
            say(f"failed: {line['error']}")
        with open(argv[1], "a") as results:
            results.write(json.dumps(line) + "\n")
    return 0


def run_calibrations(
    jobs: Sequence[dict[str, Any]],
    *,
    env: dict[str, str] | None = None,
    stream=None,
    preexec_fn: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    r"""Time ``jobs`` in child processes; ``{digest: {"timing": ...} or {"error": ...}}``.

    Each job is a mapping with ``digest``, ``label``, ``args`` (the point's fit arguments), ``device``, ``threads``
    and ``trainer`` (options). The child's progress lines are copied to ``stream`` (default stderr). A child that
    dies (killed for memory, a crash) fails the job it was timing; the remaining jobs go to a new child.
    """
    stream = sys.stderr if stream is None else stream
    env = dict(os.environ if env is None else env)
    env["PYTHONUNBUFFERED"] = "1"
    remaining, outcomes = list(jobs), {}
    while remaining:
        with tempfile.TemporaryDirectory(prefix="sphere_study_cost_") as tmp:
            request, results = Path(tmp) / "request.json", Path(tmp) / "results.jsonl"
            request.write_text(json.dumps({"jobs": remaining}))
            command = [sys.executable, "-m", "sphere_study.cost", "calibrate", str(request), str(results)]
            tail: list[str] = []
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                    preexec_fn=preexec_fn,
                )
            except OSError as err:
                for job in remaining:
                    outcomes[job["digest"]] = {"error": f"could not start {shlex.join(command[:4])}: {err}"}
                break
            try:
                for line in process.stderr:
                    stream.write(line)
                    stream.flush()
                    tail = (tail + [line.rstrip()])[-5:]
                returncode = process.wait()
            except BaseException:  # Ctrl-C: the child must not outlive the estimate
                process.kill()
                process.wait()
                raise
            if results.exists():
                for line in results.read_text().splitlines():
                    record = json.loads(line)
                    outcomes[record.pop("digest")] = record
        unfinished = [job for job in remaining if job["digest"] not in outcomes]
        if unfinished:
            # The child stopped while timing the first unfinished job: that one fails, the rest get a new child.
            how = f"killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"
            hint = " (out of memory?)" if returncode in (-9, 137) else ""
            last = f": {tail[-1]}" if tail and returncode >= 0 else ""
            outcomes[unfinished[0]["digest"]] = {"error": f"the calibration process {how}{hint}{last}"}
        remaining = unfinished[1:]
    return outcomes
