r"""IDX files (the MNIST format): finding, downloading, MD5-verifying and parsing them.

An IDX file is a header followed by raw big-endian data:

* 2 zero bytes, a type byte (``0x08`` = unsigned byte, the only type MNIST uses), a byte ``d`` = number of dimensions;
* ``d`` big-endian uint32 sizes;
* :math:`\prod_i n_i` data bytes.

Files may be gzipped (detected by the gzip magic bytes, not by the name). The published checksums are those of the
``.gz`` files, so a ``.gz`` file is MD5-verified whenever it is found or downloaded; an uncompressed copy is checked for
its structure only (header, exact size), which catches truncation but not a flipped pixel.

Downloads try each mirror in turn with short connect/read timeouts (host-name resolution included, which the socket
timeout alone does not cover) and an overall deadline of :data:`DEADLINE_FACTOR` times the timeout per file and
mirror (a mirror trickling a byte every few seconds never times out a single read), stream into a temporary
file in the destination folder, verify the MD5 and only then
``os.replace`` it into place, so an interrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path

__all__ = [
    "DataFileError",
    "MissingDataFileError",
    "CorruptDataFileError",
    "IdxFile",
    "read_idx",
    "md5sum",
    "fetch_idx_file",
]

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE = 0x08


class DataFileError(Exception):
    """A source data file is missing, unreadable or fails its checksum; the message says which file and what to do."""


class MissingDataFileError(DataFileError, FileNotFoundError):
    """The file is not in the data folder and could not be downloaded."""


class CorruptDataFileError(DataFileError, ValueError):
    """The file exists but is truncated, not IDX, not gzip, or has the wrong MD5."""


@dataclass(frozen=True)
class IdxFile:
    """One published IDX file: its name (as on the mirrors, ending in ``.gz``) and the MD5 of that ``.gz``."""

    name: str
    md5: str

    @property
    def uncompressed_name(self) -> str:
        return self.name[: -len(".gz")] if self.name.endswith(".gz") else self.name


def md5sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    r"""Parse an IDX file of unsigned bytes (gzipped or not) into a uint8 array of the shape its header states.

    Raises
    ------
    CorruptDataFileError
        When the gzip stream is truncated or damaged, the header is not IDX, the type is not unsigned byte, or the
        data length differs from the product of the sizes in the header.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise CorruptDataFileError(
                f"{path} is a damaged or truncated gzip file ({exc}); delete it and download it again"
            ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptDataFileError(f"{path} is not an IDX file (its first bytes are {raw[:4].hex() or 'missing'})")
    if raw[2] != _IDX_UBYTE:
        raise CorruptDataFileError(f"{path}: IDX type code 0x{raw[2]:02x} is not supported (expected 0x08, ubyte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDataFileError(f"{path} is truncated inside its IDX header ({len(raw)} bytes)")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise CorruptDataFileError(
            f"{path} holds {len(raw) - header} data bytes but its header says shape {shape} = {expected} bytes"
            + (": the file is truncated" if len(raw) - header < expected else "")
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _resolve_host(host: str, port: int, timeout: float) -> None:
    """Resolve ``host`` in a daemon thread; ``OSError`` after ``timeout`` s (getaddrinfo ignores socket timeouts)."""
    outcome: dict[str, BaseException | None] = {}

    def target() -> None:
        try:
            socket.getaddrinfo(host, port)
            outcome["error"] = None
        except OSError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name=f"resolve-{host}")
    thread.start()
    thread.join(timeout)
    if "error" not in outcome:
        raise OSError(f"resolving {host} took longer than {timeout:g} s")
    if outcome["error"] is not None:
        raise outcome["error"]


#: A download from one mirror must finish within this many times the timeout (60 s at the default 5 s: the 9.9 MB
#: MNIST training images need about 170 kB/s).
DEADLINE_FACTOR = 12


def _download(url: str, destination: Path, md5: str, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``destination`` atomically, verifying ``md5`` (``OSError``/``CorruptDataFileError``)."""
    started = time.monotonic()
    deadline = started + DEADLINE_FACTOR * timeout
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("http", "https") and parsed.hostname:
        _resolve_host(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80), timeout)
    from tqdm.auto import tqdm

    with atomic_path(destination, suffix=".part") as tmp:  # an MD5 mismatch raises inside: nothing is kept
        digest = hashlib.md5(usedforsecurity=False)
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress) as bar:
                received = 0
                read = getattr(response, "read1", response.read)  # read1: one recv, so the deadline is checked
                while chunk := read(1 << 16):
                    if time.monotonic() > deadline:
                        raise OSError(
                            f"gave up after {time.monotonic() - started:.1f} s (the deadline is {DEADLINE_FACTOR} x "
                            f"download_timeout = {DEADLINE_FACTOR * timeout:g} s) with {received + len(chunk)} bytes "
                            f"of {total or 'unknown'} received"
                        )
                    received += len(chunk)
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise CorruptDataFileError(f"MD5 of the download is {digest.hexdigest()}, expected {md5}")


def fetch_idx_file(
    root: str | os.PathLike,
    file: IdxFile,
    mirrors: Sequence[str],
    *,
    download: bool = True,
    timeout: float = 5.0,
    progress: bool = True,
    what: str = "",
) -> Path:
    r"""Path of ``file`` in ``root``, MD5-verified, downloading it from ``mirrors`` first when it is missing.

    Looks for ``root/NAME.gz`` (MD5-verified) and then for the uncompressed ``root/NAME`` (structure-checked when read).
    When neither exists and ``download`` is true, tries ``mirror + NAME.gz`` for each mirror in turn, each with
    ``timeout`` seconds for name resolution, connection and every read.

    Raises
    ------
    CorruptDataFileError
        ``root/NAME.gz`` exists but its MD5 differs from the published one.
    MissingDataFileError
        Neither file exists and no mirror delivered a verified copy (the message lists what each mirror answered).
    """
    root = Path(root).expanduser()
    label = f"{what} file" if what else "file"
    compressed = root / file.name
    uncompressed = root / file.uncompressed_name
    if root.exists() and not root.is_dir():
        raise MissingDataFileError(
            f"the data folder {root} is a file, not a folder: pass root=FOLDER (--data.root) holding {file.name}"
        )
    for candidate in (compressed, uncompressed):
        if candidate.exists() and not candidate.is_file():
            kind = "a folder" if candidate.is_dir() else "not a regular file"
            raise MissingDataFileError(
                f"{candidate} is {kind}, where the {label} {candidate.name} should be: remove it, or put the file "
                f"({file.name}, MD5 {file.md5}) there"
            )
    if compressed.is_file():
        actual = md5sum(compressed)
        if actual != file.md5:
            source = f" from {mirrors[0]}{file.name}" if mirrors else ""
            raise CorruptDataFileError(
                f"{label} {compressed} has MD5 {actual}, expected {file.md5}: it is corrupt, truncated or another "
                f"dataset's file. Delete it to download it again, or replace it with a good copy{source}"
            )
        return compressed
    if uncompressed.is_file():
        return uncompressed
    failures = []
    if download:
        for mirror in mirrors:
            url = mirror + file.name
            try:
                _download(url, compressed, file.md5, timeout, progress)
                return compressed
            except (OSError, urllib.error.URLError, CorruptDataFileError) as exc:
                reason = getattr(exc, "reason", exc)
                failures.append(f"{url}: {reason}")
    how = (
        "could not be downloaded (" + "; ".join(failures) + ")"
        if failures
        else "downloading is switched off (download=False)"
    )
    urls = " or ".join(m + file.name for m in mirrors) or "the dataset's publisher"
    raise MissingDataFileError(
        f"{label} {file.name} is not in {root} and {how}. Download it from {urls} (MD5 {file.md5}) into {root}, "
        "or pass root=FOLDER holding it"
    )
