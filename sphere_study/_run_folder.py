r"""The run folder of one ``sphere-study fit``: who writes it, whether it can be written, and what a resume may load.

One fit writes one folder (``trainer.default_root_dir``): ``checkpoints/``, ``logs/version_<k>/``, ``results.json``.
This module keeps that folder trustworthy:

* *One writer*: the fit holds an exclusive ``flock`` on ``<run>/.run.lock`` (its pid written inside) from before it
  writes anything until the process ends, so a second fit in the same folder, or a sweep rerun while an orphaned fit
  still runs, is refused with the holder's pid (:func:`hold_run_lock`, :func:`run_lock_holder`).
* *Writable*: the folder and ``checkpoints/`` are checked before training (:func:`check_writable`); a checkpoint that
  was not written after a save is an error, not a silent loss (Lightning's atomic save swallows PermissionError).
* *Results belong to the last fit*: a new fit moves an earlier ``results.json`` (and, unless it resumes, the earlier
  ``checkpoints/``) aside to ``*.superseded-<time>`` names that plots and sweeps ignore (:func:`supersede`).
* *Safe, matching resumes*: a checkpoint path must be a local file (URLs are refused) and is read with
  ``torch.load(weights_only=True)`` (:func:`read_checkpoint`); the resolved config stored in it is compared with the
  current one (:func:`config_changes`).
"""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_LOCK_FILE",
    "SAFE_RESUME_CHANGES",
    "RunFolderError",
    "CheckpointError",
    "hold_run_lock",
    "run_lock_holder",
    "check_writable",
    "supersede",
    "read_checkpoint",
    "flatten_config",
    "config_changes",
]

RUN_LOCK_FILE = ".run.lock"

#: Keys a resume may change with ``--resume_changes allow``: they decide how long training goes on, not what it is.
SAFE_RESUME_CHANGES = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.min_epochs",
    "trainer.min_steps",
    "test_after_fit",
)

#: Keys never compared: where things are, how they are shown, how the checkpoint is named on this command line.
_IGNORED_KEYS = re.compile(
    r"^(config|ckpt_path|weights_only|resume_changes|print_config|trainer\.default_root_dir|trainer\.enable_progress_bar"
    r"|data\.(root|cache_dir|num_workers|progress|download|download_timeout))$|^__|^trainer\.logger(\.|$)"
)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# The open lock file of each folder this process holds (the lock lives as long as the file stays open).
_HELD: dict[Path, Any] = {}


class RunFolderError(OSError):
    """A run folder that cannot be used: not writable, or being written by another process."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: a URL, missing, corrupt, unsafe, of another model or another config."""


def hold_run_lock(run_dir: str | os.PathLike) -> None:
    """Take the exclusive lock of ``run_dir`` for the rest of this process (idempotent).

    Raises
    ------
    RunFolderError
        Another process holds it (its pid in the message).
    """
    run_dir = Path(run_dir).resolve()
    if run_dir in _HELD:
        return
    handle = open(run_dir / RUN_LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise RunFolderError(
            f"run folder {run_dir} is being written by another process (pid {holder}); wait for it to finish or stop "
            "it, or choose another --trainer.default_root_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _HELD[run_dir] = handle


def run_lock_holder(run_dir: str | os.PathLike) -> str | None:
    """The pid (as text) of the process writing ``run_dir``, or None when nobody holds its lock."""
    path = Path(run_dir) / RUN_LOCK_FILE
    if Path(run_dir).resolve() in _HELD:
        return str(os.getpid())
    try:
        handle = open(path)
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "unknown"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def check_writable(*folders: str | os.PathLike) -> None:
    """Create each folder and check that this process may create files in it.

    Raises
    ------
    RunFolderError
        Naming the first folder that cannot be created or written.
    """
    for folder in map(Path, folders):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise RunFolderError(f"{folder} should be a folder, but a file of that name is there") from None
        except OSError as err:
            raise RunFolderError(f"cannot create the folder {folder}: {err.strerror or err}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise RunFolderError(
                f"{folder} is not writable by this user: checkpoints and results could not be saved; make it writable "
                "or choose another --trainer.default_root_dir"
            )


def supersede(path: str | os.PathLike) -> Path | None:
    """Move ``path`` (a file or folder) to ``<stem>.superseded-<time><suffix>`` beside it; returns the new path."""
    path = Path(path)
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        tag = stamp if attempt == 0 else f"{stamp}-{attempt}"
        target = path.with_name(f"{path.stem}.superseded-{tag}{path.suffix}")
        if not target.exists():
            path.rename(target)
            return target
    raise RunFolderError(f"cannot move {path} aside: too many superseded copies beside it")


def read_checkpoint(path: str | os.PathLike) -> dict:
    r"""Load a local checkpoint with ``torch.load(weights_only=True)`` on the CPU.

    Raises
    ------
    CheckpointError
        A URL, a missing file or a folder, a file that is not a checkpoint or is truncated, or one holding objects
        other than tensors and plain data (which ``weights_only`` refuses to unpickle).
    """
    import torch

    text = str(path)
    if _URL.match(text):
        raise CheckpointError(
            f"--ckpt_path {text}: checkpoints are loaded from local files only (a remote checkpoint can carry code "
            "that runs when it is unpickled); download it, check where it came from, and pass the file"
        )
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder; pass a .ckpt file, or 'last' / 'best'")
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a plain checkpoint: it holds objects that weights_only loading refuses, which "
            f"could run code ({first[:200]}); not loading it"
        ) from None
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {str(err).strip()[:200]}); "
            "delete it and resume from another one, or start the run again"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"checkpoint {path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": value}`` (lists and scalars are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def config_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (stored value, current value)}`` for every compared key that differs (flat configs)."""
    missing = object()
    changes = {}
    for key in sorted(set(stored) | set(current)):
        if _IGNORED_KEYS.search(key):
            continue
        old, new = stored.get(key, missing), current.get(key, missing)
        if old != new:
            changes[key] = (None if old is missing else old, None if new is missing else new)
    return changes
