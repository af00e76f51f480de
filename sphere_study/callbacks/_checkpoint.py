"""``last.ckpt`` after every epoch, whatever the monitored metric did: what ``--ckpt_path last`` resumes from."""

from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["LastCheckpoint", "best_checkpoint_callback"]


class LastCheckpoint(ModelCheckpoint):
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
