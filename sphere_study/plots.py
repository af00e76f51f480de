r"""The study's table and figures: ``results.json`` files (or wandb runs) -> tidy CSV, seed statistics, PNGs, wandb.

Tables
------
:func:`collect_results` reads every ``results.json`` under a folder (recursively; copies inside ``wandb/`` folders are
ignored) into one row per run: the columns :data:`RUN_COLUMNS` (model name, family and parameter count, task, data
source, digits per sphere, bandwidth, distinct training images ``train_size`` N, rotated copies ``augment`` A,
``num_train_samples`` = N·A, rotation of the training data, seed), then one column per metric key
(``test/rotated/acc`` ...; :func:`~sphere_study.results.metric_key`). A missing ``test/gap/<m>`` is computed as
unrotated − rotated. :func:`aggregate_over_seeds` groups the runs that differ only in their seed: per condition
``n``, ``seeds``, and for each metric ``<metric>_mean`` and ``<metric>_std`` (sample standard deviation, ddof = 1;
nan for a single run). Both tables are written as CSV (``runs.csv``, ``aggregate.csv``).

Figures
-------
One set per *setting* (task, source, digits per sphere, bandwidth), named ``<figure>__<setting>.png``; the metric is
the task's headline metric (:data:`~sphere_study.results.HEADLINE_METRIC`) on the rotated test split, mean ± std
over seeds. A line is a model trained on rotated or on unrotated data.

* ``data_efficiency``: metric vs the number of training images N·A (log axis), the x-axis of Gerken et al.: each
  line first grows N at A = 1, then, at its largest N, adds rotated copies (A > 1).
* ``data_efficiency_by_augment``: at fixed A (one panel each), metric vs N.
* ``saturation``: at fixed N (one panel each), metric vs A (log₂ axis, online augmentation last), with the
  unaugmented (A = 1) result of the equivariant family (``s2cnn``) at that N as a horizontal reference band.
* ``rotation_gap``: unrotated − rotated test metric per model, at the model's largest training set (bars, ± std).

Every ``plot_*`` function takes the aggregate rows and a metric name and returns a :class:`matplotlib.figure.Figure`
(no pyplot state, so it works on any backend, headless included). :func:`log_to_wandb` logs the PNGs
(``wandb.Image``), both tables (``wandb.Table``) and the curves (``wandb.plot.line``) into one summary run, offline
unless ``WANDB_MODE=online``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported when a figure is made: `sphere-study plot --help` stays fast
    from matplotlib.figure import Figure

from ._io import atomic_write
from .results import (
    HEADLINE_METRIC,
    RESULTS_FILE,
    TEST_SPLITS,
    ResultsError,
    load_results,
    metric_key,
    num_train_samples,
)

__all__ = [
    "CONDITION_COLUMNS",
    "EQUIVARIANT_FAMILY",
    "RUN_COLUMNS",
    "PlotError",
    "aggregate_over_seeds",
    "collect_results",
    "data_efficiency_series",
    "fetch_wandb_runs",
    "log_to_wandb",
    "make_figures",
    "metric_columns",
    "plot_data_efficiency",
    "plot_data_efficiency_by_augment",
    "plot_main",
    "plot_rotation_gap",
    "plot_saturation",
    "record_from_wandb_run",
    "results_row",
    "saturation_series",
    "write_csv",
]

#: The columns of a run row that describe the run (metric columns follow).
RUN_COLUMNS = (
    "run",
    "task",
    "source",
    "digits_per_sphere",
    "bandwidth",
    "model",
    "family",
    "num_parameters",
    "train_size",
    "augment",
    "num_train_samples",
    "rotate_train",
    "rotate_test",
    "seed",
)
#: The columns that define a condition: runs equal in these differ only in their seed.
CONDITION_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in ("run", "seed"))
#: The model family whose unaugmented result is the reference of the saturation plot.
EQUIVARIANT_FAMILY = "s2cnn"
_SETTING_COLUMNS = ("task", "source", "digits_per_sphere", "bandwidth")
_METRIC_LABELS = {"acc": "accuracy", "miou_fg": "mIoU (digits)", "miou": "mIoU (all)", "pixel_acc": "pixel accuracy"}
_SUMMARY_CONFIG_KEY = "sphere_study_summary_of"


class PlotError(RuntimeError):
    """Nothing to plot, or wandb could not be read; the message says what to do."""


# --------------------------------------------------------------------------------------------------------------------
# Tables


def results_row(record: Mapping[str, Any], run: str) -> dict[str, Any]:
    r"""One table row from a ``results.json`` record (see :mod:`sphere_study.results`); ``run`` names its source."""
    model, data = record["model"], record["data"]
    samples, train_size = data.get("num_train_samples"), data["train_size"]
    if train_size is None and samples is not None:  # "all images": recover N from N x A
        train_size = samples if data["augment"] == "online" else samples // data["augment"]
    if samples is None and train_size is not None:
        samples = num_train_samples(train_size, data["augment"])
    row: dict[str, Any] = {
        "run": run,
        "task": record["task"],
        "source": data["source"],
        "digits_per_sphere": data.get("digits_per_sphere"),
        "bandwidth": data.get("bandwidth"),
        "model": model["name"],
        "family": model.get("family"),
        "num_parameters": model.get("num_parameters"),
        "train_size": train_size,
        "augment": data["augment"],
        "num_train_samples": samples,
        "rotate_train": data.get("rotate_train"),
        "rotate_test": data.get("rotate_test"),
        "seed": record.get("seed"),
    }
    metrics = {key: float(value) for key, value in record["metrics"].items() if value is not None}
    for key in list(metrics):
        parts = key.split("/")
        if len(parts) == 3 and parts[:2] == ["test", TEST_SPLITS[1]]:
            unrotated, gap = metric_key("test", parts[2], TEST_SPLITS[0]), metric_key("test", parts[2], "gap")
            if unrotated in metrics and gap not in metrics:
                metrics[gap] = metrics[unrotated] - metrics[key]
    return row | metrics


def collect_results(root: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str]]:
    r"""Rows of every valid ``results.json`` under ``root``, and a message for each file that is not valid.

    ``run`` is the run folder relative to ``root``. Files inside a folder named ``wandb`` (copies saved to a wandb
    run) are not read.
    """
    root = Path(root)
    if not root.is_dir():
        raise PlotError(f"{root} is not a folder")
    rows, problems = [], []
    for path in sorted(root.rglob(RESULTS_FILE)):
        if "wandb" in path.relative_to(root).parts:
            continue
        try:
            record = load_results(path)
        except ResultsError as err:
            problems.append(str(err))
            continue
        rows.append(results_row(record, run=str(path.parent.relative_to(root))))
    return rows, problems


def metric_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    r"""The metric keys present in ``rows`` (every column not in :data:`RUN_COLUMNS`), sorted."""
    return sorted({key for row in rows for key in row} - set(RUN_COLUMNS))


def aggregate_over_seeds(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    r"""One row per condition (:data:`CONDITION_COLUMNS`): ``n``, ``seeds``, ``<metric>_mean``, ``<metric>_std``.

    The std is the sample standard deviation (ddof = 1), nan for a single run; a run without a metric is left out of
    that metric's statistics.
    """
    metrics = metric_columns(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(c) for c in CONDITION_COLUMNS), []).append(row)
    aggregate = []
    for key, members in groups.items():
        out: dict[str, Any] = dict(zip(CONDITION_COLUMNS, key, strict=True))
        out["n"] = len(members)
        out["seeds"] = ";".join(str(s) for s in sorted(m.get("seed") for m in members if m.get("seed") is not None))
        for metric in metrics:
            values = np.array([m[metric] for m in members if m.get(metric) is not None], dtype=float)
            out[f"{metric}_mean"] = float(values.mean()) if values.size else math.nan
            out[f"{metric}_std"] = float(values.std(ddof=1)) if values.size > 1 else math.nan
        aggregate.append(out)
    return sorted(aggregate, key=_condition_order)


def _augment_order(augment) -> tuple:
    return (1, 0) if augment == "online" else (0, augment)


def _condition_order(row: Mapping[str, Any]) -> tuple:
    return (
        *(str(row.get(c)) for c in _SETTING_COLUMNS),
        row.get("family") != EQUIVARIANT_FAMILY,
        row.get("num_parameters") or 0,
        str(row.get("model")),
        str(row.get("rotate_train")),
        row.get("train_size") or 0,
        _augment_order(row.get("augment")),
    )


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
    r"""Write ``rows`` as CSV (atomically); columns default to the keys in first-seen order. Empty cell = None."""
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows([_csv_value(row.get(c)) for c in columns] for row in rows)

    return atomic_write(path, write)


# --------------------------------------------------------------------------------------------------------------------
# Series and figures

LineKey = tuple[str, Any, Any]  # (model, num_parameters, rotate_train)


def _line_key(row: Mapping[str, Any]) -> LineKey:
    return (row["model"], row.get("num_parameters"), row.get("rotate_train"))


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


def _is_reference(row: Mapping[str, Any]) -> bool:
    return row.get("family") == EQUIVARIANT_FAMILY and row.get("augment") == 1


def _by_line(rows: Iterable[Mapping[str, Any]]) -> dict[LineKey, list[Mapping[str, Any]]]:
    lines: dict[LineKey, list[Mapping[str, Any]]] = {}
    for row in rows:
        lines.setdefault(_line_key(row), []).append(row)
    return lines


def _plottable(row: Mapping[str, Any], metric: str) -> bool:
    """The row has a mean of ``metric`` and a place on the axes (N and N·A known)."""
    mean = row.get(f"{metric}_mean")
    placed = row.get("train_size") is not None and row.get("num_train_samples") is not None
    return placed and mean is not None and not math.isnan(mean)


def data_efficiency_series(
    aggregate: Sequence[Mapping[str, Any]], metric: str
) -> dict[LineKey, list[Mapping[str, Any]]]:
    r"""Per line, the rows of the data-efficiency curve, sorted by N·A: A = 1 at every N, then A > 1 at the largest N.

    ``metric`` is a full column prefix such as ``test/rotated/acc``; rows without its mean are left out, and so is
    online augmentation (it has no finite number of images).
    """
    series = {}
    for key, rows in _by_line(r for r in aggregate if _plottable(r, metric) and r["augment"] != "online").items():
        largest = max(r["train_size"] for r in rows)
        chosen = [r for r in rows if r["augment"] == 1 or r["train_size"] == largest]
        series[key] = sorted(chosen, key=lambda r: r["num_train_samples"])
    return series


def saturation_series(
    aggregate: Sequence[Mapping[str, Any]], metric: str
) -> dict[int, tuple[dict[LineKey, list[Mapping[str, Any]]], dict[LineKey, Mapping[str, Any]]]]:
    r"""Per N: (lines over A for every non-reference line, the reference rows of the equivariant family at A = 1).

    Only the N at which some line has two or more values of A are kept (all N if there is none).
    """
    rows = [r for r in aggregate if _plottable(r, metric)]
    per_size: dict[int, tuple[dict, dict]] = {}
    for size in sorted({r["train_size"] for r in rows}):
        at_size = [r for r in rows if r["train_size"] == size]
        lines = {
            k: sorted(v, key=lambda r: _augment_order(r["augment"]))
            for k, v in _by_line(r for r in at_size if not _is_reference(r)).items()
        }
        references = {_line_key(r): r for r in at_size if _is_reference(r)}
        per_size[size] = (lines, references)
    swept = {n: v for n, v in per_size.items() if any(len(line) > 1 for line in v[0].values())}
    return swept or per_size


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


def _settings(aggregate: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    settings: dict[str, list[Mapping[str, Any]]] = {}
    for row in aggregate:
        slug = f"{row['task']}_{row['source']}"
        if row.get("task") == "segmentation" and row.get("digits_per_sphere"):
            slug += f"_{row['digits_per_sphere']}digit"
        if row.get("bandwidth"):
            slug += f"_b{row['bandwidth']}"
        settings.setdefault(slug, []).append(row)
    return settings


def make_figures(
    aggregate: Sequence[Mapping[str, Any]], metric: str | None = None
) -> tuple[dict[str, Figure], list[str]]:
    r"""Every figure of every setting, named ``<figure>__<setting>``, and a message for each that could not be drawn.

    ``metric`` is a metric name (``acc``, ``miou``); default the task's headline metric.
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
        for figure, draw in drawers.items():
            try:
                figures[f"{figure}__{slug}"] = draw()
            except PlotError as err:
                skipped.append(f"{figure}__{slug}: {err}")
    return figures, skipped


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    r"""Save ``fig`` as PNG, atomically."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


# --------------------------------------------------------------------------------------------------------------------
# wandb


def _require_online(what: str) -> None:
    mode = os.environ.get("WANDB_MODE", "offline")
    if mode != "online":
        raise PlotError(
            f"{what} needs the wandb server, but WANDB_MODE is {mode!r} (sphere-study's default is offline): "
            "set WANDB_MODE=online and log in with `wandb login`"
        )


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> dotted keys, with LightningCLI's ``init_args`` level dropped (``model.network``)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, prefix if key == "init_args" else f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _lookup(flat: Mapping[str, Any], *keys: str):
    return next((flat[key] for key in keys if flat.get(key) is not None), None)


def record_from_wandb_run(config: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    r"""A ``results.json``-shaped record from a wandb run's config and summary.

    The config is flattened to dotted keys (``init_args`` dropped, so ``model.init_args.network`` is
    ``model.network``); each field is looked up under the LightningCLI key first, then the bare hyperparameter name
    (``data.train_size``, then ``train_size``). Metrics are the summary's numeric ``test/...`` and ``val/...`` values.

    Raises
    ------
    ValueError
        A field without which the run cannot be placed (model, task, N, A, seed) or every test metric is missing.
    """
    flat = _flatten(config)
    name = _lookup(flat, "model.network", "network", "model.name")
    class_path = str(_lookup(flat, "model.class_path") or "")
    task = _lookup(flat, "task") or next((t for t in HEADLINE_METRIC if t in class_path.lower()), None)
    fields = ("source", "train_size", "augment", "rotate_train", "rotate_test", "digits_per_sphere", "bandwidth")
    data = {field: _lookup(flat, f"data.{field}", field) for field in fields}
    seed = _lookup(flat, "seed_everything", "seed")
    metrics = {
        k: float(v)
        for k, v in summary.items()
        if k.startswith(("test/", "val/")) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    missing = [
        label
        for label, value in (
            ("model network", name),
            ("task", task),
            ("data.train_size", data["train_size"]),
            ("data.augment", data["augment"]),
            ("seed", seed),
        )
        if value is None
    ] + ([] if any(k.startswith("test/") for k in metrics) else ["test metrics"])
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    augment = data["augment"] if data["augment"] == "online" else int(data["augment"])
    num_parameters = _lookup({**flat, **summary}, "model.num_parameters", "model/num_parameters", "num_parameters")
    return {
        "task": task,
        "model": {
            "name": name,
            "family": _lookup(flat, "model.family") or str(name).split("_", 1)[0],
            "num_parameters": None if num_parameters is None else int(num_parameters),
        },
        "data": data | {"train_size": int(data["train_size"]), "augment": augment, "source": data["source"] or "?"},
        "seed": int(seed),
        "metrics": metrics,
    }


def fetch_wandb_runs(project: str, api=None) -> tuple[list[dict[str, Any]], list[str]]:
    r"""Rows of the finished runs of ``ENTITY/PROJECT`` read through the wandb API, and a message per unusable run.

    Needs ``WANDB_MODE=online`` (unless an ``api`` object, e.g. a test double of :class:`wandb.Api`, is given).
    """
    if api is None:
        _require_online("--wandb-project")
        import wandb

        api = wandb.Api()
    try:
        runs = list(api.runs(project, filters={"state": "finished"}))
    except Exception as err:
        raise PlotError(f"could not read the runs of {project!r} from wandb: {err}") from err
    rows, problems = [], []
    for run in runs:
        config = dict(run.config)
        if _SUMMARY_CONFIG_KEY in config:
            continue  # one of our own summary runs
        label = "/".join(run.path)
        try:
            record = record_from_wandb_run(config, dict(run.summary))
        except ValueError as err:
            problems.append(f"wandb run {label}: {err}")
            continue
        rows.append(results_row(record, run=f"wandb:{label}"))
    return rows, problems


def _wandb_table(rows: Sequence[Mapping[str, Any]]):
    import wandb

    columns = list(dict.fromkeys(k for row in rows for k in row))
    data = [[row.get(c) for c in columns] for row in rows]
    return wandb.Table(columns=columns, data=data, allow_mixed_types=True)


def log_to_wandb(
    pngs: Mapping[str, Path],
    runs: Sequence[Mapping[str, Any]],
    aggregate: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    source: str,
    project: str | None = None,
    metric: str | None = None,
) -> Path:
    r"""Log the figures, both tables and the curves into one wandb summary run; returns the run's folder.

    ``mode`` comes from ``WANDB_MODE`` (default ``offline``); the run lives under ``out_dir/wandb``. ``project`` is
    ``ENTITY/PROJECT`` or ``PROJECT`` (default ``$WANDB_PROJECT`` or ``sphere-study``).
    """
    import wandb

    entity, _, name = (project or os.environ.get("WANDB_PROJECT") or "sphere-study").rpartition("/")
    run = wandb.init(
        project=name,
        entity=entity or None,
        job_type="summary",
        name=f"summary {Path(source).name or source}",
        dir=str(out_dir),
        mode=os.environ.get("WANDB_MODE", "offline"),
        config={_SUMMARY_CONFIG_KEY: source},
    )
    run_folder = Path(run.dir).parent  # .../wandb/<offline-run-...>/files -> the run's folder
    try:
        log: dict[str, Any] = {"tables/runs": _wandb_table(runs), "tables/aggregate": _wandb_table(aggregate)}
        log |= {f"figures/{figure}": wandb.Image(str(path)) for figure, path in pngs.items()}
        for slug, rows in _settings(aggregate).items():
            key = metric_key("test", metric or HEADLINE_METRIC[rows[0]["task"]], TEST_SPLITS[1])
            points = [
                [label, r["num_train_samples"], r[f"{key}_mean"]]
                for label, line in ((_line_label(v), v) for v in data_efficiency_series(rows, key).values())
                for r in line
            ]
            if points:
                table = wandb.Table(columns=["model", "num_train_samples", key], data=points)
                chart = wandb.plot.line(table, "num_train_samples", key, "model", f"data efficiency: {slug}")
                log[f"curves/data_efficiency__{slug}"] = chart
            saturation = [
                [f"{_line_label(line)}, N = {size}", r["augment"], r[f"{key}_mean"]]
                for size, (lines, _) in saturation_series(rows, key).items()
                for line in lines.values()
                for r in line
                if r["augment"] != "online"
            ]
            if saturation:
                table = wandb.Table(columns=["model", "augment", key], data=saturation)
                chart = wandb.plot.line(table, "augment", key, "model", f"saturation: {slug}")
                log[f"curves/saturation__{slug}"] = chart
        run.log(log)
    finally:
        run.finish()
    return run_folder


# --------------------------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sphere-study plot",
        description="Collect results.json files (or wandb runs) into CSV tables and draw the study's figures.",
        allow_abbrev=False,
    )
    parser.add_argument("run_dir", nargs="?", help="folder searched recursively for results.json (e.g. a sweep folder)")
    parser.add_argument("--out", help="output folder (default RUN_DIR/plots, or plots/PROJECT with --wandb-project)")
    parser.add_argument("--wandb-project", metavar="ENTITY/PROJECT", help="read the runs from the wandb API instead")
    parser.add_argument(
        "--metric",
        help="metric name to plot (default per task: "
        + ", ".join(f"{task} {name}" for task, name in HEADLINE_METRIC.items())
        + ")",
    )
    parser.add_argument("--no-wandb", action="store_true", help="do not log the figures to a wandb summary run")
    return parser


def plot_main(argv: Sequence[str] | None = None) -> int:
    r"""``sphere-study plot DIR [--out OUT] [--wandb-project P] [--metric M] [--no-wandb]``.

    Returns
    -------
    int
        0 on success, 1 when there is nothing to plot or wandb failed, 2 for bad arguments.
    """
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if (args.run_dir is None) == (args.wandb_project is None):
        parser.error("give either RUN_DIR or --wandb-project ENTITY/PROJECT")
    source = args.run_dir or args.wandb_project
    out = Path(args.out or (Path(args.run_dir) / "plots" if args.run_dir else Path("plots") / source.replace("/", "_")))
    if out.exists() and not out.is_dir():
        print(f"sphere-study plot: error: --out {out} is a file; give a folder for the figures", file=sys.stderr)
        return 2
    try:
        rows, problems = collect_results(args.run_dir) if args.run_dir else fetch_wandb_runs(args.wandb_project)
        for problem in problems:
            print(f"sphere-study plot: skipped {problem}", file=sys.stderr)
        if not rows:
            raise PlotError(f"no completed runs in {source} (no valid {RESULTS_FILE})")
        aggregate = aggregate_over_seeds(rows)
        if args.metric and not any(c.endswith(f"/{args.metric}") for c in metric_columns(rows)):
            names = sorted({c.rsplit("/", 1)[-1] for c in metric_columns(rows) if c.startswith("test/")})
            parser.error(f"--metric {args.metric!r} is in no run; test metrics available: {', '.join(names)}")
        written = [
            write_csv(out / "runs.csv", rows, [*RUN_COLUMNS, *metric_columns(rows)]),
            write_csv(out / "aggregate.csv", aggregate),
        ]
        figures, skipped = make_figures(aggregate, args.metric)
        pngs = {name: save_figure(fig, out / f"{name}.png") for name, fig in figures.items()}
        for message in skipped:
            print(f"sphere-study plot: no figure {message}", file=sys.stderr)
        files = ", ".join(path.name for path in [*written, *pngs.values()])
        print(f"{len(rows)} runs, {len(aggregate)} conditions -> {out}: {files}")
    except PlotError as err:
        print(f"sphere-study plot: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an unwritable --out, a folder where a file should go: one line, not a traceback
        from .cli import error_line

        print(f"sphere-study plot: error: {error_line(err)}", file=sys.stderr)
        return 2
    if args.no_wandb:
        return 0
    try:
        run_folder = log_to_wandb(pngs, rows, aggregate, out, source, args.wandb_project, args.metric)
    except Exception as err:  # the PNGs and CSVs are written; say why wandb did not take them
        print(f"sphere-study plot: error: logging to wandb failed ({err}); rerun with --no-wandb", file=sys.stderr)
        return 1
    offline = " (offline; upload it with `wandb sync`)" if "offline" in run_folder.name else ""
    print(f"wandb summary run: {run_folder}{offline}")
    return 0


if __name__ == "__main__":
    sys.exit(plot_main())
