"""LightningModules: thin tasks over the plain ``nn.Module`` networks of :mod:`sphere_study.models`.

* :class:`ClassificationTask` — cross-entropy, top-1 and per-class accuracy.
* :class:`SegmentationTask` — per-pixel cross-entropy (optionally class- and area-weighted), pixel accuracy, mIoU
  with and without background, per-class IoU, from an epoch-wide confusion matrix.

Both log ``{stage}/{metric}`` and, on test, ``test/{split}/{metric}`` per test split plus ``test/gap/{metric}``
(names from :mod:`sphere_study.results`).

* :class:`CosineOverRun` — a cosine learning-rate schedule over the run's optimizer steps, its length taken from the
  trainer (for sweeps whose points train for different numbers of steps).
"""

from ._base import SphericalTask
from ._metrics import segmentation_scores
from ._schedules import CosineOverRun
from ._tasks import ClassificationTask, SegmentationTask

__all__ = ["SphericalTask", "ClassificationTask", "SegmentationTask", "CosineOverRun", "segmentation_scores"]
