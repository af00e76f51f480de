r"""Tables: ``results.json`` records -> a row per run, the aggregate over seeds, CSV (see :mod:`sphere_study.plots`)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write
from ..results import (
    COMPUTE_NUMBERS,
    RESULTS_FILE,
    TEST_SPLITS,
    ResultsError,
    compute_of,
    load_results,
    metric_key,
    num_train_samples,
)

#: The columns of a run row that describe the run (the compute columns, then the metric columns follow).
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
    "device",
)
#: The columns that define a condition: runs equal in these differ only in their seed (and the machine they ran on).
CONDITION_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in ("run", "seed", "device"))
#: The training compute of a run (the ``compute`` block of results.json; empty for files of schema version 1),
#: aggregated over seeds like the metrics.
COMPUTE_COLUMNS = COMPUTE_NUMBERS
#: The model family whose unaugmented result is the reference of the saturation plot.
EQUIVARIANT_FAMILY = "s2cnn"
_SETTING_COLUMNS = ("task", "source", "digits_per_sphere", "bandwidth")


class PlotError(RuntimeError):
    """Nothing to plot, or wandb could not be read; the message says what to do."""


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
    compute = compute_of(record) or {}  # none in results.json files of schema version 1
    row["device"] = compute.get("device")
    row |= {column: compute.get(column) for column in COMPUTE_COLUMNS}
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
    r"""The metric keys present in ``rows`` (every column not in :data:`RUN_COLUMNS` or :data:`COMPUTE_COLUMNS`),
    sorted."""
    return sorted({key for row in rows for key in row} - set(RUN_COLUMNS) - set(COMPUTE_COLUMNS))


def has_compute(row: Mapping[str, Any]) -> bool:
    """The run row records its training compute (FLOPs or fit time): false for results.json of schema version 1."""
    return any(row.get(column) is not None for column in ("train_flops", "fit_wall_time_s"))


def aggregate_over_seeds(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    r"""One row per condition (:data:`CONDITION_COLUMNS`): ``n``, ``seeds``, ``devices``, then ``<column>_mean`` and
    ``<column>_std`` for the compute columns (:data:`COMPUTE_COLUMNS`) and for every metric.

    The std is the sample standard deviation (ddof = 1), nan for a single run; a run without a metric (or without
    compute fields) is left out of that column's statistics. ``devices`` lists the distinct devices of the runs
    (``;``-separated): wall times of different machines are not comparable.
    """
    metrics = [*COMPUTE_COLUMNS, *metric_columns(rows)]
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(c) for c in CONDITION_COLUMNS), []).append(row)
    aggregate = []
    for key, members in groups.items():
        out: dict[str, Any] = dict(zip(CONDITION_COLUMNS, key, strict=True))
        out["n"] = len(members)
        out["seeds"] = ";".join(str(s) for s in sorted(m.get("seed") for m in members if m.get("seed") is not None))
        out["devices"] = ";".join(sorted({str(m["device"]) for m in members if m.get("device") is not None}))
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
