"""Checkpoint callbacks that never lose a save silently: the best epoch, and ``last.ckpt`` after every epoch."""

from __future__ import annotations

import os

from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["BestCheckpoint", "LastCheckpoint", "best_checkpoint_callback"]


class _VerifiedSave:
    """Check that each checkpoint exists after it was saved.

    Lightning's atomic save swallows a PermissionError (a read-only ``checkpoints/``), so without this check a run
    trains to the end and only then fails with "checkpoint file not found", leaving nothing behind.
    """

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        if trainer.is_global_zero and "://" not in str(filepath) and not os.path.isfile(filepath):
            raise OSError(
                f"the checkpoint {filepath} was not written (is {os.path.dirname(filepath) or '.'} writable, is the "
                "disk full?); stopping rather than training on without checkpoints"
            )


class BestCheckpoint(_VerifiedSave, ModelCheckpoint):
    """Lightning's :class:`~lightning.pytorch.callbacks.ModelCheckpoint` (the ``checkpoint`` section), verified."""

    @property
    def state_key(self) -> str:
        # Lightning's own name, so that checkpoints written before this class existed restore its state.
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)


class LastCheckpoint(_VerifiedSave, ModelCheckpoint):
    """Saves ``<dirpath>/last.ckpt`` at the end of every training epoch.

    Lightning's ``ModelCheckpoint(save_last=True)`` refreshes ``last.ckpt`` only in epochs where it also saves a
    top-k checkpoint, so with a monitored metric that stops improving, an interrupted run would resume from an old
    epoch. This callback keeps no top-k and overwrites one file every epoch.
    """

    def __init__(self, dirpath: str | None = None):
        super().__init__(
            dirpath=dirpath, filename=self.CHECKPOINT_NAME_LAST, monitor=None, save_top_k=1, every_n_epochs=1,
            enable_version_counter=False,
        )  # fmt: skip

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"


def best_checkpoint_callback(trainer) -> ModelCheckpoint | None:
    """The trainer's ModelCheckpoint that keeps the best epoch (not the :class:`LastCheckpoint`), if any."""
    return next((cb for cb in trainer.checkpoint_callbacks if not isinstance(cb, LastCheckpoint)), None)
