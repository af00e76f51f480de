r"""Learning-rate schedules that span a whole run, whatever its length in epochs or steps."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["CosineOverRun"]


class CosineOverRun(LRScheduler):
    r"""Cosine annealing from the optimizer's learning rate to ``eta_min`` over the run's optimizer steps:

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})\big(1 + \cos(\pi\, t / T)\big), \qquad t = 0..T,

    stepped after every optimizer step. Unlike ``CosineAnnealingLR`` (``T_max`` in epochs), ``T`` need not be
    written in the config: :class:`~sphere_study.tasks.SphericalTask` sets it to the trainer's
    ``estimated_stepping_batches`` (``max_epochs`` × batches per epoch, or ``max_steps``). That is what a sweep
    needs whose points train for different numbers of epochs or on sets of different sizes (``data.augment`` A
    makes an epoch A times longer): each point anneals over exactly its own run. A resumed run restores ``T`` and
    the position from the checkpoint.

    Parameters
    ----------
    optimizer : the optimizer whose rates are annealed.
    total_steps : T; ``None`` until the task sets it (stepping before then raises).
    eta_min : the final rate.
    """

    #: Lightning steps this scheduler per optimizer step.
    interval = "step"

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int | None = None, eta_min: float = 0.0):
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if eta_min < 0:
            raise ValueError(f"eta_min must be >= 0, got {eta_min}")
        self.total_steps, self.eta_min = total_steps, eta_min
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:  # the constructor's step: the initial rates
            return [group["initial_lr"] for group in self.optimizer.param_groups]
        if self.total_steps is None:
            raise RuntimeError("CosineOverRun.total_steps is not set: the task sets it from the trainer")
        progress = min(self.last_epoch, self.total_steps) / self.total_steps
        scale = 0.5 * (1.0 + math.cos(math.pi * progress))
        return [self.eta_min + (base - self.eta_min) * scale for base in self.base_lrs]
