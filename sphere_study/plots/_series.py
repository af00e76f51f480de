r"""The series the figures draw: lines (one per model and training rotation), curves over N·A, panels, settings."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._rows import EQUIVARIANT_FAMILY, _augment_order

LineKey = tuple[str, Any, Any]  # (model, num_parameters, rotate_train)


def _line_key(row: Mapping[str, Any]) -> LineKey:
    return (row["model"], row.get("num_parameters"), row.get("rotate_train"))


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


#: The figures against training compute: figure name -> (the compute column of the aggregate, its axis label).
COMPUTE_AXES = {
    "metric_vs_flops": ("train_flops", "training FLOPs (forward + backward of every training batch)"),
    "metric_vs_wall_time": ("fit_wall_time_s", "fit wall time (s)"),
}


def _has_positive(row: Mapping[str, Any], column: str) -> bool:
    value = row.get(f"{column}_mean")
    return value is not None and math.isfinite(value) and value > 0


def compute_series(
    aggregate: Sequence[Mapping[str, Any]], metric: str, column: str
) -> dict[LineKey, list[Mapping[str, Any]]]:
    r"""Per line, the rows of its data-efficiency curve (:func:`data_efficiency_series`) that have a positive mean of
    the compute ``column`` (``train_flops``, ``fit_wall_time_s``), sorted by it.

    The same conditions as the data-efficiency curve, placed by their training compute instead of their number of
    images; rows without compute fields (results.json of schema version 1) are left out.
    """
    series = {}
    for key, rows in data_efficiency_series(aggregate, metric).items():
        placed = [r for r in rows if _has_positive(r, column)]
        if placed:
            series[key] = sorted(placed, key=lambda r: r[f"{column}_mean"])
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
