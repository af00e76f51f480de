r"""The on-disk cache of calibrations: one JSON file per calibration key, written atomically.

A key is a plain mapping of everything that changes the time of a training batch (:func:`calibration_key` in
:mod:`sphere_study.cost._estimate`); its file is ``<cache root>/cost/<digest>.json`` with the digest a SHA-256 of the
key's canonical JSON, holding ``{"key": ..., "timing": ...}``. A file that cannot be read, is not JSON, or holds
another key or an incomplete timing is reported with a :class:`CalibrationCacheWarning` and treated as missing, so
the calibration is run again and the file rewritten: a damaged cache costs time, never a crash or a wrong estimate.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import atomic_write_json, cache_root

__all__ = ["CalibrationCache", "CalibrationCacheWarning", "key_digest", "TIMING_FIELDS"]

#: What a stored timing must hold (seconds per batch in Lightning's loop, and how they were measured).
TIMING_FIELDS = ("train_batch_s", "eval_batch_s", "train_windows", "eval_windows")


class CalibrationCacheWarning(UserWarning):
    """A calibration cache file was unusable and is being rebuilt; the message names the file and why."""


def key_digest(key: Mapping[str, Any]) -> str:
    """SHA-256 (24 hex digits) of the key's canonical JSON: sorted keys, no whitespace."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class CalibrationCache:
    r"""Calibrations on disk, one file per key.

    Parameters
    ----------
    directory : path, optional
        Default ``<cache root>/cost`` (:func:`sphere_study._io.cache_root`).
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else cache_root() / "cost"

    def path(self, key: Mapping[str, Any]) -> Path:
        return self.directory / f"{key_digest(key)}.json"

    def load(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored timing of ``key``, or None (missing, or unusable: then a warning says which file and why)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            return self._unusable(path, f"not readable JSON ({err})")
        if not isinstance(record, dict) or not isinstance(record.get("timing"), dict):
            return self._unusable(path, "not a calibration record")
        canonical = json.loads(json.dumps(key, sort_keys=True, default=str))
        if record.get("key") != canonical:
            return self._unusable(path, "it records another key (a digest collision or an edited file)")
        timing = record["timing"]
        missing = [f for f in TIMING_FIELDS if f not in timing]
        if missing:
            return self._unusable(path, f"its timing lacks {', '.join(missing)}")
        for field in ("train_batch_s", "eval_batch_s"):
            value = timing[field]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                return self._unusable(path, f"timing.{field} is {value!r}, not a positive number of seconds")
        return timing

    def store(self, key: Mapping[str, Any], timing: Mapping[str, Any]) -> Path:
        """Write ``{"key", "timing"}`` atomically (a reader never sees half a file)."""
        return atomic_write_json(self.path(key), {"key": key, "timing": dict(timing)})

    @staticmethod
    def _unusable(path: Path, why: str) -> None:
        warnings.warn(
            f"calibration cache file {path} is unusable ({why}); calibrating again and rewriting it",
            CalibrationCacheWarning,
            stacklevel=3,
        )
        return None
