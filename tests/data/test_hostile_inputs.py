"""Issue 12: bounded canvas sampling, download deadlines, paths of the wrong kind, batches of one."""

from __future__ import annotations

import http.server
import signal
import threading
import time

import pytest
import torch

from sphere_study.data import SphericalDataModule
from sphere_study.data._canvas import random_layout
from sphere_study.data._idx import DEADLINE_FACTOR, MissingDataFileError
from sphere_study.data._sources import load_source


@pytest.fixture
def alarm():
    """Fail (instead of hanging the suite) if the body takes more than 20 s."""

    def on_alarm(signum, frame):
        raise TimeoutError("hung")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_as_many_digits_per_sphere_as_images_finishes(alarm):
    n = 300
    layout = random_layout(torch.arange(n), n, n, 28 * 18, torch.Generator().manual_seed(0))
    assert (layout.members[:, 0] == torch.arange(n)).all()
    assert all(len(set(row.tolist())) == n for row in layout.members)


def test_common_settings_keep_their_layouts():
    """The fallback is only reached after the rejection rounds: these layouts are the ones drawn before issue 12."""
    a = random_layout(torch.arange(50), 2000, 4, 72, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    draw = torch.randint(0, 1999, (50, 3), generator=g)
    draw += (draw >= torch.arange(50)[:, None]).long()
    if not (draw.sort(1).values.diff(1) == 0).any():  # no repeats in the first round: the same partners
        assert torch.equal(a.members[:, 1:], draw)


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        try:
            for _ in range(10_000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_a_trickling_mirror_is_given_up_after_the_deadline(tmp_path, alarm):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    timeout = 0.2
    try:
        start = time.monotonic()
        with pytest.raises(MissingDataFileError, match="gave up after") as info:
            load_source("mnist", "test", tmp_path, timeout=timeout, progress=False,
                        mirrors=[f"http://127.0.0.1:{server.server_address[1]}/"])  # fmt: skip
        elapsed = time.monotonic() - start
    finally:
        server.shutdown()
        server.server_close()
    assert f"{DEADLINE_FACTOR * timeout:g} s" in str(info.value)
    assert elapsed < 2 * (DEADLINE_FACTOR + 1) * timeout  # one deadline for the first file, not forever


def test_a_folder_where_a_data_file_should_be_is_named(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").mkdir()
    with pytest.raises(MissingDataFileError, match="is a folder, where the .* file t10k-images-idx3-ubyte.gz"):
        load_source("mnist", "test", tmp_path, download=False, progress=False)


def test_a_data_root_that_is_a_file_is_named(tmp_path):
    root = tmp_path / "mnist.zip"
    root.write_text("")
    with pytest.raises(MissingDataFileError, match="is a file, not a folder"):
        load_source("mnist", "test", root, download=False, progress=False)


@pytest.mark.parametrize(("train_size", "dropped"), [(17, True), (16, False), (18, False)])
def test_a_training_batch_of_one_is_dropped(tmp_path, train_size, dropped):
    dm = SphericalDataModule(source="digits", bandwidth=6, train_size=train_size, val_size=8, test_size=8,
                             batch_size=8, cache_dir=str(tmp_path), progress=False)  # fmt: skip
    dm.setup("fit")
    sizes = [len(batch[1]) for batch in dm.train_dataloader()]
    assert 1 not in sizes and (sum(sizes) == train_size - 1) == dropped
    assert sum(len(batch[1]) for batch in dm.val_dataloader()) == 8
