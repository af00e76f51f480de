r"""Segmentation metrics from a confusion matrix accumulated over the whole epoch.

With :math:`C_{ij}` the number of pixels of true class i predicted as j,

.. math:: \text{IoU}_c = \frac{C_{cc}}{\sum_j C_{cj} + \sum_i C_{ic} - C_{cc}}, \qquad
          \text{pixel accuracy} = \frac{\sum_c C_{cc}}{\sum_{ij} C_{ij}},

``miou`` is the mean IoU over the classes that occur (in the targets or the predictions) and ``miou_fg`` the same
over the digit classes 1..10 only (background, class 0, excluded: Gerken et al.'s headline metric). Classes absent from
both targets and predictions have an undefined IoU and are left out of the means.
"""

from __future__ import annotations

import torch

__all__ = ["segmentation_scores"]


def segmentation_scores(confusion: torch.Tensor, background: int | None = 0) -> dict[str, torch.Tensor]:
    """``pixel_acc``, ``miou``, ``miou_fg`` and per-class ``iou`` (NaN where undefined) from ``confusion [C, C]``."""
    confusion = confusion.double()
    tp = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))
    present = ~iou.isnan()
    foreground = present.clone()
    if background is not None:
        foreground[background] = False
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=confusion.device)
    return {
        "pixel_acc": tp.sum() / confusion.sum().clamp_min(1),
        "miou": iou[present].mean() if present.any() else nan,
        "miou_fg": iou[foreground].mean() if foreground.any() else nan,
        "iou": iou,
    }
