r"""The results contract between training, sweeps and plots: metric names and the ``results.json`` file.

Metric names (logged by the tasks, read by callbacks, sweeps and plots; spelled only here):

* ``"{stage}/loss"``, ``"{stage}/acc"`` ... for stage ``train`` / ``val``;
* ``"test/{split}/{metric}"`` for each test split, split in :data:`TEST_SPLITS`, and
  ``"test/gap/{metric}"`` = unrotated − rotated when both splits were tested.

Metrics: classification ``acc`` (top-1), ``loss``; segmentation ``miou_fg`` (mean IoU over the digit classes,
background excluded, the headline metric of Gerken et al.), ``miou`` (all classes), ``pixel_acc``, ``loss``.

``results.json`` (one per run folder, written atomically at the end of a successful fit/test):

.. code-block:: text

    {
      "schema_version": 1,
      "status": "completed",
      "task": "classification" | "segmentation",
      "model": {"name": str, "family": "s2cnn" | "cnn", "num_parameters": int},
      "data": {"source": str, "train_size": int, "augment": int | "online", "rotate_train": bool,
               "rotate_test": bool | "both", "digits_per_sphere": int, "bandwidth": int,
               "num_train_samples": int},        # train_size x augment (train_size for online)
      "seed": int,
      "metrics": {"test/rotated/acc": float, ...},   # final test metrics (and best val metric)
      "epochs": int, "wall_time_s": float,
      "train_time_s": float | null,  # the fit loop of the last invocation: start to end of training,
                                     # validation epochs included, sanity check and data set-up excluded
      "train_steps": int | null,     # optimizer steps of that invocation (what sphere_study.cost estimates)
      "config": {...}                             # the full resolved config
    }
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1

#: Test splits, in the order the DataModule returns them when both are requested.
TEST_SPLITS = ("unrotated", "rotated")

#: The metric each task is judged by (higher is better).
HEADLINE_METRIC = {"classification": "acc", "segmentation": "miou_fg"}


def metric_key(stage: str, metric: str, split: str | None = None) -> str:
    """``"val/acc"``, ``"test/rotated/miou_fg"``, ``"test/gap/acc"``: the one place metric names are spelled."""
    return f"{stage}/{metric}" if split is None else f"{stage}/{split}/{metric}"


def num_train_samples(train_size: int, augment: int | str) -> int:
    """Training images a run sees: ``train_size × augment``, or ``train_size`` for online augmentation."""
    return train_size if augment == "online" else train_size * augment


class ResultsError(ValueError):
    """A ``results.json`` that is missing, unreadable, or does not follow the schema above; the message names it."""


_OPTIONAL_INT = (int, type(None))
#: Fields of ``results.json`` that sweeps and plots read, with their types (checked by :func:`load_results`).
#: Fields the writer may not know (no seed set, a network without a family, train_size left at "all") may be null.
_REQUIRED_FIELDS = {
    "task": str,
    "seed": _OPTIONAL_INT,
    "metrics": dict,
    "model": {"name": str, "family": (str, type(None)), "num_parameters": _OPTIONAL_INT},
    "data": {
        "source": str,
        "train_size": _OPTIONAL_INT,
        "augment": (int, str),
        "rotate_train": bool,
        "num_train_samples": _OPTIONAL_INT,
    },
}


def load_results(path) -> dict:
    r"""Read a run's ``results.json`` (or the run folder holding it) and check it is a completed, well-formed result.

    Parameters
    ----------
    path : str or os.PathLike
        The file, or a run folder containing :data:`RESULTS_FILE`.

    Returns
    -------
    dict
        The parsed record.

    Raises
    ------
    ResultsError
        The file is missing or not JSON, its ``schema_version`` is not :data:`SCHEMA_VERSION`, its ``status`` is not
        ``"completed"``, or a field that sweeps and plots read is missing or of the wrong type (a metric may be null:
        the writer stores NaN so); the message names the file and the field.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(record, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(record).__name__}")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version is {record.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    if record.get("status") != "completed":
        raise ResultsError(f"{path}: status is {record.get('status')!r}, expected 'completed'")
    _check_fields(record, _REQUIRED_FIELDS, path, prefix="")
    if record["task"] not in HEADLINE_METRIC:
        raise ResultsError(f"{path}: task is {record['task']!r}, expected one of {sorted(HEADLINE_METRIC)}")
    augment = record["data"]["augment"]
    if augment != "online" and (not isinstance(augment, int) or augment < 1):
        raise ResultsError(f"{path}: field 'data.augment' is {augment!r}, expected an int >= 1 or 'online'")
    for key, value in record["metrics"].items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ResultsError(f"{path}: metric {key!r} is {value!r}, expected a number or null")
    return record


def _check_fields(record: dict, spec: dict, path, prefix: str) -> None:
    for name, expected in spec.items():
        field = f"{prefix}{name}"
        if name not in record:
            raise ResultsError(f"{path}: missing field {field!r}")
        value = record[name]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ResultsError(f"{path}: field {field!r} must be an object, got {value!r}")
            _check_fields(value, expected, path, prefix=f"{field}.")
        elif (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise ResultsError(f"{path}: field {field!r} is {value!r}, of the wrong type")
