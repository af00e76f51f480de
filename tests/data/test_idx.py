"""IDX files: parsing, MD5 verification, downloading from mirrors, and the errors for missing or corrupt files."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sphere_study.data import (
    IDX_FILES,
    CorruptDataFileError,
    MissingDataFileError,
    load_source,
    read_idx,
    split_source,
)
from sphere_study.data import _idx as idx_module

# Per-class counts of the real MNIST test set (LeCun et al.): a check that the real file was parsed, not a stand-in.
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
# Mean intensity of the MNIST test images, in [0, 1] (0.1325 is the commonly quoted value).
MNIST_TEST_MEAN = 0.1325
# "Within seconds, not a hang": the bound on failing without network. Each case below needs well under one second.
FAIL_FAST_SECONDS = 5.0


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@contextlib.contextmanager
def serve_folder(folder: Path):
    """A local HTTP mirror of ``folder``: the download path without internet."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server():
    """Accepts TCP connections (through the kernel backlog) and never answers: a hanging mirror."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()


def refused_url() -> str:
    """A local port with nothing listening: the connection is refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/"


def copy_mnist_test(source: Path, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copyfile(source / name, destination / name)
    return destination


def test_published_md5s_match_the_md5sums_file(mnist_dir):
    listed = dict(reversed(line.split()) for line in (mnist_dir / "MD5SUMS").read_text().splitlines() if line.strip())
    for file in IDX_FILES["mnist"]["test"]:
        assert listed[file.name] == file.md5


def test_every_source_file_has_a_published_md5():
    for source in ("mnist", "fashion_mnist"):
        for split in ("train", "test"):
            for file in IDX_FILES[source][split]:
                assert file.name.endswith(".gz") and len(file.md5) == 32 and int(file.md5, 16) >= 0


def test_real_mnist_test_set_loads_with_md5_verified(mnist_dir, monkeypatch):
    verified = []
    real_md5sum = idx_module.md5sum

    def spying_md5sum(path, *args):
        verified.append(Path(path).name)
        return real_md5sum(path, *args)

    monkeypatch.setattr(idx_module, "md5sum", spying_md5sum)
    test = load_source("mnist", "test", mnist_dir, download=False, progress=False)
    assert sorted(verified) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert tuple(test.images.shape) == (10_000, 28, 28) and test.images.dtype == torch.uint8
    assert test.class_counts().tolist() == MNIST_TEST_CLASS_COUNTS
    assert abs(float(test.images.double().mean()) / 255 - MNIST_TEST_MEAN) < 5e-4


def test_downloaded_copy_goes_through_the_same_path(mnist_dir, tmp_path, mnist_test):
    root = tmp_path / "downloaded"
    with serve_folder(mnist_dir) as mirror:
        # The first mirror refuses the connection: the next one must be tried.
        downloaded = load_source("mnist", "test", root, mirrors=[refused_url(), mirror], timeout=2.0, progress=False)
    for file in IDX_FILES["mnist"]["test"]:
        assert idx_module.md5sum(root / file.name) == file.md5
    assert not list(root.glob(".*.part")), "the temporary download files must be gone"
    assert np.array_equal(downloaded.images.numpy(), mnist_test.images.numpy())
    assert np.array_equal(downloaded.labels.numpy(), mnist_test.labels.numpy())
    # Loading again reads the verified local copy (no mirror given now: a download attempt would fail).
    again = load_source("mnist", "test", root, mirrors=[], download=False, progress=False)
    assert np.array_equal(again.labels.numpy(), mnist_test.labels.numpy())


def test_download_with_wrong_checksum_is_not_kept(mnist_dir, tmp_path):
    impostor = tmp_path / "impostor"
    impostor.mkdir()
    for file in IDX_FILES["mnist"]["test"]:  # well-formed gzip IDX files, but not the published ones
        (impostor / file.name).write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7])))
    root = tmp_path / "root"
    with serve_folder(impostor) as mirror, pytest.raises(MissingDataFileError) as info:
        load_source("mnist", "test", root, mirrors=[mirror], timeout=2.0, progress=False)
    assert "MD5" in str(info.value) and "t10k-images-idx3-ubyte.gz" in str(info.value)
    assert not list(root.iterdir()), "a download failing its checksum must leave nothing behind"


@pytest.mark.parametrize("damage", ["flip one byte", "truncate"])
def test_corrupt_or_truncated_copy_is_rejected(mnist_dir, tmp_path, damage):
    root = copy_mnist_test(mnist_dir, tmp_path / "copy")
    path = root / "t10k-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    if damage == "flip one byte":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataFileError) as info:
        load_source("mnist", "test", root, download=False, progress=False)
    message = str(info.value)
    assert str(path) in message and "9fb629c4189551a2d022fa330f9573f3" in message and "MD5" in message


def test_truncated_uncompressed_copy_is_rejected(mnist_dir, tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    raw = gzip.decompress((mnist_dir / "t10k-images-idx3-ubyte.gz").read_bytes())
    (root / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    shutil.copyfile(mnist_dir / "t10k-labels-idx1-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(CorruptDataFileError, match="truncated") as info:
        load_source("mnist", "test", root, download=False, progress=False)
    assert "t10k-images-idx3-ubyte" in str(info.value)


def test_truncated_gzip_is_reported_by_the_reader(mnist_dir, tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()[:1000])
    with pytest.raises(CorruptDataFileError, match="truncated"):
        read_idx(path)


def test_missing_folder_without_network_fails_fast(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    root = tmp_path / "does-not-exist"
    start = time.perf_counter()
    with pytest.raises(MissingDataFileError) as info:
        load_source("mnist", "test", root, progress=False)  # the real default mirrors
    elapsed = time.perf_counter() - start
    assert elapsed < FAIL_FAST_SECONDS
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message and str(root) in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz" in message
    assert "9fb629c4189551a2d022fa330f9573f3" in message and "root=" in message


@pytest.mark.parametrize("hang", ["mirror never answers", "name resolution hangs"])
def test_hanging_network_is_cut_by_the_timeout(tmp_path, monkeypatch, hang):
    timeout = 0.5  # seconds per mirror; the whole call must end within FAIL_FAST_SECONDS
    if hang == "name resolution hangs":
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: time.sleep(30))
        mirrors_context = contextlib.nullcontext(["http://mirror.invalid/"])
    else:
        mirrors_context = silent_server()
    with mirrors_context as mirror:
        mirrors = mirror if isinstance(mirror, list) else [mirror]
        start = time.perf_counter()
        with pytest.raises(MissingDataFileError, match="t10k-images-idx3-ubyte.gz"):
            load_source("mnist", "test", tmp_path / "root", mirrors=mirrors, timeout=timeout, progress=False)
        assert time.perf_counter() - start < FAIL_FAST_SECONDS


def test_missing_train_files_say_which_file_and_how_to_provide_it(mnist_dir):
    with pytest.raises(MissingDataFileError) as info:
        split_source("mnist", mnist_dir, download=False, progress=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and str(mnist_dir) in message
    assert "split_test_set=True" in message and "download" in message


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_round_trip(tmp_path, compressed):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    data = _idx_bytes(array)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compressed else data)
    assert np.array_equal(read_idx(path), array)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x01\x02\x08\x01\x00\x00\x00\x01\x07", "not an IDX file"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x07\x07\x07\x07", "type code 0x0d"),
        (b"\x00\x00\x08\x03\x00\x00", "inside its IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05\x07", "truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x07\x07", "header says shape"),
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, data, match):
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(CorruptDataFileError, match=match):
        read_idx(path)
