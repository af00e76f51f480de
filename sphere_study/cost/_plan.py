r"""How many batches a fit runs: training steps, validation and test batches, from its resolved config.

Everything here reads the resolved ``fit`` config (:func:`sphere_study._lightning_cli.resolve_fit_commands`, every
default filled in) and the data layer's own rules (:func:`sphere_study.data.split_sizes`,
:func:`sphere_study.data.num_batches`), so the counts are those of the fit, not guessed from a YAML file.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from ..data import num_batches, split_sizes
from ..results import num_train_samples

__all__ = ["RunPlan", "plain_config", "plan_run", "lightning_limit"]

#: Lightning's ``max_epochs`` when neither ``max_epochs`` nor ``max_steps`` is set.
LIGHTNING_DEFAULT_MAX_EPOCHS = 1000
#: Lightning's ``num_sanity_val_steps`` default (validation batches run once before training).
LIGHTNING_DEFAULT_SANITY_STEPS = 2


@dataclasses.dataclass(frozen=True)
class RunPlan:
    r"""The batches of one fit (one sweep point).

    Attributes
    ----------
    train_samples : int
        :math:`n = N \cdot A` training samples per epoch (:math:`N` for ``augment="online"``), :math:`N` the
        ``train_size`` or, when unset, the whole training split.
    batch_size : int
    steps_per_epoch : int
        Training batches per epoch: :func:`~sphere_study.data.num_batches` of :math:`n` (the last batch is left
        out when it would hold one sample), after ``trainer.limit_train_batches``.
    epochs : int
        Epochs the fit runs at most (``trainer.max_epochs``, or as many as ``max_steps`` needs).
    train_steps : int
        Training batches in all, ``epochs × steps_per_epoch`` capped by ``trainer.max_steps``; each is one forward,
        backward and optimizer step (every ``accumulate_grad_batches`` batches).
    val_batches : int
        Validation batches inside the fit loop (every ``check_val_every_n_epoch`` epochs, ``val_check_interval``
        times per epoch, after ``limit_val_batches``).
    sanity_batches : int
        Validation batches of the sanity check before training (``num_sanity_val_steps``).
    test_batches : int
        Test batches after the fit (``test_after_fit``; two test sets for ``rotate_test: both``).
    early_stopping : bool
        An ``EarlyStopping`` callback may end the fit sooner: the counts are an upper bound.
    max_time_s : float or None
        ``trainer.max_time`` in seconds, a cap on the fit loop.
    notes : tuple of str
        What the counts do not model (several devices, ...).
    """

    train_samples: int
    batch_size: int
    steps_per_epoch: int
    epochs: int
    train_steps: int
    val_batches: int
    sanity_batches: int
    test_batches: int
    early_stopping: bool = False
    max_time_s: float | None = None
    notes: tuple[str, ...] = ()


def plain_config(config) -> dict[str, Any]:
    """A resolved config (jsonargparse namespace or mapping) as plain JSON data: nested dicts, lists, scalars."""
    if hasattr(config, "as_dict"):
        config = config.as_dict()
    return json.loads(json.dumps(config, default=str))


def lightning_limit(batches: int, limit, name: str) -> int:
    r"""Batches left by a Lightning ``limit_*_batches``: an int caps the count, a float keeps
    :math:`\lfloor \text{batches} \cdot \text{limit} \rfloor` (None: all)."""
    if limit is None:
        return batches
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
        raise ValueError(f"trainer.{name} must be a number >= 0 or null, got {limit!r}")
    if isinstance(limit, int):
        return min(batches, limit)
    if limit > 1.0:
        raise ValueError(f"trainer.{name}={limit}: a fraction must be at most 1.0 (an int counts batches)")
    return int(batches * limit)


def _parse_max_time(value) -> float | None:
    """``trainer.max_time`` (``"DD:HH:MM:SS"`` or ``{days, hours, minutes, seconds}``) in seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"trainer.max_time {value!r} is not of the form DD:HH:MM:SS")
        days, hours, minutes, seconds = (int(p) for p in parts)
        return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    if isinstance(value, Mapping):
        units = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
        unknown = set(value) - set(units)
        if unknown:
            raise ValueError(f"trainer.max_time has unknown keys {sorted(unknown)}; use {', '.join(units)}")
        return float(sum(float(value[k]) * units[k] for k in value))
    raise ValueError(f"trainer.max_time must be 'DD:HH:MM:SS' or a mapping, got {value!r}")


def _class_paths(callbacks) -> list[str]:
    if callbacks is None:
        return []
    items = callbacks if isinstance(callbacks, list) else [callbacks]
    return [str(item.get("class_path", "")) if isinstance(item, Mapping) else str(item) for item in items]


def _device_count(devices) -> int | None:
    if isinstance(devices, int) and not isinstance(devices, bool):
        return devices
    if isinstance(devices, list):
        return len(devices)
    if isinstance(devices, str) and devices.strip().isdigit():
        return int(devices)
    return None  # "auto", "-1": one device per point in a sweep (each worker sees one GPU)


def plan_run(config) -> RunPlan:
    r"""The :class:`RunPlan` of a resolved ``fit`` config.

    Raises
    ------
    ValueError
        A setting the fit itself would refuse: a ``train_size`` larger than the training split (naming both), a
        ``val_size``/``test_size`` that leaves nothing to train on, an unusable ``limit_*_batches``.

    Examples
    --------
    >>> plan = plan_run({"data": {"source": "mnist", "train_size": 10000, "augment": 4, "batch_size": 32},
    ...                  "trainer": {"max_epochs": 2}})
    >>> plan.train_samples, plan.steps_per_epoch, plan.train_steps, plan.val_batches, plan.test_batches
    (40000, 1250, 2500, 376, 313)
    """
    config = plain_config(config)
    data, trainer = config.get("data") or {}, config.get("trainer") or {}
    source = data.get("source", "digits")
    batch_size = int(data.get("batch_size", 32))
    augment = data.get("augment", 1)
    n_train, n_val, n_test = split_sizes(
        source,
        val_size=data.get("val_size"),
        test_size=data.get("test_size"),
        split_test_set=bool(data.get("split_test_set", False)),
    )
    train_size = data.get("train_size")
    if train_size is not None and train_size > n_train:
        raise ValueError(
            f"data.train_size={train_size:,} exceeds the {n_train:,} training images of {source} with these "
            "val_size/split settings; lower train_size, or use data.augment for more samples"
        )
    samples = num_train_samples(n_train if train_size is None else train_size, augment)

    notes: list[str] = []
    fast_dev_run = trainer.get("fast_dev_run") or 0
    fast_dev_run = 1 if fast_dev_run is True else int(fast_dev_run)
    accumulate = int(trainer.get("accumulate_grad_batches") or 1)
    steps_per_epoch = num_batches(samples, batch_size, train=True)
    val_per_run = num_batches(n_val, batch_size, train=False)
    test_per_split = num_batches(n_test, batch_size, train=False)
    if fast_dev_run:
        steps_per_epoch = min(steps_per_epoch, fast_dev_run)
        val_per_run, test_per_split = min(val_per_run, fast_dev_run), min(test_per_split, fast_dev_run)
        epochs, max_batches, sanity = 1, steps_per_epoch, 0
    else:
        steps_per_epoch = lightning_limit(steps_per_epoch, trainer.get("limit_train_batches"), "limit_train_batches")
        val_per_run = lightning_limit(val_per_run, trainer.get("limit_val_batches"), "limit_val_batches")
        test_per_split = lightning_limit(test_per_split, trainer.get("limit_test_batches"), "limit_test_batches")
        max_steps = trainer.get("max_steps")
        max_steps = -1 if max_steps is None else int(max_steps)
        max_epochs = trainer.get("max_epochs")
        if max_epochs is None or max_epochs == -1:
            max_epochs = LIGHTNING_DEFAULT_MAX_EPOCHS if max_steps == -1 else None
        # max_steps counts optimizer steps: accumulate_grad_batches batches each.
        max_batches = math.inf if max_steps == -1 else max_steps * accumulate
        if max_epochs is None:  # only max_steps bounds the fit
            epochs = math.ceil(max_batches / steps_per_epoch) if steps_per_epoch else 0
        else:
            epochs = int(max_epochs)
            if max_batches < epochs * steps_per_epoch:
                epochs = math.ceil(max_batches / steps_per_epoch)
        sanity_steps = trainer.get("num_sanity_val_steps")
        sanity_steps = LIGHTNING_DEFAULT_SANITY_STEPS if sanity_steps is None else int(sanity_steps)
        sanity = val_per_run if sanity_steps == -1 else min(sanity_steps, val_per_run)
    train_steps = int(min(epochs * steps_per_epoch, max_batches))

    validations = _validations(trainer, steps_per_epoch, epochs) if val_per_run else 0
    test_splits = 2 if data.get("rotate_test") == "both" else 1
    test_batches = test_per_split * test_splits if config.get("test_after_fit", True) else 0

    devices = _device_count(trainer.get("devices"))
    if devices is not None and devices > 1:
        notes.append(f"trainer.devices={devices}: timed on one device; the split over devices is not modelled")
    if accumulate > 1:
        notes.append(f"accumulate_grad_batches={accumulate}: every batch timed as a full optimizer step")
    early_stopping = any(path.rsplit(".", 1)[-1] == "EarlyStopping" for path in _class_paths(trainer.get("callbacks")))
    return RunPlan(
        train_samples=samples,
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        train_steps=train_steps,
        val_batches=validations * val_per_run,
        sanity_batches=sanity,
        test_batches=test_batches,
        early_stopping=early_stopping,
        max_time_s=_parse_max_time(trainer.get("max_time")),
        notes=tuple(notes),
    )


def _validations(trainer: Mapping, steps_per_epoch: int, epochs: int) -> int:
    """Validation runs of the fit loop: ``val_check_interval`` per epoch, every ``check_val_every_n_epoch``."""
    every = trainer.get("check_val_every_n_epoch", 1)
    interval = trainer.get("val_check_interval")
    if not steps_per_epoch or not epochs:
        return 0
    if interval is None or (isinstance(interval, float) and interval == 1.0):
        per_epoch = 1
    elif isinstance(interval, float):
        per_epoch = steps_per_epoch // max(1, int(steps_per_epoch * interval))
    else:  # every `interval` training batches
        if every is None:
            return (epochs * steps_per_epoch) // max(1, int(interval))
        per_epoch = steps_per_epoch // max(1, int(interval))
    return per_epoch * (epochs // int(every or 1))
