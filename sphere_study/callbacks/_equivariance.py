"""The model's equivariance error on a fixed set of validation samples and random rotations, every validation epoch."""

from __future__ import annotations

import lightning.pytorch as pl
import torch

from ..equivariance import equivariance_error
from ..harmonics import random_rotation
from ..results import metric_key

__all__ = ["EquivarianceMonitor"]


class EquivarianceMonitor(pl.Callback):
    r"""Logs ``val/equivariance_error`` (mean over rotations) and ``val/equivariance_error_max``.

    The error is :func:`sphere_study.equivariance.equivariance_error` of the network in eval mode on the first
    ``n_samples`` validation images, for ``n_rotations`` Haar-random rotations fixed by ``seed`` (the same every epoch
    and every run; ``every_n_epochs: 0`` turns it off): invariance of logits for classifiers, equivariance of the
    output maps for segmenters. The inputs
    are rotated through their spectra, so the S2CNN's error measures only its nonlinearities; a planar CNN's is large.
    """

    def __init__(self, n_samples: int = 8, n_rotations: int = 3, seed: int = 0, every_n_epochs: int = 1):
        self.n_samples, self.n_rotations, self.seed, self.every_n_epochs = n_samples, n_rotations, seed, every_n_epochs
        self._inputs: torch.Tensor | None = None
        self.rotations = random_rotation(n_rotations, generator=torch.Generator().manual_seed(seed))
        self.last_errors: list[float] = []

    def _fixed_inputs(self, trainer) -> torch.Tensor | None:
        if self._inputs is None:
            dataset = getattr(trainer.datamodule, "val_dataset", None) if trainer.datamodule is not None else None
            if dataset is None or len(dataset) == 0:
                return None
            n = min(self.n_samples, len(dataset))
            self._inputs = torch.stack([dataset[i][0] for i in range(n)]).float()
        return self._inputs

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not self.every_n_epochs or trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        x = self._fixed_inputs(trainer)
        if x is None:
            return
        network = pl_module.network
        was_training = network.training
        network.eval()
        try:
            x = x.to(pl_module.device, dtype=next(network.parameters()).dtype)
            self.last_errors = [equivariance_error(network, x, R) for R in self.rotations]
        finally:
            network.train(was_training)
        errors = torch.tensor(self.last_errors)
        pl_module.log(metric_key("val", "equivariance_error"), errors.mean())
        pl_module.log(metric_key("val", "equivariance_error_max"), errors.max())
