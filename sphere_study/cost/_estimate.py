r"""Estimates of fits from their resolved configs: calibration keys, the hardware, the estimate and its lines."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import heapq
import os
import platform
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._cache import CalibrationCache
from ._plan import RunPlan, plain_config, plan_run

__all__ = [
    "DAY_S",
    "KEY_VERSION",
    "TRAINER_TIMING_OPTIONS",
    "Hardware",
    "PointEstimate",
    "calibration_key",
    "code_fingerprint",
    "detect_hardware",
    "estimate_fits",
    "format_duration",
    "point_line",
    "schedule_seconds",
    "summary_lines",
]

DAY_S = 86_400.0
#: Bumped when the calibration itself changes what it measures (older cache entries then no longer match).
KEY_VERSION = 1
#: Trainer options that change the work of every batch; the calibration runs with the point's values of these
#: (and only these), so they are part of its key. Epoch counts, limits and callbacks change how many batches run.
TRAINER_TIMING_OPTIONS = (
    "precision",
    "deterministic",
    "benchmark",
    "enable_progress_bar",
    "log_every_n_steps",
    "accumulate_grad_batches",
    "gradient_clip_val",
    "gradient_clip_algorithm",
    "detect_anomaly",
    "inference_mode",
    "barebones",
)
# Task init arguments that do not change the work of a batch: the optimizer and scheduler are keyed separately (the
# scheduler steps once per epoch), the monitor is a metric name.
_TASK_ARGS_NOT_TIMED = ("optimizer", "lr_scheduler", "lr_scheduler_monitor")
# The packages whose code runs in a training batch: their source is part of the key, so a faster layer or a changed
# model invalidates the cache (a version number would not, between releases).
_TIMED_PACKAGES = ("harmonics", "nn", "models", "tasks")
_TIMED_MODULES = ("_allocator.py", "cost/_calibrate.py", "data/_datamodule.py", "data/_datasets.py")


@dataclasses.dataclass(frozen=True)
class Hardware:
    r"""Where a point's fit runs: ``device`` ``"cpu"`` or ``"cuda"``, its ``name`` (CPU model or GPU name) and the
    number of CPU ``threads`` torch uses there."""

    device: str
    name: str
    threads: int

    def describe(self) -> str:
        if self.device == "cuda":
            return f"CUDA ({self.name})"
        return f"CPU ({self.name}, {self.threads} thread{'s' if self.threads != 1 else ''})"

    def as_key(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def detect_hardware(accelerator: str | None, env: Mapping[str, str] | None = None) -> Hardware:
    r"""The hardware a fit with ``trainer.accelerator`` = ``accelerator`` gets in a process with environment ``env``
    (default this one's): the first visible CUDA device for ``auto``/``gpu``/``cuda`` when there is one, else the CPU;
    threads from ``OMP_NUM_THREADS`` (what a sweep's workers get) or torch's default here.

    Raises
    ------
    ValueError
        ``accelerator`` asks for a GPU and none is visible (the fit itself would fail).
    """
    import torch

    env = os.environ if env is None else env
    threads_text = env.get("OMP_NUM_THREADS", "")
    threads = int(threads_text) if threads_text.strip().isdigit() and int(threads_text) > 0 else torch.get_num_threads()
    accelerator = (accelerator or "auto").lower()
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return Hardware("cuda", torch.cuda.get_device_name(0), threads)
    if accelerator in ("gpu", "cuda"):
        raise ValueError(f"trainer.accelerator={accelerator!r} needs a CUDA device, and none is visible here")
    return Hardware("cpu", _cpu_name(), threads)


@functools.lru_cache(maxsize=4)
def code_fingerprint(root: Path | None = None) -> str:
    """SHA-256 (16 hex digits) of the source of the code a training batch runs (see ``_TIMED_PACKAGES``); read once
    per process (a sweep computes one key per point)."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    files = sorted(p for package in _TIMED_PACKAGES for p in (root / package).rglob("*.py"))
    files += [root / name for name in _TIMED_MODULES if (root / name).exists()]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _optimizer_key(optimizer) -> Any:
    # The learning rate's value does not change the work of a step (every other option may: foreach, fused, amsgrad).
    if isinstance(optimizer, Mapping):
        init_args = {k: v for k, v in (optimizer.get("init_args") or {}).items() if k != "lr"}
        return {"class_path": optimizer.get("class_path"), "init_args": init_args}
    return optimizer


def calibration_key(config, hardware: Hardware, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    r"""Everything that changes the time of a batch of the fit ``config`` on ``hardware``: the task class and its
    arguments (the network spec and bandwidth included; not the LR schedule), the optimizer (not its rate), the
    batch shape (task, bandwidth, batch size, loader workers), the per-batch trainer options
    (:data:`TRAINER_TIMING_OPTIONS`), the device, its name and threads, the torch and Lightning versions, the source
    of the code a batch runs (:func:`code_fingerprint`) and the allocator setting (``SPHERE_STUDY_MALLOC``)."""
    import lightning
    import torch

    config = plain_config(config)
    model, data, trainer = config.get("model") or {}, config.get("data") or {}, config.get("trainer") or {}
    init_args = model.get("init_args") or {}
    env = os.environ if env is None else env
    return {
        "version": KEY_VERSION,
        "task": model.get("class_path"),
        "task_args": {k: v for k, v in init_args.items() if k not in _TASK_ARGS_NOT_TIMED},
        "optimizer": _optimizer_key(init_args.get("optimizer")),
        "data": {k: data.get(k) for k in ("task", "bandwidth", "batch_size", "num_workers")},
        "trainer": {k: trainer.get(k) for k in TRAINER_TIMING_OPTIONS},
        "hardware": hardware.as_key(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "code": code_fingerprint(),
        "allocator": env.get("SPHERE_STUDY_MALLOC", "") or "tuned",
    }


def _network_label(config: Mapping) -> str:
    init_args = (config.get("model") or {}).get("init_args") or {}
    network = init_args.get("network")
    if isinstance(network, Mapping):
        name = network.get("name") or str(network.get("class_path", "network")).rsplit(".", 1)[-1]
        return name + ("*" if network.get("init_args") else "")  # * = with its own arguments
    return str(network)


def _job_label(config: Mapping) -> str:
    data = config.get("data") or {}
    return f"{_network_label(config)} b={data.get('bandwidth')} batch {data.get('batch_size')} ({data.get('task')})"


@dataclasses.dataclass
class PointEstimate:
    r"""The estimate of one fit.

    ``seconds`` = training + validation (sanity check included) + test, each a number of batches
    (:class:`~sphere_study.cost.RunPlan`) times the calibrated time of a training or evaluation batch;
    :attr:`fit_s` is the part inside ``trainer.fit`` (training, validation, the sanity check: what ``results.json``
    records as ``compute.fit_wall_time_s``), capped by ``trainer.max_time``. ``error`` says why there is no estimate.
    """

    label: str
    plan: RunPlan | None = None
    timing: Mapping[str, Any] | None = None
    hardware: Hardware | None = None
    cached: bool = False
    error: str | None = None

    @property
    def available(self) -> bool:
        return self.error is None and self.plan is not None and self.timing is not None

    @property
    def train_s(self) -> float:
        return self.plan.train_steps * self.timing["train_batch_s"]

    @property
    def eval_batches(self) -> int:
        return self.plan.val_batches + self.plan.sanity_batches + self.plan.test_batches

    @property
    def fit_s(self) -> float:
        seconds = self.train_s + (self.plan.val_batches + self.plan.sanity_batches) * self.timing["eval_batch_s"]
        return seconds if self.plan.max_time_s is None else min(seconds, self.plan.max_time_s)

    @property
    def seconds(self) -> float:
        return self.fit_s + self.plan.test_batches * self.timing["eval_batch_s"]


def estimate_fits(
    fits: Sequence[tuple[str, Sequence[str], Any]],
    *,
    env: Mapping[str, str] | None = None,
    cache: CalibrationCache | None = None,
    calibrate: Callable[..., dict[str, dict[str, Any]]] | None = None,
    stream=None,
    preexec_fn: Callable[[], None] | None = None,
) -> list[PointEstimate]:
    r"""Estimate each fit ``(label, fit arguments, resolved config)``.

    Fits that share a calibration key share one calibration; keys found in ``cache`` (default
    :class:`CalibrationCache`) are not calibrated again; the others are timed by ``calibrate`` (default
    :func:`~sphere_study.cost.run_calibrations`: child processes with environment ``env``, the one a sweep gives its
    fits) and stored. Progress goes to ``stream`` (default stderr). A fit that cannot be planned (a setting the fit
    would refuse) or whose calibration failed gets an estimate with ``error`` set; nothing raises for one point.
    """
    import sys

    from ._cache import key_digest
    from ._calibrate import run_calibrations

    stream = sys.stderr if stream is None else stream
    if cache is None:
        try:
            cache = CalibrationCache()
        except OSError as err:  # an unwritable cache root: estimate anyway, remember nothing
            warnings.warn(f"no calibration cache ({err}); calibrations are kept for this run only", stacklevel=2)
            cache = CalibrationCache(tempfile.mkdtemp(prefix="sphere_study_cost_"))
    calibrate = run_calibrations if calibrate is None else calibrate
    estimates: list[PointEstimate] = []
    keys: dict[str, dict[str, Any]] = {}
    jobs: dict[str, dict[str, Any]] = {}
    digests: list[str | None] = []
    for label, args, config in fits:
        config = plain_config(config)
        try:
            plan = plan_run(config)
            hardware = detect_hardware((config.get("trainer") or {}).get("accelerator"), env)
            key = calibration_key(config, hardware, env)
        except ValueError as err:
            estimates.append(PointEstimate(label, error=str(err)))
            digests.append(None)
            continue
        digest = key_digest(key)
        keys.setdefault(digest, key)
        estimates.append(PointEstimate(label, plan=plan, hardware=hardware))
        digests.append(digest)
        if digest not in jobs:
            jobs[digest] = {
                "digest": digest,
                "label": _job_label(config),
                "args": list(args),
                "device": hardware.device,
                "threads": hardware.threads,
                "trainer": key["trainer"],
            }

    timings: dict[str, dict[str, Any]] = {}
    for digest, key in keys.items():
        stored = cache.load(key)
        if stored is not None:
            timings[digest] = {"timing": stored, "cached": True}
    missing = [job for digest, job in jobs.items() if digest not in timings]
    if missing:
        where = sorted({estimate.hardware.describe() for estimate in estimates if estimate.hardware})
        print(
            f"estimate: {len(jobs)} distinct model/batch shape(s), {len(jobs) - len(missing)} calibrated before; "
            f"timing {len(missing)} on {', '.join(where)} (a few training and evaluation batches each, after a "
            "warm-up; cached for the next run):",
            file=stream,
            flush=True,
        )
        kwargs = {"env": None if env is None else dict(env), "stream": stream}
        if preexec_fn is not None:
            kwargs["preexec_fn"] = preexec_fn
        for digest, outcome in calibrate(missing, **kwargs).items():
            if "timing" in outcome:
                try:
                    cache.store(keys[digest], outcome["timing"])
                except OSError as err:  # the estimate stands; only the next run pays the calibration again
                    warnings.warn(f"could not store a calibration in {cache.directory}: {err}", stacklevel=2)
            timings[digest] = outcome
    for estimate, digest in zip(estimates, digests, strict=True):
        if digest is None:
            continue
        outcome = timings.get(digest) or {"error": "no calibration result"}
        if "timing" in outcome:
            estimate.timing, estimate.cached = outcome["timing"], bool(outcome.get("cached"))
        else:
            estimate.error = f"calibration failed: {outcome['error']}"
    return estimates


def schedule_seconds(durations: Sequence[float], workers: int) -> float:
    r"""Wall time of running ``durations`` in order on ``workers`` slots, each next one on the first free slot (what
    the sweep's worker pool does); ``sum(durations)`` for one worker."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    slots = [0.0] * min(workers, max(1, len(durations)))
    for duration in durations:
        heapq.heappush(slots, heapq.heappop(slots) + duration)
    return max(slots) if durations else 0.0


def format_duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3 h 12 min``, ``2 d 5 h``: two units at most, rounded to the smaller one."""
    seconds = max(0.0, float(seconds))
    if seconds < 59.5:
        return f"{seconds:.0f} s" if seconds >= 9.5 else f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _per_batch(seconds: float) -> str:
    if seconds < 0.1:
        return f"{seconds * 1000:.2g} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def point_line(estimate: PointEstimate) -> str:
    """``est 3 h 12 min (12,500 steps × 0.92 s + 1,316 eval batches × 0.31 s)``, or why there is none."""
    if not estimate.available:
        return f"est: not available ({estimate.error})"
    plan, timing = estimate.plan, estimate.timing
    bound = "≤ " if plan.early_stopping else ""
    parts = f"{plan.train_steps:,} steps × {_per_batch(timing['train_batch_s'])}"
    if estimate.eval_batches:
        parts += f" + {estimate.eval_batches:,} eval batches × {_per_batch(timing['eval_batch_s'])}"
    extra = []
    if plan.early_stopping:
        extra.append("early stopping may end it sooner")
    if plan.max_time_s is not None and estimate.fit_s >= plan.max_time_s:
        extra.append(f"capped by max_time {format_duration(plan.max_time_s)}")
    extra += list(plan.notes)
    return f"est {bound}{format_duration(estimate.seconds)} ({parts}{'; ' + '; '.join(extra) if extra else ''})"


def summary_lines(estimates: Sequence[PointEstimate], to_run: Sequence[bool], workers: int = 1) -> list[str]:
    r"""The total over the points to run (``to_run``), its wall time with ``workers``, what the estimate includes,
    and a warning when it exceeds a day."""
    selected = [e for e, run in zip(estimates, to_run, strict=True) if run]
    known = [e for e in selected if e.available]
    lines = []
    if not selected:
        return ["total: nothing to run"]
    serial = sum(e.seconds for e in known)
    where = sorted({e.hardware.describe() for e in known})
    bound = "≤ " if any(e.plan.early_stopping for e in known) else ""
    text = f"total: est {bound}{format_duration(serial)} for {len(known)} point(s) to run"
    if len(known) < len(selected):
        text += f" ({len(selected) - len(known)} more without an estimate)"
    text += f" on {', '.join(where) if where else 'this machine'}"
    if workers > 1 and known:
        wall = schedule_seconds([e.seconds for e in selected if e.available], workers)
        text += f"; about {format_duration(wall)} of wall time with {workers} workers"
    lines.append(text)
    lines.append(
        "  (training steps, validation/test batches timed on synthetic batches of each point's shape; not included: "
        "data preparation (downloads, rendering spheres on first use, online rotations), per-epoch callbacks, "
        "process start-up; ≤: early stopping may end a fit sooner)"
    )
    wall = schedule_seconds([e.seconds for e in known], workers) if known else 0.0
    if wall > DAY_S:
        lines.append(
            f"WARNING: this sweep needs more than a day: about {format_duration(wall)} of wall time"
            f"{f' with {workers} workers' if workers > 1 else ''} on {', '.join(where)}. Run fewer points (--group, "
            "--KEY=VALUE), more workers or machines (--wandb), or a GPU."
        )
    return lines
