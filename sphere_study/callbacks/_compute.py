r"""The ``compute`` block of ``results.json``: training FLOPs, fit wall time, optimizer steps, device.

:class:`FitCompute` is :class:`~sphere_study.callbacks.ResultsWriter`'s bookkeeping (not a callback of its own, so
that the block and the file it goes into cannot disagree). At the start of a fit it counts the FLOPs of one training
batch once, with :func:`sphere_study.models.count_training_flops` on the network and the training batch shape
``[batch_size, in_channels, 2b, 2b]`` (the model interface); then it starts the fit's clock. At the end of the fit

.. math::

    \text{train\_flops} = \text{flops\_per\_batch} \times \text{train\_batches} \times \text{num\_devices},

with ``train_batches`` Lightning's count of the training batches each device processed (restored on resume, so it
covers the whole run) and ``optimizer_steps`` = ``trainer.global_step`` (the same count unless gradients are
accumulated). ``fit_wall_time_s`` is the time from the end of the count to the end of ``trainer.fit`` (training,
validation, checkpoints); a checkpoint stores the time so far, so a resumed run reports the sum over its parts
(the time after the last checkpoint of an interrupted part, whose work is redone, is not in it). The schema and the
meaning of every field are in :mod:`sphere_study.results`.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn

from ..models import FLOPS_COUNTED_BY, FLOPS_OMIT, TrainingFlops, count_training_flops

__all__ = ["FitCompute", "device_label"]


def device_label(device: torch.device) -> str:
    """``"cpu (2 threads)"``, ``"cuda (NVIDIA H200)"``, or the device type."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'' if threads == 1 else 's'})"
    return device.type


def training_batch_shape(trainer, pl_module) -> tuple[int, ...]:
    """``(batch_size, in_channels, 2b, 2b)`` from the datamodule's batch size and the network's interface."""
    network = getattr(pl_module, "network", pl_module)
    batch_size = getattr(trainer.datamodule, "batch_size", None) if trainer.datamodule is not None else None
    missing = [
        name
        for name, value in (
            ("the datamodule's batch_size", batch_size),
            ("the network's in_channels", getattr(network, "in_channels", None)),
            ("the network's bandwidth", getattr(network, "bandwidth", None)),
        )
        if not isinstance(value, int)
    ]
    if missing:
        raise ValueError(f"the training batch shape is unknown: no {', '.join(missing)}")
    grid = 2 * network.bandwidth
    return (batch_size, network.in_channels, grid, grid)


class FitCompute:
    """Compute of one run (see the module docstring); ``as_dict()`` is the ``compute`` block."""

    #: Its entry in the ResultsWriter's part of a checkpoint.
    CHECKPOINT_KEY = "compute"

    def __init__(self):
        self.flops: TrainingFlops | None = None
        self.flops_error: str | None = None
        self.device: str | None = None
        self.num_devices: int | None = None
        self.optimizer_steps: int | None = None
        self.train_batches: int | None = None
        self.fit_wall_time_s: float | None = None
        self._clock: float | None = None  # time.monotonic() when this part of the fit started
        self._earlier_fit_time = 0.0  # the fit time of the earlier parts of a resumed run

    def start(self, trainer, pl_module) -> None:
        """At the start of a fit: count the FLOPs of one training batch (rank zero), then start the clock."""
        device = trainer.strategy.root_device
        self.device, self.num_devices = device_label(device), int(trainer.world_size)
        self.flops, self.flops_error = None, None
        if trainer.global_rank == 0:  # only rank zero writes results.json
            try:
                self.flops = count_training_flops(
                    getattr(pl_module, "network", pl_module), training_batch_shape(trainer, pl_module), device=device
                )
            except Exception as err:  # a model FlopCounterMode cannot run must not stop the training
                self.flops_error = f"{type(err).__name__}: {err}"
                rank_zero_warn(f"could not count the training FLOPs ({self.flops_error}); results.json records none")
        self._clock = time.monotonic()

    def elapsed(self) -> float | None:
        """Fit time so far, earlier parts of a resumed run included; None before a fit started."""
        if self._clock is None:
            return None
        return self._earlier_fit_time + (time.monotonic() - self._clock)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the fit time up to the save."""
        return {"fit_wall_time_s": self.elapsed()}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """From the checkpoint a fit resumes from (before or after :meth:`start`: Lightning restores either way)."""
        earlier = (state or {}).get("fit_wall_time_s")
        self._earlier_fit_time = float(earlier) if isinstance(earlier, (int, float)) else 0.0

    def finish(self, trainer) -> None:
        """At the end of a fit: stop the clock, read the step and batch counts (whole run, resumes included)."""
        self.fit_wall_time_s = self.elapsed()
        self.optimizer_steps = int(trainer.global_step)
        self.train_batches = int(trainer.fit_loop.epoch_loop.batch_progress.total.completed)

    def as_dict(self) -> dict[str, Any]:
        """The ``compute`` block of results.json (nulls for what is unknown, e.g. a ``test`` without a fit)."""
        flops = self.flops
        per_batch = flops.total if flops is not None else None
        train_flops = None
        if per_batch is not None and self.train_batches is not None:
            train_flops = per_batch * self.train_batches * (self.num_devices or 1)
        block = {
            "fit_wall_time_s": self.fit_wall_time_s,
            "optimizer_steps": self.optimizer_steps,
            "train_batches": self.train_batches,
            "device": self.device,
            "num_devices": self.num_devices,
            "batch_shape": list(flops.input_shape) if flops is not None else None,
            "forward_flops_per_batch": flops.forward if flops is not None else None,
            "flops_per_batch": per_batch,
            "train_flops": train_flops,
            "flops_counted_by": FLOPS_COUNTED_BY if flops is not None else None,
            "flops_omit": FLOPS_OMIT if flops is not None else None,
        }
        if self.flops_error is not None:
            block["flops_error"] = self.flops_error
        return block
