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
      "schema_version": 2,
      "status": "completed",
      "task": "classification" | "segmentation",
      "model": {"name": str, "family": "s2cnn" | "cnn", "num_parameters": int},
      "data": {"source": str, "train_size": int, "augment": int | "online", "rotate_train": bool,
               "rotate_test": bool | "both", "digits_per_sphere": int, "bandwidth": int,
               "num_train_samples": int},        # train_size x augment (train_size for online)
      "seed": int,
      "metrics": {"test/rotated/acc": float, ...},   # final test metrics (and best val metric)
      "epochs": int, "wall_time_s": float,         # wall time: the whole command (fit, test, set-up)
      "compute": {...},                            # schema version 2: see below
      "config": {...}                             # the full resolved config
    }

The ``compute`` block (schema version 2; every value may be null where it is not known, e.g. after a stand-alone
``test``, which trains nothing):

.. code-block:: text

    "compute": {
      "fit_wall_time_s": float,        # seconds in trainer.fit (training, validation, checkpoints), summed over the
                                       # parts of a resumed run; not the FLOP count, not the test
      "optimizer_steps": int,          # trainer.global_step at the end of the fit: the whole run, resumes included
      "train_batches": int,            # training batches each device processed (Lightning's progress, resumes
                                       # included); = optimizer_steps unless gradients are accumulated
      "device": str,                   # "cpu (2 threads)", "cuda (NVIDIA H200)": the device of the (last) fit
      "num_devices": int,              # devices training in parallel (the DDP world size)
      "batch_shape": [int, ...],       # the training batch the FLOPs were counted on
      "forward_flops_per_batch": int,  # real flops of one forward pass of that batch on one device
      "flops_per_batch": int,          # forward + backward of that batch on one device
      "train_flops": int,              # flops_per_batch x train_batches x num_devices
      "flops_counted_by": str,         # how (sphere_study.models.FLOPS_COUNTED_BY)
      "flops_omit": str,               # what the counts leave out (sphere_study.models.FLOPS_OMIT)
      "flops_error": str               # only if the count failed; the flop fields are then null
    }

A last, smaller batch of an epoch is counted as a full one (``train_flops`` may exceed the exact count by up to
one batch's ``(B - r) / B`` per epoch). Files of schema version 1 (written before the compute block existed) still
load: :func:`compute_of` gives None for them, and plots against compute leave them out.

Sweeps and wandb: a sweep point's fit gets its sweep group in the environment variable :data:`SWEEP_GROUP_ENV`;
the fit's wandb run carries the config keys :data:`WANDB_GROUPING_KEYS` (group, model family, N, A, seed) for
grouping runs in wandb's interface, and its summary the compute block under ``compute/<field>``.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS_FILE = "results.json"
#: The version the writer writes.
SCHEMA_VERSION = 2
#: The versions :func:`load_results` reads: 1 has no ``compute`` block, 2 has one.
SUPPORTED_SCHEMA_VERSIONS = (1, 2)

#: The numeric fields of the ``compute`` block that plots and tables read.
COMPUTE_NUMBERS = ("fit_wall_time_s", "optimizer_steps", "train_batches", "flops_per_batch", "train_flops")

#: The environment variable through which a sweep tells a point's fit its group (``<sweep name>/<group>``).
SWEEP_GROUP_ENV = "SPHERE_STUDY_SWEEP_GROUP"
#: Config keys of every fit's wandb run, for grouping in wandb's interface: sweep group (or the logger's group),
#: model family, distinct training images N (``data.train_size``; null = all), rotated copies A
#: (``data.augment``), seed.
WANDB_GROUPING_KEYS = ("group", "family", "N", "A", "seed")

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
_OPTIONAL_NUMBER = (int, float, type(None))
_OPTIONAL_STR = (str, type(None))
#: The ``compute`` block of schema version 2 (values may be null).
_COMPUTE_FIELDS = {
    "fit_wall_time_s": _OPTIONAL_NUMBER,
    "optimizer_steps": _OPTIONAL_INT,
    "train_batches": _OPTIONAL_INT,
    "device": _OPTIONAL_STR,
    "num_devices": _OPTIONAL_INT,
    "batch_shape": (list, type(None)),
    "forward_flops_per_batch": _OPTIONAL_INT,
    "flops_per_batch": _OPTIONAL_INT,
    "train_flops": _OPTIONAL_NUMBER,
    "flops_counted_by": _OPTIONAL_STR,
    "flops_omit": _OPTIONAL_STR,
}


def compute_of(record: dict) -> dict | None:
    """The ``compute`` block of a loaded record, or None for a schema-version-1 file (which has none)."""
    compute = record.get("compute")
    return compute if isinstance(compute, dict) else None


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
        The file is missing or not JSON, its ``schema_version`` is not one of :data:`SUPPORTED_SCHEMA_VERSIONS`, its
        ``status`` is not ``"completed"``, or a field that sweeps and plots read is missing or of the wrong type (a
        metric may be null: the writer stores NaN so; version 2 needs the ``compute`` block, whose values may be
        null); the message names the file and the field.
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
    version = record.get("schema_version")
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        expected = " or ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise ResultsError(f"{path}: schema_version is {version!r}, expected {expected}")
    if record.get("status") != "completed":
        raise ResultsError(f"{path}: status is {record.get('status')!r}, expected 'completed'")
    required = _REQUIRED_FIELDS if version == 1 else {**_REQUIRED_FIELDS, "compute": _COMPUTE_FIELDS}
    _check_fields(record, required, path, prefix="")
    if record["task"] not in HEADLINE_METRIC:
        raise ResultsError(f"{path}: task is {record['task']!r}, expected one of {sorted(HEADLINE_METRIC)}")
    augment = record["data"]["augment"]
    if augment != "online" and (not isinstance(augment, int) or augment < 1):
        raise ResultsError(f"{path}: field 'data.augment' is {augment!r}, expected an int >= 1 or 'online'")
    for name, value in (compute_of(record) or {}).items():
        if name in COMPUTE_NUMBERS and value is not None and not (isinstance(value, (int, float)) and value >= 0):
            raise ResultsError(f"{path}: field 'compute.{name}' is {value!r}, expected a number >= 0 or null")
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
