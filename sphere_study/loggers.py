"""Experiment tracking: wandb, offline unless asked otherwise, with a CSV fallback that the CLI always adds."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger

__all__ = ["WandbLogger", "wandb_offline_default"]


def wandb_offline_default() -> bool:
    """Offline unless ``WANDB_MODE=online`` (no account, no network, nothing hangs)."""
    return os.environ.get("WANDB_MODE", "offline").lower() != "online"


class WandbLogger(_LightningWandbLogger):
    """Lightning's ``WandbLogger`` with sphere-study's defaults.

    * ``offline=None`` (default): offline unless the environment says ``WANDB_MODE=online``; ``offline: false`` in the
      config (``--trainer.logger.init_args.offline false``) sends runs to the server (needs ``wandb login``).
    * ``save_dir=None``: the run folder (``trainer.default_root_dir``), so an offline run lands at
      ``<run>/wandb/offline-run-*`` and can be uploaded later with ``wandb sync <run>/wandb/offline-run-*``.
    * ``group=None``: a sweep point's run joins its sweep group (:meth:`use_group`, called by the CLI); the config
      gets the grouping keys of :data:`sphere_study.results.WANDB_GROUPING_KEYS` either way.
    """

    def __init__(
        self,
        project: str = "sphere-study",
        name: str | None = None,
        save_dir: str | None = None,
        offline: bool | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
        log_model: bool = False,
        **kwargs,
    ):
        offline = wandb_offline_default() if offline is None else offline
        self._save_dir_given = save_dir is not None
        super().__init__(
            name=name, save_dir=save_dir or ".", project=project, offline=offline, log_model=log_model,
            group=group, tags=tags, **kwargs,
        )  # fmt: skip

    def use_group(self, group: str) -> None:
        """Put the run into wandb group ``group`` (a sweep's group) unless a group was given (only before the run
        starts): wandb's interface then groups a sweep's runs by it."""
        if self._experiment is not None or self._wandb_init.get("group"):
            return
        self._wandb_init["group"] = group

    def use_run_dir(self, run_dir: str | os.PathLike) -> None:
        """Put the wandb files in ``run_dir`` unless a ``save_dir`` was given (only before the run starts)."""
        if self._save_dir_given or self._experiment is not None:
            return
        run_dir = str(Path(run_dir))
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self._save_dir = run_dir
        self._wandb_init["dir"] = run_dir
