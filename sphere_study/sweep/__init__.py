r"""Sweeps: a grid of ``sphere-study fit`` runs declared in YAML, run resumably here or as wandb sweeps.

A sweep file names groups of runs. A group is one model family with its base config; its *axes* are the options
it sweeps, and the grid of the group is the cartesian product of its axes. Every option is a dotted LightningCLI key,
exactly as ``sphere-study fit`` takes it on the command line (``data.augment``, ``data.train_size``,
``seed_everything``, ``model.init_args.network``, ``model.class_path`` for the task, ``data.source`` for the
dataset, ``trainer.max_epochs``, ...).

Schema
------
.. code-block:: yaml

    name: augmentation              # required: letters, digits, '_', '-', '.'
    output: runs/sweeps/augmentation  # optional, default runs/sweeps/<name>
    metric: test/rotated/miou_fg    # optional: the metric a wandb sweep reports (maximized)
    wandb: {project: sphere-study, entity: my-team}   # optional, both keys optional
    fixed:                          # optional: overrides for every group
      data.rotate_test: both
    axes:                           # optional: axes of every group
      seed_everything: [0, 1, 2]
    groups:                         # required: group name -> group
      s2cnn:
        base: configs/segmentation/s2cnn.yaml     # required: a config file, or a list of them
        fixed: {data.rotate_train: false}
        axes: {data.train_size: [10000, 60000]}
      cnn:
        base: configs/segmentation/cnn.yaml
        fixed: {data.rotate_train: true}
        axes:
          model.init_args.network: [cnn_seg_218k, cnn_seg_1m]
          data.augment: [1, 2, 4, online]

Relative paths (``output``, ``base``) are relative to the working directory, as for ``sphere-study fit --config``;
run sweeps from the repository root. A group's ``fixed`` and ``axes`` take precedence over the top-level ones for
the same key; a key may not be both fixed and swept within one level. ``trainer.default_root_dir`` is set by the
sweep (the point's folder) and may not be given. Axis values are YAML scalars (or lists/mappings), without
duplicates; the values of an axis are run in the order written, the first axis varying slowest.

Points and folders
------------------
A point is one run: ``<output>/<group>/<point name>/``. The point name lists the axis values sorted by dotted key,
``augment=4__train_size=60000__network=cnn_seg_218k__seed=0`` (the last component of each key, the whole key where
two would clash; ``seed`` for ``seed_everything``). It depends on the values only, so it is stable across edits that
reorder the file. Characters outside ``[A-Za-z0-9._+-]`` become ``-`` and such a value gets a short hash of its exact
text, so names stay filesystem-safe and distinct. Each point folder holds ``point.json`` (what the point is),
``fit.log`` (every attempt's output, appended) and, once the fit completed, ``results.json`` (see
:mod:`sphere_study.results`).

Running
-------
:func:`run_sweep` runs the points as subprocesses ``<fit command> --config BASE --key value ...
--trainer.default_root_dir POINT_DIR``; the fit command is ``python -m sphere_study fit``, or the value of the
environment variable ``SPHERE_STUDY_FIT_COMMAND`` (split like a shell line), or the ``fit_command`` argument.

* *Resume*: a point whose ``results.json`` loads with :func:`~sphere_study.results.load_results` is skipped. The fit
  writes that file atomically at its very end, so a killed point leaves none and only that point is redone.
* *Retry*: a point whose process fails (non-zero exit, killed by a signal, or no valid ``results.json``) is retried
  ``retries`` times (default once), then reported as failed; the other points go on.
* *Stale*: a finished point whose ``point.json`` records other overrides than the sweep file now gives (an edited
  ``fixed`` value) is reported and not run, rather than mixing results of two settings: delete its folder or change
  ``output``. (An unfinished one is simply run with the new overrides.)
* *Workers*: ``workers`` points run at once. With GPUs each worker slot owns one (``CUDA_VISIBLE_DEVICES``, taken
  from the visible devices); without, the CPU threads are split between the workers (``OMP_NUM_THREADS``).
* *Concurrency*: each point holds an exclusive lock on ``<point>/.sweep.lock`` while it runs, so several sweep
  processes (other terminals, or machines sharing the folder) can work on the same sweep: a point locked by
  another process is reported as busy and left to it.
* *wandb grouping*: each fit gets ``SPHERE_STUDY_SWEEP_GROUP=<sweep name>/<group>`` in its environment
  (:data:`~sphere_study.results.SWEEP_GROUP_ENV`); its wandb run joins that wandb group and carries the config keys
  ``group``, ``family``, ``N``, ``A``, ``seed`` (:data:`~sphere_study.results.WANDB_GROUPING_KEYS`).
* At the end (also after Ctrl-C) ``<output>/sweep_summary.json`` records the status of every point of the sweep
  (those not selected this time as ``done``/``pending``/``stale`` on disk), written atomically.

Distributed sweeps on wandb
---------------------------
:func:`wandb_sweep_configs` translates each group into one wandb grid sweep (a wandb grid is a single cartesian
product, and groups have different bases and axes). Its parameters are the group's axes under their dotted names,
and its command runs this module for the one point the agent picked::

    [${env}, ${interpreter}, -m, sphere_study.sweep, --config, SWEEP.yaml, --group, GROUP, ${args}]

``${args}`` expands to ``--data.augment=4 --seed_everything=0 ...``, which select the point; it then runs through
:func:`run_sweep` like any local point, in the same folder, with the same resume, retry and lock. (A command calling
``fit`` directly could not give each run its own folder: the wandb agent substitutes ``${envvar:...}`` macros once,
before it sets the run id.) The YAML files go to ``<output>/wandb_sweeps/<group>.yaml``; ``--wandb`` creates the
sweeps on the server and prints the ``wandb agent`` commands.

Command line
------------
``sphere-study sweep --config FILE [--dry-run [--no-estimate]] [--workers N] [--retries 1] [--wandb] [--group G]
[--KEY=VALUE ...]`` (also ``python -m sphere_study.sweep``): :func:`sweep_main`. ``--KEY=VALUE`` runs only the points
with that value. ``--dry-run`` lists the points and their commands with an estimate of each point's time and the
total (:mod:`sphere_study.cost`, from the points' resolved configs; it times each distinct model and batch shape
once, then caches it); ``--no-estimate`` leaves the estimate out.

Package layout
--------------
``_schema`` (the sweep file, points, selection), ``_locking`` (the point lock, the child fit processes),
``_runner`` (:func:`run_sweep`, point status, the summary), ``_wandb`` (wandb grid sweeps), ``_cli``
(:func:`sweep_main`), ``__main__`` (``python -m sphere_study.sweep``). Import from ``sphere_study.sweep`` only.
"""

from ._cli import sweep_main
from ._runner import (
    PointOutcome,
    SweepReport,
    _visible_gpus,  # noqa: F401  (the GPU list the workers get; tested directly)
    check_point_commands,
    default_fit_command,
    point_fit_args,
    point_status,
    resolve_point_commands,
    run_sweep,
    worker_env,
)
from ._schema import (
    FIT_COMMAND_ENV,
    LOCK_FILE,
    LOG_FILE,
    POINT_FILE,
    RUN_DIR_KEY,
    SUMMARY_FILE,
    WANDB_SWEEPS_DIR,
    Group,
    Point,
    Sweep,
    SweepConfigError,
    SweepError,
    load_sweep,
    select_points,
)
from ._wandb import check_wandb_sweep_config, create_wandb_sweeps, wandb_sweep_configs, write_wandb_sweep_configs

__all__ = [
    "FIT_COMMAND_ENV",
    "LOCK_FILE",
    "LOG_FILE",
    "POINT_FILE",
    "RUN_DIR_KEY",
    "SUMMARY_FILE",
    "WANDB_SWEEPS_DIR",
    "Group",
    "Point",
    "PointOutcome",
    "Sweep",
    "SweepConfigError",
    "SweepError",
    "SweepReport",
    "check_point_commands",
    "check_wandb_sweep_config",
    "create_wandb_sweeps",
    "default_fit_command",
    "load_sweep",
    "point_fit_args",
    "point_status",
    "resolve_point_commands",
    "run_sweep",
    "select_points",
    "sweep_main",
    "wandb_sweep_configs",
    "worker_env",
    "write_wandb_sweep_configs",
]
