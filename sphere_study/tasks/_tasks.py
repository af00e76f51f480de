r"""Classification and segmentation tasks (LightningModules) over any registered network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from ..nn._integrate import quadrature_weights
from ..results import metric_key
from ._base import SphericalTask
from ._metrics import segmentation_scores

__all__ = ["ClassificationTask", "SegmentationTask"]

# Metric-state slots (ModuleDict keys: "train" alone would clash with nn.Module.train).
_SPLITS = ("stage_train", "stage_val", "stage_test_unrotated", "stage_test_rotated")


def _slot(stage: str, split: str | None) -> str:
    return f"stage_{stage}" if split is None else f"stage_{stage}_{split}"


class ClassificationTask(SphericalTask):
    r"""One digit per sphere: cross-entropy; top-1 accuracy (``acc``) and per-class accuracy (``acc_class/<c>``, test).

    Defaults follow Gerken et al.: Adam, lr 1e-3 (batch size 32 is the data's default).
    """

    task_name = "classification"

    def __init__(
        self,
        network: str | Mapping | nn.Module = "s2cnn_cls_cohen",
        bandwidth: int | None = None,
        in_channels: int | None = None,
        num_classes: int | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_monitor: str = "val/loss",
    ):
        super().__init__(network, bandwidth, in_channels, num_classes, optimizer, lr_scheduler, lr_scheduler_monitor)
        c = self.num_classes
        self.accuracy = nn.ModuleDict({s: MulticlassAccuracy(c, average="micro") for s in _SPLITS})
        self.class_accuracy = nn.ModuleDict(
            {s: MulticlassAccuracy(c, average=None) for s in _SPLITS if s.startswith("stage_test")}
        )

    def loss(self, logits, target):
        return F.cross_entropy(logits, target)

    def update_metrics(self, stage, split, logits, target):
        slot = _slot(stage, split)
        preds = logits.argmax(1)
        self.accuracy[slot].update(preds, target)
        if slot in self.class_accuracy:
            self.class_accuracy[slot].update(preds, target)

    def compute_metrics(self, stage, split):
        slot = _slot(stage, split)
        scores = {metric_key(stage, "acc", split): self.accuracy[slot].compute()}
        self.accuracy[slot].reset()
        if slot in self.class_accuracy:
            for c, value in enumerate(self.class_accuracy[slot].compute()):
                scores[metric_key(stage, f"acc_class/{c}", split)] = value
            self.class_accuracy[slot].reset()
        return scores

    def on_train_epoch_end(self) -> None:
        self.log(metric_key("train", "acc"), self.accuracy["stage_train"].compute())
        self.accuracy["stage_train"].reset()


class SegmentationTask(SphericalTask):
    r"""Per-pixel classes on the sphere (0 = background, 1..10 = digit + 1).

    Loss: per-pixel cross-entropy, optionally class-weighted (``class_weights``) and optionally area-weighted
    (``area_weighted``: pixels weighted by the SOFT quadrature weight of their row, so that the loss is an integral
    over the sphere rather than a mean over the equiangular grid, which over-weights the poles).

    Metrics, from a confusion matrix accumulated over the whole epoch (torchmetrics, synced across devices):
    ``pixel_acc``, ``miou`` (all classes), ``miou_fg`` (digit classes, background excluded: the headline metric),
    and, on test splits, ``iou/<c>`` per class. Metrics count pixels of the grid, as Gerken et al. do.
    """

    task_name = "segmentation"

    def __init__(
        self,
        network: str | Mapping | nn.Module = "s2cnn_seg_204k",
        bandwidth: int | None = None,
        in_channels: int | None = None,
        num_classes: int | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_monitor: str = "val/loss",
        class_weights: Sequence[float] | None = None,
        area_weighted: bool = False,
    ):
        super().__init__(network, bandwidth, in_channels, num_classes, optimizer, lr_scheduler, lr_scheduler_monitor)
        c = self.num_classes
        if class_weights is not None and len(class_weights) != c:
            raise ValueError(f"class_weights needs one weight per class ({c}), got {len(class_weights)}")
        self.register_buffer(
            "class_weights", None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        )
        self.area_weighted = area_weighted
        self.confusion = nn.ModuleDict({s: MulticlassConfusionMatrix(c) for s in _SPLITS})

    def loss(self, logits, target):
        weight = None if self.class_weights is None else self.class_weights.to(logits.dtype)
        if not self.area_weighted:
            return F.cross_entropy(logits, target, weight=weight)
        per_pixel = F.cross_entropy(logits, target, weight=weight, reduction="none")  # [B, 2b, 2b]
        b = logits.shape[-1] // 2
        area = quadrature_weights("s2", b, logits.dtype, logits.device)[None, :, None].expand_as(per_pixel)
        norm = area if weight is None else area * weight[target]
        return (per_pixel * area).sum() / norm.sum()

    def update_metrics(self, stage, split, logits, target):
        self.confusion[_slot(stage, split)].update(logits.argmax(1), target)

    def compute_metrics(self, stage, split):
        slot = _slot(stage, split)
        scores = segmentation_scores(self.confusion[slot].compute())
        self.confusion[slot].reset()
        out = {metric_key(stage, name, split): scores[name].float() for name in ("pixel_acc", "miou", "miou_fg")}
        if stage == "test":
            for c, value in enumerate(scores["iou"]):
                out[metric_key(stage, f"iou/{c}", split)] = value.float()
        return out

    def on_train_epoch_end(self) -> None:
        scores = segmentation_scores(self.confusion["stage_train"].compute())
        self.confusion["stage_train"].reset()
        self.log_dict({metric_key("train", k): scores[k].float() for k in ("pixel_acc", "miou_fg")})
