"""``results.json``: the one file per run that sweeps and plots read (schema in :mod:`sphere_study.results`)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.utilities import rank_zero_only

from .._io import atomic_write_json
from ..results import RESULTS_FILE, SCHEMA_VERSION
from ._checkpoint import best_checkpoint_callback

__all__ = ["ResultsWriter", "ParameterChecksum"]


def _number(value):
    value = float(value.detach().cpu()) if isinstance(value, torch.Tensor) else float(value)
    return None if math.isnan(value) else value


def _train_val(metrics) -> dict:
    return {k: v for k, v in metrics.items() if k.startswith(("train/", "val/"))}


class ResultsWriter(pl.Callback):
    """Writes ``<default_root_dir>/results.json`` atomically at the end of testing (``after="test"``, the default:
    ``sphere-study fit`` tests after training) or at the end of fitting (``after="fit"``).

    Nothing is written for a run that stops early with an error, so a sweep can tell finished points from the rest.

    Every checkpoint carries, under ``"sphere_study"``, the run's resolved config (``run_config``, set by the CLI),
    the last train/val metrics and the resume history, so that a resumed run, even one resumed after its last epoch,
    reports the same metrics and records every resume and what it changed (``"resumes"`` in results.json).
    """

    #: The key of this callback's entry in a checkpoint.
    CHECKPOINT_KEY = "sphere_study"

    def __init__(self, after: str = "test"):
        if after not in ("test", "fit"):
            raise ValueError(f"after must be 'test' or 'fit', got {after!r}")
        self.after = after
        self._start: float | None = None
        self._train_start: float | None = None
        self._train_time_s: float | None = None  # the fit loop of this invocation (see results.py)
        self._train_steps: int | None = None
        self._fit_epochs: int | None = None
        self._fit_metrics: dict = {}  # the last train/val metrics: testing replaces trainer.callback_metrics
        self._restored_metrics: dict = {}  # those stored in the checkpoint a fit resumed from
        self.run_config: dict | None = None  # the resolved config, stored in each checkpoint
        self.resumes: list[dict] = []  # one entry per resume of this run: checkpoint, epoch, changed keys

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self._start is None:
            self._start = time.time()

    def on_train_start(self, trainer, pl_module) -> None:
        # After the sanity check and the data set-up: what a cost estimate of training predicts (sphere_study.cost).
        self._train_start = time.perf_counter()
        self._train_steps = trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        if self._train_start is not None:
            self._train_time_s = time.perf_counter() - self._train_start
            self._train_steps = trainer.global_step - (self._train_steps or 0)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        metrics = {**self._restored_metrics, **_train_val(trainer.callback_metrics)}
        checkpoint[self.CHECKPOINT_KEY] = {
            "config": self.run_config,
            "fit_metrics": {k: _number(v) for k, v in metrics.items()},
            "resumes": list(self.resumes),
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        stored = checkpoint.get(self.CHECKPOINT_KEY) or {}
        self._restored_metrics = {k: v for k, v in (stored.get("fit_metrics") or {}).items() if v is not None}
        # The history of earlier resumes, then this one (the CLI put it in self.resumes before fitting).
        self.resumes = list(stored.get("resumes") or []) + [
            r for r in self.resumes if r not in stored.get("resumes", [])
        ]

    def on_fit_end(self, trainer, pl_module) -> None:
        self._fit_epochs = trainer.current_epoch
        # A resume after the last epoch trains nothing: the stored train/val metrics are still the run's.
        self._fit_metrics = {**self._restored_metrics, **dict(trainer.callback_metrics)}
        if self.after == "fit":
            self.write(trainer, pl_module)

    def on_test_end(self, trainer, pl_module) -> None:
        # After a fit in the same process: the run's results. A stand-alone `test` of a checkpoint leaves the run's
        # results.json alone and writes test_results.json beside it.
        if self.after == "test":
            self.write(trainer, pl_module, RESULTS_FILE if self._fit_epochs is not None else "test_results.json")

    @staticmethod
    def _config(trainer) -> dict:
        # The first logger's folder holds config.yaml (SaveConfigCallback); trainer.log_dir would broadcast, which
        # this rank-zero-only code must not do under DDP.
        log_dir = (
            trainer.loggers[0].log_dir if trainer.loggers and trainer.loggers[0].log_dir else trainer.default_root_dir
        )
        path = Path(log_dir) / "config.yaml"
        if not path.exists():
            return {}
        with open(path) as f:
            return yaml.safe_load(f) or {}

    @rank_zero_only
    def write(self, trainer, pl_module, filename: str = RESULTS_FILE) -> Path:
        dm = trainer.datamodule
        data = {}
        if dm is not None:
            for name in (
                "source",
                "train_size",
                "augment",
                "rotate_train",
                "rotate_test",
                "digits_per_sphere",
                "bandwidth",
            ):
                data[name] = getattr(dm, name, None)
            train = getattr(dm, "train_dataset", None)
            data["num_train_samples"] = len(train) if train is not None else None
        checkpoint = best_checkpoint_callback(trainer)
        metrics = {**self._fit_metrics, **trainer.callback_metrics}
        metrics = {k: _number(v) for k, v in metrics.items() if not k.startswith("gpu/")}
        if checkpoint is not None and checkpoint.monitor and checkpoint.best_model_score is not None:
            metrics[f"best/{checkpoint.monitor}"] = _number(checkpoint.best_model_score)
        seed = os.environ.get("PL_GLOBAL_SEED")
        results = {
            "schema_version": SCHEMA_VERSION,
            "status": "completed",
            "task": getattr(pl_module, "task_name", None),
            "model": {
                "name": getattr(pl_module, "network_name", type(pl_module).__name__),
                "family": getattr(pl_module, "family", None),
                "num_parameters": getattr(pl_module, "num_parameters", None),
            },
            "data": data,
            "seed": int(seed) if seed is not None else None,
            "metrics": metrics,
            "epochs": self._fit_epochs if self._fit_epochs is not None else trainer.current_epoch,
            "wall_time_s": time.time() - (self._start or time.time()),
            "train_time_s": self._train_time_s,
            "train_steps": self._train_steps,
            "config": self._config(trainer),
        }
        if self.resumes:
            results["resumes"] = self.resumes
        path = Path(trainer.default_root_dir) / filename
        atomic_write_json(path, results)
        return path


class ParameterChecksum(pl.Callback):
    """Writes ``param_checksum_rank<r>.txt`` (SHA-256 of all parameters) per process at the end of fitting, so that
    distributed runs can be checked for replicas that drifted apart."""

    def on_fit_end(self, trainer, pl_module) -> None:
        import hashlib

        h = hashlib.sha256()
        for name, p in sorted(pl_module.named_parameters()):
            h.update(name.encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
        path = Path(trainer.default_root_dir) / f"param_checksum_rank{trainer.global_rank}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(h.hexdigest() + "\n")
