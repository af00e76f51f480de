r"""wandb: runs of a project -> table rows (:func:`fetch_wandb_runs`), and the summary run (:func:`log_to_wandb`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..results import HEADLINE_METRIC, TEST_SPLITS, metric_key
from ._figures import _line_label
from ._rows import PlotError, results_row
from ._series import COMPUTE_AXES, _settings, compute_series, data_efficiency_series, saturation_series

_SUMMARY_CONFIG_KEY = "sphere_study_summary_of"


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
    (``data.train_size``, then ``train_size``). Metrics are the summary's numeric ``test/...`` and ``val/...`` values;
    the compute block is the summary's ``compute/<field>`` values (which the fit puts there), if any.

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
    compute = {k.removeprefix("compute/"): v for k, v in summary.items() if k.startswith("compute/")}
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
        **({"compute": compute} if compute else {}),
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

    Curves (``wandb.plot.line``, per setting): data efficiency (metric vs N·A), saturation (metric vs A per N), and
    the metric against training FLOPs and fit wall time (``curves/metric_vs_flops__<setting>``, ...), from the rows
    that record compute. The tables carry the compute columns.

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
            for figure, (column, _) in COMPUTE_AXES.items():
                points = [
                    [label, r[f"{column}_mean"], r[f"{key}_mean"]]
                    for label, line in ((_line_label(v), v) for v in compute_series(rows, key, column).values())
                    for r in line
                ]
                if points:
                    table = wandb.Table(columns=["model", column, key], data=points)
                    chart = wandb.plot.line(table, column, key, "model", f"{figure.replace('_', ' ')}: {slug}")
                    log[f"curves/{figure}__{slug}"] = chart
        run.log(log)
    finally:
        run.finish()
    return run_folder
