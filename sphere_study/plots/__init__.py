r"""The study's table and figures: ``results.json`` files (or wandb runs) -> tidy CSV, seed statistics, PNGs, wandb.

Tables
------
:func:`collect_results` reads every ``results.json`` under a folder (recursively; copies inside ``wandb/`` folders are
ignored) into one row per run: the columns :data:`RUN_COLUMNS` (model name, family and parameter count, task, data
source, digits per sphere, bandwidth, distinct training images ``train_size`` N, rotated copies ``augment`` A,
``num_train_samples`` = N·A, rotation of the training data, seed, the ``device`` it trained on), the training
compute :data:`COMPUTE_COLUMNS` (``fit_wall_time_s``, ``optimizer_steps``, ``train_batches``, ``flops_per_batch``,
``train_flops``: the ``compute`` block of results.json, see :mod:`sphere_study.results`; empty for files of schema
version 1), then one column per metric key (``test/rotated/acc`` ...; :func:`~sphere_study.results.metric_key`). A
missing ``test/gap/<m>`` is computed as unrotated − rotated. :func:`aggregate_over_seeds` groups the runs that differ
only in their seed: per condition ``n``, ``seeds``, ``devices``, and for each compute column and each metric
``<column>_mean`` and ``<column>_std`` (sample standard deviation, ddof = 1; nan for a single run). Both tables are
written as CSV (``runs.csv``, ``aggregate.csv``).

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
* ``metric_vs_flops``, ``metric_vs_wall_time``: the data-efficiency curves placed by their training compute instead
  of their images: metric vs ``train_flops`` (forward + backward FLOPs of every training batch) and vs
  ``fit_wall_time_s``, log axes, mean ± std over seeds (wall-time std as horizontal bars), points labelled N·A.
  Equivariance can win per image and lose per FLOP: these show which. Runs without compute fields (results.json of
  schema version 1) are left out, with a message; a setting where none has them gets no such figure.

Every ``plot_*`` function takes the aggregate rows and a metric name and returns a :class:`matplotlib.figure.Figure`
(no pyplot state, so it works on any backend, headless included). :func:`log_to_wandb` logs the PNGs
(``wandb.Image``), both tables (``wandb.Table``) and the curves (``wandb.plot.line``) into one summary run, offline
unless ``WANDB_MODE=online``.

Package layout
--------------
``_rows`` (rows, aggregation, CSV), ``_series`` (the series each figure draws, settings), ``_figures`` (the
``plot_*`` functions, :func:`make_figures`), ``_wandb`` (reading runs from wandb, the summary run), ``_cli``
(:func:`plot_main`), ``__main__`` (``python -m sphere_study.plots``). Import from ``sphere_study.plots`` only.
"""

from ._cli import plot_main
from ._figures import (
    make_figures,
    plot_data_efficiency,
    plot_data_efficiency_by_augment,
    plot_metric_vs_compute,
    plot_rotation_gap,
    plot_saturation,
    save_figure,
)
from ._rows import (
    COMPUTE_COLUMNS,
    CONDITION_COLUMNS,
    EQUIVARIANT_FAMILY,
    RUN_COLUMNS,
    PlotError,
    aggregate_over_seeds,
    collect_results,
    has_compute,
    metric_columns,
    results_row,
    write_csv,
)
from ._series import COMPUTE_AXES, compute_series, data_efficiency_series, saturation_series
from ._wandb import fetch_wandb_runs, log_to_wandb, record_from_wandb_run

__all__ = [
    "COMPUTE_AXES",
    "COMPUTE_COLUMNS",
    "CONDITION_COLUMNS",
    "EQUIVARIANT_FAMILY",
    "RUN_COLUMNS",
    "PlotError",
    "aggregate_over_seeds",
    "collect_results",
    "compute_series",
    "data_efficiency_series",
    "fetch_wandb_runs",
    "has_compute",
    "log_to_wandb",
    "make_figures",
    "metric_columns",
    "plot_data_efficiency",
    "plot_data_efficiency_by_augment",
    "plot_main",
    "plot_metric_vs_compute",
    "plot_rotation_gap",
    "plot_saturation",
    "record_from_wandb_run",
    "results_row",
    "saturation_series",
    "save_figure",
    "write_csv",
]
