r"""The shared LightningModule: builds a registered network, one ``_shared_step`` for every split, optimiser and
scheduler from the config, test metrics per test split (unrotated / rotated) and their gap."""

from __future__ import annotations

from collections.abc import Mapping

import lightning.pytorch as pl
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from ..models import build_model, count_parameters
from ..results import metric_key
from ._schedules import CosineOverRun

__all__ = ["SphericalTask"]


class SphericalTask(pl.LightningModule):
    """Base of :class:`ClassificationTask` and :class:`SegmentationTask` (thin: the network is a plain ``nn.Module``).

    Parameters
    ----------
    network : a registered preset name (``"s2cnn_seg_204k"``), a ``{"class_path": ..., "init_args": ...}`` dict, or a
        module (see :func:`sphere_study.models.build_model`). ``bandwidth``, ``in_channels`` and ``num_classes`` come
        from the data (the CLI links them) and override the network's own.
    optimizer, lr_scheduler : callables from the config (``torch.optim.Adam`` with lr 1e-3 by default, as in
        Gerken et al.); the scheduler is stepped per epoch and may monitor ``lr_scheduler_monitor``, except
        :class:`~sphere_study.tasks.CosineOverRun`, stepped per optimizer step over the whole run.
    """

    task_name: str = ""

    def __init__(
        self,
        network: str | Mapping | nn.Module,
        bandwidth: int | None = None,
        in_channels: int | None = None,
        num_classes: int | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_monitor: str = "val/loss",
    ):
        super().__init__()
        self.save_hyperparameters(
            ignore=["optimizer", "lr_scheduler", "network"]
            if isinstance(network, nn.Module)
            else ["optimizer", "lr_scheduler"]
        )
        overrides = {
            k: v
            for k, v in (("bandwidth", bandwidth), ("in_channels", in_channels), ("num_classes", num_classes))
            if v is not None
        }
        self.network = build_model(network, **overrides)
        self.network_name = network if isinstance(network, str) else type(self.network).__name__
        self.num_classes = self.network.num_classes
        self.optimizer_factory, self.scheduler_factory = optimizer, lr_scheduler
        self.lr_scheduler_monitor = lr_scheduler_monitor
        self.test_split_names: list[str] = ["rotated"]

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.network)

    @property
    def family(self) -> str:
        return "s2cnn" if type(self.network).__name__.startswith("S2CNN") else "cnn"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    # --- set-up -----------------------------------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None:
            return
        if getattr(datamodule, "task", self.task_name) != self.task_name:
            raise ValueError(
                f"{type(self).__name__} trains {self.task_name}, but the data is set up for {datamodule.task!r}: "
                f"set data.task to {self.task_name!r} or use the matching task class"
            )
        for name in ("bandwidth", "num_classes", "in_channels"):
            have, want = getattr(self.network, name), getattr(datamodule, name, None)
            if want is not None and have != want:
                raise ValueError(f"network {name}={have} but the data has {name}={want}: they must agree")
        self.test_split_names = list(getattr(datamodule, "test_split_names", ["rotated"]))

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        config = {"scheduler": scheduler, "monitor": self.lr_scheduler_monitor}
        if isinstance(scheduler, CosineOverRun):
            if scheduler.total_steps is None:
                scheduler.total_steps = max(1, int(self.trainer.estimated_stepping_batches))
            config["interval"] = scheduler.interval
        return {"optimizer": optimizer, "lr_scheduler": config}

    # --- steps ------------------------------------------------------------------------------------------------------

    def _split(self, stage: str, dataloader_idx: int) -> str | None:
        return self.test_split_names[dataloader_idx] if stage == "test" else None

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train", None)

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val", None)

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._shared_step(batch, "test", self._split("test", dataloader_idx))

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x).argmax(1)

    def _shared_step(self, batch, stage: str, split: str | None):
        x, target = batch
        logits = self(x)
        loss = self.loss(logits, target)
        self.log(
            metric_key(stage, "loss", split), loss, prog_bar=stage != "test", on_step=stage == "train", on_epoch=True,
            batch_size=x.shape[0], add_dataloader_idx=False, sync_dist=stage != "train",
        )  # fmt: skip
        self.update_metrics(stage, split, logits.detach(), target)
        return loss

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.compute_metrics("val", None), prog_bar=True, sync_dist=False)

    def on_test_epoch_end(self) -> None:
        scores = {}
        for split in self.test_split_names:
            scores.update(self.compute_metrics("test", split))
        if {"unrotated", "rotated"} <= set(self.test_split_names):
            for key in list(scores):
                if key.startswith("test/rotated/"):
                    name = key.split("/", 2)[2]
                    scores[metric_key("test", name, "gap")] = (
                        scores[metric_key("test", name, "unrotated")] - scores[key]
                    )
        self.log_dict(scores, sync_dist=False)

    # --- implemented by the tasks -----------------------------------------------------------------------------------

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update_metrics(self, stage: str, split: str | None, logits: torch.Tensor, target: torch.Tensor) -> None:
        raise NotImplementedError

    def compute_metrics(self, stage: str, split: str | None) -> dict[str, torch.Tensor]:
        raise NotImplementedError
