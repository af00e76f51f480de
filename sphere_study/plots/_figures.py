r"""Figures: aggregate rows -> :class:`matplotlib.figure.Figure` (no pyplot state), one set per setting."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported when a figure is made: `sphere-study plot --help` stays fast
    from matplotlib.figure import Figure

from .._io import atomic_write
from ..results import HEADLINE_METRIC, TEST_SPLITS, metric_key
from ._rows import PlotError, _augment_order
from ._series import (
    COMPUTE_AXES,
    LineKey,
    _by_line,
    _plottable,
    _settings,
    compute_series,
    data_efficiency_series,
    saturation_series,
)

_METRIC_LABELS = {"acc": "accuracy", "miou_fg": "mIoU (digits)", "miou": "mIoU (all)", "pixel_acc": "pixel accuracy"}


def _count_label(count: float) -> str:
    """1000 -> 1k, 2500000 -> 2.5M, 250 -> 250."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix}"
    return f"{count:g}"


def _line_label(rows: Sequence[Mapping[str, Any]], multiline: bool = False) -> str:
    row = rows[0]
    params = row.get("num_parameters")
    size = "" if params is None else f"{_count_label(params)}, "
    trained = {True: "rotated", False: "unrotated"}.get(row.get("rotate_train"), "?")
    return f"{row['model']}\n{size}trained {trained}" if multiline else f"{row['model']} ({size}trained {trained})"


def _log_axis(ax, values: Iterable[float]) -> None:
    """A log x-axis ticked at the data's values, labelled 250, 1k, 60k."""
    ticks = sorted(set(values))
    ax.set_xscale("log")
    ax.set_xticks(ticks, [_count_label(t) for t in ticks])
    ax.minorticks_off()


class _Style:
    """One colour and marker per line, the same in every figure of a setting."""

    def __init__(self, aggregate: Sequence[Mapping[str, Any]]):
        lines = _by_line(aggregate)  # aggregate rows are sorted: equivariant family first
        self.color = {key: f"C{i % 10}" for i, key in enumerate(lines)}
        self.label = {key: _line_label(rows) for key, rows in lines.items()}

    def marker(self, key: LineKey) -> str:
        return "s" if key[2] is False else "o"


def _metric_label(metric: str) -> str:
    _, split, name = (metric.split("/") + ["", ""])[:3]
    return f"{_METRIC_LABELS.get(name, name)}, {split} test"


def _setting_title(row: Mapping[str, Any]) -> str:
    parts = [f"{row['task']} on {row['source']}"]
    if row.get("task") == "segmentation" and row.get("digits_per_sphere"):
        parts.append(f"{row['digits_per_sphere']} digit(s)/sphere")
    if row.get("bandwidth"):
        parts.append(f"b = {row['bandwidth']}")
    return ", ".join(parts)


def _band(ax, xs, rows: Sequence[Mapping[str, Any]], metric: str, color: str, label: str, marker: str) -> None:
    mean = np.array([r[f"{metric}_mean"] for r in rows], dtype=float)
    std = np.array([r.get(f"{metric}_std", math.nan) for r in rows], dtype=float)
    ax.plot(xs, mean, marker=marker, color=color, label=label)
    if np.isfinite(std).any():
        ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def _new_figure(panels: int = 1) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.4, 4.2 * panels), 4.4), layout="constrained")
    axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0]
    return fig, list(axes)


def _check_rows(aggregate: Sequence[Mapping[str, Any]], metric: str, figure: str) -> None:
    if not any(_plottable(r, metric) for r in aggregate):
        available = sorted({c[: -len("_mean")] for r in aggregate for c in r if c.endswith("_mean")})
        raise PlotError(f"{figure}: no run has the metric {metric!r}; available: {', '.join(available) or 'none'}")


def plot_data_efficiency(aggregate: Sequence[Mapping[str, Any]], metric: str) -> Figure:
    r"""Metric vs training images N·A on a log axis, one line per model, mean ± std band (see the module docstring).

    Parameters
    ----------
    aggregate : sequence of dict
        Rows of :func:`aggregate_over_seeds`, one setting.
    metric : str
        Metric column such as ``"test/rotated/acc"``.
    """
    _check_rows(aggregate, metric, "data efficiency")
    style = _Style(aggregate)
    fig, (ax,) = _new_figure()
    all_xs = []
    for key, rows in data_efficiency_series(aggregate, metric).items():
        xs = [r["num_train_samples"] for r in rows]
        _band(ax, xs, rows, metric, style.color[key], style.label[key], style.marker(key))
        all_xs += xs
    _log_axis(ax, all_xs)
    ax.set_xlabel("training images N × A (distinct images N, rotated copies A)")
    ax.set_ylabel(_metric_label(metric))
    ax.set_title(f"Data efficiency: {_setting_title(aggregate[0])}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def plot_data_efficiency_by_augment(aggregate: Sequence[Mapping[str, Any]], metric: str) -> Figure:
    r"""At fixed augmentation A (one panel per A), metric vs distinct training images N, one line per model."""
    _check_rows(aggregate, metric, "data efficiency by augmentation")
    style = _Style(aggregate)
    rows = [r for r in aggregate if _plottable(r, metric)]
    augments = sorted({r["augment"] for r in rows}, key=_augment_order)
    fig, axes = _new_figure(len(augments))
    for ax, augment in zip(axes, augments, strict=True):
        panel = [r for r in rows if r["augment"] == augment]
        for key, line in _by_line(panel).items():
            line = sorted(line, key=lambda r: r["train_size"])
            xs = [r["train_size"] for r in line]
            _band(ax, xs, line, metric, style.color[key], style.label[key], style.marker(key))
        _log_axis(ax, [r["train_size"] for r in panel])
        ax.set_xlabel("distinct training images N")
        ax.set_title("online augmentation" if augment == "online" else f"A = {augment}")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel(_metric_label(metric))
    axes[0].legend(fontsize="small")
    fig.suptitle(f"Data efficiency at fixed augmentation: {_setting_title(aggregate[0])}")
    return fig


def _augment_positions(augments: Iterable) -> dict[Any, float]:
    """log₂ A for integer A; online augmentation one step right of the largest A."""
    augments = set(augments)
    positions = {a: math.log2(a) for a in sorted(a for a in augments if a != "online")}
    if "online" in augments:
        positions["online"] = (max(positions.values()) if positions else 0.0) + 1.0
    return positions


def plot_saturation(aggregate: Sequence[Mapping[str, Any]], metric: str) -> Figure:
    r"""At fixed N (one panel per N), metric vs augmentation A, with the equivariant model's A = 1 result as reference.

    The reference is a dashed horizontal line at the mean of the ``s2cnn`` family's unaugmented runs at that N, with a
    ± std band.
    """
    _check_rows(aggregate, metric, "saturation")
    style = _Style(aggregate)
    series = saturation_series(aggregate, metric)
    fig, axes = _new_figure(len(series))
    for ax, (size, (lines, references)) in zip(axes, series.items(), strict=True):
        positions = _augment_positions(r["augment"] for line in lines.values() for r in line)
        for key, line in lines.items():
            xs = [positions[r["augment"]] for r in line]
            _band(ax, xs, line, metric, style.color[key], style.label[key], style.marker(key))
        for key, row in references.items():
            mean, std = row[f"{metric}_mean"], row.get(f"{metric}_std", math.nan)
            ax.axhline(mean, color=style.color[key], linestyle="--", label=f"{style.label[key]}, A = 1")
            if math.isfinite(std):
                ax.axhspan(mean - std, mean + std, color=style.color[key], alpha=0.15, linewidth=0)
        ax.set_xticks(list(positions.values()), [str(a) for a in positions])
        ax.set_xlabel("rotated copies per image A")
        ax.set_title(f"N = {size}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel(_metric_label(metric))
    fig.suptitle(f"Saturation of augmentation: {_setting_title(aggregate[0])}")
    return fig


def plot_rotation_gap(aggregate: Sequence[Mapping[str, Any]], metric: str) -> Figure:
    r"""Unrotated − rotated test metric per model (bars ± std), each at its largest training set (max N·A, then N).

    ``metric`` is the metric name (``"acc"``, ``"miou_fg"``); the gap column is ``test/gap/<metric>``.
    """
    gap = metric_key("test", metric, "gap")
    _check_rows(aggregate, gap, "rotation gap")
    style = _Style(aggregate)
    chosen = {
        key: max(rows, key=lambda r: (r["num_train_samples"], r["train_size"]))
        for key, rows in _by_line(r for r in aggregate if _plottable(r, gap)).items()
    }
    fig, (ax,) = _new_figure()
    positions = np.arange(len(chosen))
    means = [row[f"{gap}_mean"] for row in chosen.values()]
    stds = [row.get(f"{gap}_std", math.nan) for row in chosen.values()]
    ax.bar(
        positions,
        means,
        yerr=[s if math.isfinite(s) else 0.0 for s in stds],
        capsize=4,
        color=[style.color[key] for key in chosen],
    )
    labels = [
        f"{_line_label([row], multiline=True)}\nN = {row['train_size']}, A = {row['augment']}\n{mean:.3f} ± {std:.3f}"
        for row, mean, std in zip(chosen.values(), means, stds, strict=True)
    ]
    ax.set_xticks(positions, labels, fontsize="x-small")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel(f"{_METRIC_LABELS.get(metric, metric)}: unrotated − rotated test")
    ax.set_title(f"Rotation gap: {_setting_title(aggregate[0])}")
    ax.grid(alpha=0.3, axis="y")
    return fig


def plot_metric_vs_compute(aggregate: Sequence[Mapping[str, Any]], metric: str, column: str = "train_flops") -> Figure:
    r"""Metric vs training compute on a log axis: the data-efficiency curve of each model placed by its compute.

    Parameters
    ----------
    aggregate : sequence of dict
        Rows of :func:`aggregate_over_seeds`, one setting.
    metric : str
        Metric column such as ``"test/rotated/acc"``: mean ± std band over seeds, as in the other figures.
    column : {"train_flops", "fit_wall_time_s"}
        The compute column (mean over seeds on the x-axis; its std, where the seeds differ, as horizontal error
        bars: FLOPs are the same for every seed, wall times are not). Each point is labelled with its N·A.

    Raises
    ------
    PlotError
        No row has both the metric and the compute column (results.json of schema version 1 have no compute).
    """
    labels = dict(COMPUTE_AXES.values())
    if column not in labels:
        raise ValueError(f"column must be one of {sorted(labels)}, got {column!r}")
    what = "training FLOPs" if column == "train_flops" else "fit wall time"
    _check_rows(aggregate, metric, f"metric vs {what}")
    series = compute_series(aggregate, metric, column)
    if not series:
        raise PlotError(
            f"metric vs {what}: no run records its training compute ({column}); results.json files of schema "
            "version 1 were written before the compute block: refit them to plot against compute"
        )
    style = _Style(aggregate)
    fig, (ax,) = _new_figure()
    for key, rows in series.items():
        xs = np.array([r[f"{column}_mean"] for r in rows], dtype=float)
        _band(ax, xs, rows, metric, style.color[key], style.label[key], style.marker(key))
        xerr = np.nan_to_num(np.array([r.get(f"{column}_std", math.nan) for r in rows], dtype=float))
        if (xerr > 0).any():
            ys = [r[f"{metric}_mean"] for r in rows]
            ax.errorbar(xs, ys, xerr=xerr, fmt="none", ecolor=style.color[key], alpha=0.6)
        for x, row in zip(xs, rows, strict=True):
            ax.annotate(
                _count_label(row["num_train_samples"]), (x, row[f"{metric}_mean"]), textcoords="offset points",
                xytext=(3, 3), fontsize="xx-small", color=style.color[key],
            )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(f"{labels[column]}; points labelled N × A")
    ax.set_ylabel(_metric_label(metric))
    ax.set_title(f"Metric vs {what}: {_setting_title(aggregate[0])}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


def make_figures(
    aggregate: Sequence[Mapping[str, Any]], metric: str | None = None
) -> tuple[dict[str, Figure], list[str]]:
    r"""Every figure of every setting, named ``<figure>__<setting>``, and a message for each that could not be drawn.

    ``metric`` is a metric name (``acc``, ``miou``); default the task's headline metric. The figures against compute
    (``metric_vs_flops``, ``metric_vs_wall_time``) are left out, with a message, for a setting whose runs record no
    compute.
    """
    figures, skipped = {}, []
    for slug, rows in _settings(aggregate).items():
        name = metric or HEADLINE_METRIC[rows[0]["task"]]
        rotated = metric_key("test", name, TEST_SPLITS[1])
        drawers = {
            "data_efficiency": lambda rows=rows, m=rotated: plot_data_efficiency(rows, m),
            "data_efficiency_by_augment": lambda rows=rows, m=rotated: plot_data_efficiency_by_augment(rows, m),
            "saturation": lambda rows=rows, m=rotated: plot_saturation(rows, m),
            "rotation_gap": lambda rows=rows, m=name: plot_rotation_gap(rows, m),
        }
        for figure, (column, _) in COMPUTE_AXES.items():
            drawers[figure] = lambda rows=rows, m=rotated, c=column: plot_metric_vs_compute(rows, m, c)
        for figure, draw in drawers.items():
            try:
                figures[f"{figure}__{slug}"] = draw()
            except PlotError as err:
                skipped.append(f"{figure}__{slug}: {err}")
    return figures, skipped


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    r"""Save ``fig`` as PNG, atomically."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
