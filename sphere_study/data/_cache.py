r"""On-disk cache of generated sample sets: keyed, atomic, validated, safe under concurrent generation.

* **Key.** A file is named ``{readable prefix}-{key}.npz`` where ``key`` is a SHA-256 prefix of the canonical JSON of
  every field that changes the bytes (the :class:`~sphere_study.data.SphereSetSpec`, a digest of the input digits,
  the grid and :data:`~sphere_study.data.FORMAT_VERSION`). The same fields are stored inside the file and compared on
  load, so a key collision or a renamed file can never be mistaken for the right one.
* **Format.** An uncompressed ``.npz`` of uint8 (and int64 label) arrays plus the metadata. Zip stores a CRC-32 per
  member, which numpy's reader verifies, so truncated or bit-flipped files are detected.
* **Atomic writes.** Data go to a temporary file in the same folder (``.{name}.*.tmp``), are flushed and fsynced, then
  ``os.replace``-d onto the final name: readers see either no file or a complete one.
* **Concurrency.** Generation of one file happens under an exclusive ``fcntl.flock`` on ``{name}.lock`` (POSIX; the
  lock dies with its process, so there are no stale locks). A second process asking for the same file waits, then
  loads what the first one wrote instead of generating it again. Where ``fcntl`` is missing both generate, and the
  atomic rename still leaves one valid file. Temporary files left by a killed writer are removed by the next writer.
* **Validation.** A file that is truncated, corrupt, of the wrong shape/dtype or with different metadata is reported
  with a :class:`CacheWarning` and regenerated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from .._io import atomic_path

__all__ = ["CacheWarning", "SphereCache", "cache_key"]

log = logging.getLogger(__name__)

_META = "__meta__"


class CacheWarning(UserWarning):
    """A cache file was unreadable or did not match its key, and is being regenerated."""


def _canonical(fields: Mapping) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)


def cache_key(fields: Mapping) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of ``fields``."""
    return hashlib.sha256(_canonical(fields).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive advisory lock on ``path.lock``; yields whether real locking is available."""
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the atomic rename alone
        yield False
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process that is generating %s", path)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class SphereCache:
    r"""A folder of cached sample sets (see the module docstring).

    Parameters
    ----------
    directory : path
        Created on first write.

    Examples
    --------
    >>> import tempfile
    >>> cache = SphereCache(tempfile.mkdtemp())
    >>> make = lambda: {"x": np.arange(4, dtype=np.uint8)}
    >>> arrays, created = cache.get_or_create("demo", {"n": 4}, {"x": (np.uint8, (4,))}, make)
    >>> created, cache.get_or_create("demo", {"n": 4}, {"x": (np.uint8, (4,))}, make)[1]
    (True, False)
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory).expanduser()

    def path(self, prefix: str, fields: Mapping) -> Path:
        return self.directory / f"{prefix}-{cache_key(fields)}.npz"

    def load(self, path: Path, fields: Mapping, expected: Mapping[str, tuple], warn: bool = True) -> dict | None:
        """The arrays of ``path`` if it exists and is valid for ``fields``; None otherwise (with a warning if invalid).

        ``expected`` maps each array name to ``(dtype, shape)``.
        """
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                stored = json.loads(str(archive[_META]))
                if stored != json.loads(_canonical(fields)):
                    raise ValueError("its metadata belongs to different parameters")
                arrays = {}
                for name, (dtype, shape) in expected.items():
                    array = archive[name]
                    if array.dtype != np.dtype(dtype) or array.shape != tuple(shape):
                        raise ValueError(
                            f"array {name!r} is {array.dtype} {array.shape}, expected {np.dtype(dtype)} {tuple(shape)}"
                        )
                    arrays[name] = array
                return arrays
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            if warn:
                warnings.warn(
                    f"cache file {path} is unusable ({type(exc).__name__}: {exc}); regenerating it",
                    CacheWarning,
                    stacklevel=3,
                )
            return None

    def store(self, path: Path, fields: Mapping, arrays: Mapping[str, np.ndarray]) -> None:
        """Write ``arrays`` and ``fields`` to ``path`` atomically (temporary file, fsync, ``os.replace``)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to a name
            np.savez(handle, **{_META: np.array(_canonical(fields))}, **arrays)

    def get_or_create(
        self,
        prefix: str,
        fields: Mapping,
        expected: Mapping[str, tuple],
        create: Callable[[], Mapping[str, np.ndarray]],
    ) -> tuple[dict, bool]:
        """Load the set for ``fields`` or create, store and return it; also returns whether it was created."""
        path = self.path(prefix, fields)
        arrays = self.load(path, fields, expected)
        if arrays is not None:
            return arrays, False
        path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(path) as locked:
            # Another process may have written it while we waited for the lock.
            arrays = self.load(path, fields, expected, warn=False)
            if arrays is not None:
                return arrays, False
            if locked:  # every writer holds the lock, so temporary files seen now are orphans of killed writers
                for orphan in path.parent.glob(f".{path.name}.*.tmp"):
                    with contextlib.suppress(FileNotFoundError):
                        orphan.unlink()
            arrays = dict(create())
            for name, (dtype, shape) in expected.items():
                if arrays[name].dtype != np.dtype(dtype) or arrays[name].shape != tuple(shape):
                    raise RuntimeError(f"generated array {name!r} has {arrays[name].dtype} {arrays[name].shape}")
            self.store(path, fields, arrays)
        return arrays, True
