r"""What a fit will cost: the time of every point of a sweep, estimated before anything runs.

``sphere-study sweep --dry-run`` prints, for each point and in total, an estimate of its time on the hardware it
detects (:func:`detect_hardware`: the CUDA device a fit would use, or the CPU with the threads a sweep's worker gets).

Definitions
-----------
For a point with resolved ``fit`` config (the fit's own parser,
:func:`sphere_study._lightning_cli.resolve_fit_commands`) with batch size :math:`B` (:func:`plan_run`,
:class:`RunPlan`):

* training samples :math:`n = N \cdot A`, or :math:`n = N` for ``augment: online``
  (:func:`sphere_study.results.num_train_samples`), :math:`N` the ``train_size`` or the whole training split
  (:func:`sphere_study.data.split_sizes`, from the published sizes, reading no file);
* steps per epoch :math:`s = \lfloor n / B \rfloor` if :math:`n \bmod B = 1` (the module drops a last batch of
  one sample) else :math:`\lceil n / B \rceil` (:func:`sphere_study.data.num_batches`), after
  ``trainer.limit_train_batches``;
* training steps :math:`S = E \cdot s`, :math:`E` = ``trainer.max_epochs`` (capped by ``max_steps``);
* evaluation batches: validation inside the fit loop (:math:`\lceil n_\text{val} / B \rceil` per validation, every
  ``check_val_every_n_epoch`` epochs), the sanity check before it, and the test after it (one or two test sets);
* estimated time :math:`t = S \cdot t_\text{train} + (\text{evaluation batches}) \cdot t_\text{eval}`, with
  :math:`t_\text{train}` and :math:`t_\text{eval}` the calibrated seconds of one training batch (forward, loss,
  metrics, backward, optimizer step, logging, in Lightning's loop) and one evaluation batch.

An ``EarlyStopping`` callback makes the estimate an upper bound (shown as ``≤``). Not included: preparing the data
(downloads, rendering spheres into the cache on first use, the per-batch rendering of online augmentation),
per-epoch callbacks (checkpoints, equivariance error, sample pictures), process start-up.

Calibration
-----------
:mod:`sphere_study.cost._calibrate`: each distinct *calibration key* (:func:`calibration_key`: the task and
network, optimizer, batch shape, per-batch trainer options, device and threads, torch and Lightning versions, the
source of the code a batch runs, the allocator setting) is timed once, in a child process with the environment of a
sweep's fit, after a warm-up, as the median of a few windows of consecutive batches of synthetic data, and stored in
the :class:`CalibrationCache` (``<cache root>/cost/``, one JSON file per key, written atomically): a second dry run
calibrates nothing. A corrupt cache file is rebuilt with a :class:`CalibrationCacheWarning`.

Layout
------
``_plan`` (batch counts from a config), ``_cache`` (the calibration cache), ``_calibrate`` (the timing child and
:func:`run_calibrations`), ``_estimate`` (keys, hardware, :func:`estimate_fits`, the printed lines), ``__main__``
(``python -m sphere_study.cost calibrate``, the child's entry point). It sits on top, with the sweep: it imports the
fit's parser, the data layer's counting rules and (in the child) the training code; :mod:`sphere_study.sweep`
imports it lazily, for ``--dry-run`` only.
"""

from ._cache import TIMING_FIELDS, CalibrationCache, CalibrationCacheWarning, key_digest
from ._calibrate import (
    LONG_TIMED_S,
    MAX_WINDOWS,
    MIN_WINDOWS,
    TIMED_BUDGET_S,
    WARMUP_S,
    WINDOW_S,
    WindowTimer,
    run_calibrations,
)
from ._estimate import (
    DAY_S,
    KEY_VERSION,
    TRAINER_TIMING_OPTIONS,
    Hardware,
    PointEstimate,
    calibration_key,
    code_fingerprint,
    detect_hardware,
    estimate_fits,
    format_duration,
    point_line,
    schedule_seconds,
    summary_lines,
)
from ._plan import RunPlan, lightning_limit, plain_config, plan_run

__all__ = [
    "DAY_S",
    "KEY_VERSION",
    "LONG_TIMED_S",
    "MAX_WINDOWS",
    "MIN_WINDOWS",
    "TIMED_BUDGET_S",
    "TIMING_FIELDS",
    "TRAINER_TIMING_OPTIONS",
    "WARMUP_S",
    "WINDOW_S",
    "CalibrationCache",
    "CalibrationCacheWarning",
    "Hardware",
    "PointEstimate",
    "RunPlan",
    "WindowTimer",
    "calibration_key",
    "code_fingerprint",
    "detect_hardware",
    "estimate_fits",
    "format_duration",
    "key_digest",
    "lightning_limit",
    "plain_config",
    "plan_run",
    "point_line",
    "run_calibrations",
    "schedule_seconds",
    "summary_lines",
]
