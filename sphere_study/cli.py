r"""The ``sphere-study`` command: ``fit`` / ``validate`` / ``test`` / ``predict`` (LightningCLI), ``sweep``, ``plot``.

.. code-block:: bash

    sphere-study fit --config configs/quick.yaml                    # train, then test; results.json in the run folder
    sphere-study fit --config configs/segmentation/s2cnn.yaml --data.source mnist --data.root ~/data/mnist
    sphere-study fit --config configs/quick.yaml --ckpt_path last   # resume an interrupted run
    sphere-study test --config configs/quick.yaml --ckpt_path runs/quick/checkpoints/last.ckpt
    sphere-study fit --config configs/quick.yaml --print_config     # the full resolved configuration
    sphere-study sweep --config configs/sweeps/quick.yaml
    sphere-study plot runs/sweeps/quick

Every option is a YAML key and a ``--section.key value`` flag; unknown keys and wrong types are rejected by
jsonargparse with a message naming them. The data's ``bandwidth``, ``num_classes`` and ``in_channels`` are linked to the
task's network. Always-on callbacks have their own sections: ``checkpoint`` (ModelCheckpoint: the best epoch by
``checkpoint.monitor``, which ``fit`` tests), ``last_checkpoint`` (``last.ckpt`` every epoch, for ``--ckpt_path last``),
``results`` (results.json), ``equivariance``, ``samples`` and ``gpu_monitor``. Logging: the
trainer's logger (wandb, offline by default, see :class:`sphere_study.loggers.WandbLogger`) plus a CSV log that is
always written to the run folder, so a run is never lost if wandb cannot start.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger

from ._allocator import keep_freed_memory
from .callbacks import (
    EquivarianceMonitor,
    GPUMonitor,
    LastCheckpoint,
    PredictionSamples,
    ResultsWriter,
    best_checkpoint_callback,
)
from .data import SphericalDataModule
from .tasks import SphericalTask

__all__ = ["SphereStudyCLI", "main"]

#: Exceptions whose message is the whole story (bad input, bad config, missing data): printed without a traceback.
USER_ERRORS = (ValueError, FileNotFoundError)


class SphereStudyCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.bandwidth", "model.init_args.bandwidth")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.in_channels", "model.init_args.in_channels", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.add_lightning_class_args(ResultsWriter, "results")
        parser.add_lightning_class_args(EquivarianceMonitor, "equivariance")
        parser.add_lightning_class_args(PredictionSamples, "samples")
        parser.add_lightning_class_args(GPUMonitor, "gpu_monitor")
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After fit, test the best checkpoint and write results.json",
        )

    # --- run folder and loggers ---------------------------------------------------------------------------------------

    def _prepare_run(self) -> None:
        """Everything of a run in its folder: checkpoints in ``<run>/checkpoints`` (where ``--ckpt_path last`` finds
        them), a CSV log per invocation in ``<run>/logs/version_<k>`` (a resumed run never overwrites the first part's
        log; config.yaml goes there too), and wandb in ``<run>/wandb`` if it starts; if it does not, the run goes on
        with the CSV log and a warning."""
        trainer = self.trainer
        run_dir = Path(trainer.default_root_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        for callback in trainer.checkpoint_callbacks:
            if callback.dirpath is None:
                callback.dirpath = str(run_dir / "checkpoints")
        kept = []
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger) and Path(logger.save_dir) == run_dir:
                continue
            if isinstance(logger, LightningWandbLogger):
                if hasattr(logger, "use_run_dir"):
                    logger.use_run_dir(run_dir)
                try:
                    logger.experiment.config.update(
                        {"num_parameters": self.model.num_parameters, "cli": self._config_dict()}, allow_val_change=True
                    )
                except Exception as e:  # no network, no account, a broken install: never lose the run for it
                    warnings.warn(f"wandb could not start ({type(e).__name__}: {e}); logging to CSV only", stacklevel=2)
                    continue
            kept.append(logger)
        trainer.loggers = [CSVLogger(save_dir=run_dir, name="logs")] + kept

    def _config_dict(self) -> dict:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        try:
            return config.clone().as_dict()
        except Exception:
            return {}

    def _subcommand_config(self):
        return self.config[self.subcommand] if self.subcommand else self.config

    def before_fit(self) -> None:
        self._prepare_run()
        if not self._subcommand_config().get("test_after_fit", True):
            for callback in self.trainer.callbacks:
                if isinstance(callback, ResultsWriter):
                    callback.after = "fit"

    def after_fit(self) -> None:
        if not self._subcommand_config().get("test_after_fit", True) or self.trainer.interrupted:
            return
        checkpoint = best_checkpoint_callback(self.trainer)
        # An explicit path: "best" would take the first ModelCheckpoint, which may be the LastCheckpoint.
        ckpt_path = checkpoint.best_model_path if checkpoint is not None and checkpoint.best_model_path else None
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path)

    def before_validate(self) -> None:
        self._prepare_run()

    def before_test(self) -> None:
        self._prepare_run()


def _run_lightning(args: list[str] | None) -> None:
    if args is not None:
        # Called from Python with explicit arguments: present them as the command line, so that LightningCLI does not
        # warn about mixing the two and a DDP launcher, which re-executes sys.argv, starts its workers with them.
        saved, sys.argv = sys.argv, [sys.argv[0] or "sphere-study", *args]
        try:
            return _run_lightning(None)
        finally:
            sys.argv = saved
    SphereStudyCLI(
        SphericalTask,
        SphericalDataModule,
        subclass_mode_model=True,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": "sphere-study: equivariance versus augmentation on spherical images"},
        auto_configure_optimizers=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``sphere-study`` and ``python -m sphere_study``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "sweep":
        from .sweep import sweep_main

        return sweep_main(args[1:])
    if args and args[0] == "plot":
        from .plots import plot_main

        return plot_main(args[1:])
    keep_freed_memory()  # a quarter of a CPU training step was page faults; see sphere_study._allocator
    try:
        _run_lightning(None if argv is None else args)
    except USER_ERRORS as e:
        if os.environ.get("SPHERE_STUDY_DEBUG"):
            raise
        print(f"sphere-study: error: {e}", file=sys.stderr)
        print("(set SPHERE_STUDY_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 2
    finally:
        _finish_wandb()
    return 0


def _finish_wandb() -> None:
    """Close this invocation's wandb run, so that the next one in the same process starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


if __name__ == "__main__":
    sys.exit(main())
