r"""The hostile pass of issue 12: bad configs, tensors, data files, caches, interruptions, output folders, security.

Each case runs the real command (``python -m sphere_study ...`` in a subprocess, tiny runs: digits at b = 6) or the
real Python API, and is classified as

* ``clear error``: refused with a one-line message naming the problem (exit status 2, or a named exception);
* ``handled``: it worked, and the check of its outcome (files, metrics, markers) passed;
* ``traceback``: a Python traceback reached the user;
* ``silent``: it "worked" but the check failed (wrong answer, wrong provenance), or it failed without a message;
* ``hang``: it did not finish within its time limit;
* ``lost``: a finished result or checkpoint disappeared or was overwritten.

Usage: ``python scripts/hostile_pass.py [--out docs/hostile_pass.md] [--only SUBSTRING]`` from the repository root
(or with ``PYTHONPATH`` pointing at a clone). MNIST test files are taken from ``--mnist DIR`` (default
``../shared/data/mnist``) where cases need them. Writes the per-case table (Markdown) and prints the counts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
OUTCOMES = ("clear error", "handled", "traceback", "silent", "hang", "lost")
CASES: list[dict] = []


def case(category: str, name: str, timeout: float = 240):
    def register(fn):
        CASES.append({"category": category, "name": name, "fn": fn, "timeout": timeout})
        return fn

    return register


class Work:
    """A fresh folder per case with the tiny config, the environment and helpers to run the CLI."""

    def __init__(self, root: Path, timeout: float):
        self.root = root
        self.timeout = timeout
        self.env = dict(os.environ, PYTHONPATH=str(REPO), WANDB_MODE="offline", WANDB_SILENT="true",
                        OMP_NUM_THREADS="1", XDG_CACHE_HOME=str(SHARED_CACHE), MPLCONFIGDIR=str(root / "mpl"),
                        WANDB_DIR=str(root / "wandb"))  # fmt: skip
        self.env.pop("SPHERE_STUDY_FIT_COMMAND", None)
        self.env.pop("SPHERE_STUDY_DEBUG", None)
        self.config = self.tiny()
        self.command = ""

    def tiny(self, name="tiny.yaml", **data) -> Path:
        config = yaml.safe_load((REPO / "configs" / "quick.yaml").read_text())
        config["trainer"].update({"max_epochs": 1, "default_root_dir": str(self.root / "run"),
                                  "enable_progress_bar": False, "logger": False})  # fmt: skip
        config["model"]["init_args"]["network"] = {
            "class_path": "sphere_study.models.S2CNNClassifier",
            "init_args": {"features": [4, 6], "bandwidths": [4, 3]},
        }
        config["data"].update({"bandwidth": 6, "train_size": 48, "val_size": 16, "test_size": 16, "batch_size": 16,
                               "progress": False, **data})  # fmt: skip
        config["equivariance"] = {"n_samples": 4, "n_rotations": 2}
        config["samples"] = {"n_samples": 0}
        path = self.root / name
        path.write_text(yaml.safe_dump(config))
        return path

    def run(self, *args, env=None, timeout=None) -> subprocess.CompletedProcess:
        command = [PY, "-m", "sphere_study", *map(str, args)]
        self.command = " ".join(["sphere-study", *[str(a).replace(str(self.root), "$W") for a in args]])
        return subprocess.run(command, cwd=self.root, env=dict(self.env, **(env or {})), capture_output=True,
                              text=True, timeout=timeout or self.timeout)  # fmt: skip

    def fit(self, *extra, **kwargs):
        return self.run("fit", "--config", self.config, *extra, **kwargs)


SHARED_CACHE = Path(tempfile.mkdtemp(prefix="hostile_cache_"))


def classify_cli(proc: subprocess.CompletedProcess, ok=None) -> tuple[str, str]:
    """(outcome, detail) of a CLI run; ``ok(proc) -> bool`` checks a run that succeeded."""
    err = proc.stderr.strip()
    if "Traceback (most recent call last)" in err and "--- Logging error ---" not in err:
        return "traceback", err.splitlines()[-1][:200]
    lines = [line for line in err.splitlines() if "error:" in line]
    if proc.returncode == 0:
        if ok is None or ok(proc):
            return "handled", (proc.stdout.strip().splitlines() or ["exit 0"])[-1][:200]
        return "silent", "exit 0 but the outcome check failed"
    if lines:
        return "clear error", lines[-1][:300]
    return "silent", f"exit {proc.returncode} without an error line"


def expect_error(fn, *exceptions) -> tuple[str, str]:
    try:
        fn()
    except exceptions as err:
        text = str(err).strip()
        if not text or len(text.splitlines()) > 3:
            return "silent", f"{type(err).__name__} without a one-line message"
        return "clear error", f"{type(err).__name__}: {text.splitlines()[0][:300]}"
    except Exception as err:  # anything else reaches the user as a traceback
        return "traceback", f"{type(err).__name__}: {str(err)[:200]}"
    return "silent", "no error"


# --- config ---

_BAD_FLAGS = [
    ("unknown key", ["--data.augmnt", "2"]),
    ("wrong type for data.augment", ["--data.augment", "x"]),
    ("seed -1", ["--seed_everything", "-1"]),
    ("max_epochs -5", ["--trainer.max_epochs", "-5"]),
    ("bandwidth 0", ["--data.bandwidth", "0"]),
    ("bandwidth -3", ["--data.bandwidth", "-3"]),
    ("train_size 0", ["--data.train_size", "0"]),
    ("train_size above the digits available", ["--data.train_size", "100000"]),
    ("augment 0", ["--data.augment", "0"]),
    ("batch_size 0", ["--data.batch_size", "0"]),
    ("unknown source", ["--data.source", "nope"]),
    ("rotate_test maybe", ["--data.rotate_test", "maybe"]),
    ("val_size above the pool", ["--data.val_size", "100000"]),
    ("num_workers -1", ["--data.num_workers", "-1"]),
    ("download_timeout 0", ["--data.download_timeout", "0"]),
    ("unknown network preset", ["--model.init_args.network", "nope_preset"]),
    ("network flag without init_args", ["--model.init_args.network.bandwidths", "[5,3]"]),
    ("task class that does not exist", ["--model.class_path", "nope.Class"]),
    ("lr not a number", ["--model.init_args.optimizer.init_args.lr", "abc"]),
    ("precision 7", ["--trainer.precision", "7"]),
    ("accelerator gpu without a GPU", ["--trainer.accelerator", "gpu"]),
    ("monitor of a metric never logged", ["--checkpoint.monitor", "val/nonexistent"]),
    ("digits_per_sphere on classification", ["--data.digits_per_sphere", "0"]),
]
for _label, _flags in _BAD_FLAGS:

    def _bad(w, flags=_flags):
        return classify_cli(w.fit(*flags), ok=lambda p: False)

    case("config", _label)(_bad)


@case("config", "config file missing")
def _(w):
    return classify_cli(w.run("fit", "--config", w.root / "nope.yaml"))


@case("config", "config path is a folder")
def _(w):
    return classify_cli(w.run("fit", "--config", w.root))


for _label, _content in [("empty YAML", b""), ("YAML that is a list", b"- 1\n- 2\n"),
                         ("non-UTF-8 YAML", b"trainer: {max_epochs: \xff}\n"), ("YAML syntax error", b"a: [1,\n"),
                         ("YAML with a python tag", b"trainer: !!python/object/apply:os.system ['true']")]:  # fmt: skip

    def _yaml(w, content=_content):
        (w.root / "bad.yaml").write_bytes(content)
        return classify_cli(w.run("fit", "--config", w.root / "bad.yaml"))

    case("config", _label)(_yaml)


@case("config", "network key by dotted flag")
def _(w):
    proc = w.fit("--model.init_args.network.init_args.bandwidths", "[5,3]")
    return classify_cli(proc, ok=lambda p: json.loads((w.root / "run" / "results.json").read_text())["config"]["model"]
                        ["init_args"]["network"]["init_args"]["bandwidths"] == [5, 3])  # fmt: skip


@case("config", "unknown subcommand")
def _(w):
    return classify_cli(w.run("fitt"))


for _label, _args in [("top-level --help", ["--help"]), ("sweep --help", ["sweep", "--help"]),
                      ("plot --help", ["plot", "--help"])]:  # fmt: skip

    def _help(w, args=_args):
        start = time.perf_counter()
        proc = w.run(*args)
        elapsed = time.perf_counter() - start
        outcome, _detail = classify_cli(proc, ok=lambda p: "sweep" in p.stdout and "plot" in p.stdout
                                        if args == ["--help"] else bool(p.stdout))  # fmt: skip
        return outcome, f"{elapsed:.2f} s wall"

    case("config", _label)(_help)


# --- tensors ---


def _layer_cases():
    import numpy as np
    import torch

    from sphere_study.models import build_model
    from sphere_study.nn import S2Conv, SO3Conv

    s2 = S2Conv(1, 2, 4, 3)
    yield "S2Conv given a list", lambda: s2([[0.0]]), (ValueError,)
    yield "S2Conv given a numpy array", lambda: s2(np.zeros((1, 1, 8, 8))), (ValueError,)
    yield "S2Conv given the wrong bandwidth", lambda: s2(torch.zeros(2, 1, 10, 10)), (ValueError,)
    yield "S2Conv given the wrong channels", lambda: s2(torch.zeros(2, 3, 8, 8)), (ValueError,)
    yield "S2Conv given an integer tensor", lambda: s2(torch.zeros(2, 1, 8, 8, dtype=torch.int64)), (ValueError,)
    yield "S2Conv given an SO(3) signal", lambda: s2(torch.zeros(2, 1, 8, 8, 8)), (ValueError,)
    yield "SO3Conv given an S2 signal", lambda: SO3Conv(1, 2, 3, 2)(torch.zeros(2, 1, 6, 6)), (ValueError,)
    yield "unknown preset", lambda: build_model("nope"), (ValueError,)
    yield "class path that does not import", lambda: build_model({"class_path": "x.Y"}), (ValueError,)
    yield "bandwidth 0 for a model", lambda: build_model("cnn_cls_155k", bandwidth=0), (ValueError,)
    yield (
        "S2CNN given a 28x28 image",
        lambda: build_model("s2cnn_cls_cohen", bandwidth=8)(torch.zeros(1, 1, 28, 28)),
        (ValueError,),
    )


for _label, _index in [(label, i) for i, label in enumerate(
        ["S2Conv given a list", "S2Conv given a numpy array", "S2Conv given the wrong bandwidth",
         "S2Conv given the wrong channels", "S2Conv given an integer tensor", "S2Conv given an SO(3) signal",
         "SO3Conv given an S2 signal", "unknown preset", "class path that does not import", "bandwidth 0 for a model",
         "S2CNN given a 28x28 image"])]:  # fmt: skip

    def _layer(w, index=_index):
        label, fn, exceptions = list(_layer_cases())[index]
        w.command = f"python: {label}"
        return expect_error(fn, *exceptions)

    case("tensors", _label)(_layer)


@case("tensors", "empty batch through S2Conv -> SO3Conv")
def _(w):
    import torch

    from sphere_study.nn import S2Conv, SO3Conv

    w.command = "python: SO3Conv(S2Conv(x)) with x.shape = (0, 1, 8, 8)"
    y = SO3Conv(2, 3, 3, 2)(S2Conv(1, 2, 4, 3)(torch.zeros(0, 1, 8, 8)))
    return ("handled", f"shape {tuple(y.shape)}") if tuple(y.shape) == (0, 3, 4, 4, 4) else ("silent", str(y.shape))


@case("tensors", "half-precision input")
def _(w):
    import torch

    from sphere_study.nn import S2Conv

    w.command = "python: S2Conv(x.half())"
    y = S2Conv(1, 2, 4, 3)(torch.randn(2, 1, 8, 8).half())
    return ("handled", f"{y.dtype}") if torch.isfinite(y).all() else ("silent", "non-finite output")


# --- data files ---

MNIST = None  # set in main
_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _mnist_copy(w) -> Path:
    root = w.root / "mnist"
    root.mkdir(exist_ok=True)
    for name in _TEST_FILES:
        shutil.copyfile(MNIST / name, root / name)
    return root


def _load(root, **kwargs):
    from sphere_study.data._sources import load_source

    return load_source("mnist", "test", root, progress=False, **{"download": False, **kwargs})


def _data_error(label, damage):
    def run(w):
        from sphere_study.data._idx import DataFileError

        root = _mnist_copy(w)
        damage(root)
        w.command = f"python: load_source('mnist', 'test', root) after: {label}"
        return expect_error(lambda: _load(root), DataFileError, ValueError, OSError)

    case("data files", label)(run)


def _rewrite_gz(root, name, fn):
    raw = gzip.decompress((root / name).read_bytes())
    (root / name).unlink()
    (root / name[:-3]).write_bytes(fn(raw))


_data_error("data folder missing", lambda r: shutil.rmtree(r))
_data_error("data root is a file", lambda r: (shutil.rmtree(r), r.write_text("")))
_data_error("a folder where the images file should be", lambda r: ((r / _TEST_FILES[0]).unlink(),
                                                                   (r / _TEST_FILES[0]).mkdir()))  # fmt: skip
_data_error("truncated .gz", lambda r: (r / _TEST_FILES[0]).write_bytes((r / _TEST_FILES[0]).read_bytes()[:5000]))
_data_error("one flipped byte in the .gz", lambda r: (r / _TEST_FILES[1]).write_bytes(
    (lambda b: b[:500] + bytes([b[500] ^ 1]) + b[501:])((r / _TEST_FILES[1]).read_bytes())))  # fmt: skip
_data_error("truncated uncompressed images", lambda r: _rewrite_gz(r, _TEST_FILES[0], lambda b: b[:-100]))
_data_error("wrong magic in the uncompressed labels", lambda r: _rewrite_gz(r, _TEST_FILES[1], lambda b: b"\1" + b[1:]))
_data_error("label 12 in the labels", lambda r: _rewrite_gz(r, _TEST_FILES[1], lambda b: b[:-1] + bytes([12])))
_data_error("images and labels of different counts", lambda r: _rewrite_gz(
    r, _TEST_FILES[1], lambda b: b[:4] + (9999).to_bytes(4, "big") + b[8:-1]))  # fmt: skip
_data_error("images file of another dataset (train labels)", lambda r: (r / _TEST_FILES[1]).write_bytes(
    gzip.compress(b"\0\0\x08\x01" + (3).to_bytes(4, "big") + b"\1\2\3")))  # fmt: skip


@case("data files", "unreadable data file (permission)")
def _(w):
    import builtins

    from sphere_study.data._idx import DataFileError

    root = _mnist_copy(w)
    real_open = builtins.open

    def deny(path, *args, **kwargs):  # root ignores modes: simulate EACCES on the images file
        if str(path).endswith(_TEST_FILES[0]):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    w.command = "python: load_source with the images file unreadable (open mocked to EACCES)"
    builtins.open = deny
    try:
        return expect_error(lambda: _load(root), DataFileError, OSError)
    finally:
        builtins.open = real_open


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "trickle"

    def do_GET(self):
        if self.mode == "wrong":
            body = b"not mnist" * 100
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(100_000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _server(mode):
    handler = type("H", (_Handler,), {"mode": mode})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


for _label, _mode in [("mirror trickling one byte at a time", "trickle"), ("mirror serving the wrong file", "wrong")]:

    def _mirror(w, mode=_mode, label=_label):
        from sphere_study.data._idx import DataFileError

        w.command = f"python: load_source(download=True, timeout=0.3) from a {label}"
        with _server(mode) as url:
            return expect_error(lambda: _load(w.root / "dl", download=True, timeout=0.3, mirrors=[url]), DataFileError)

    case("data files", _label, timeout=60)(_mirror)


@case("data files", "mirror that never answers", timeout=60)
def _(w):
    import socket

    from sphere_study.data._idx import DataFileError

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    w.command = "python: load_source(download=True, timeout=0.3) from a silent mirror"
    try:
        return expect_error(
            lambda: _load(
                w.root / "dl", download=True, timeout=0.3, mirrors=[f"http://127.0.0.1:{sock.getsockname()[1]}/"]
            ),
            DataFileError,
        )
    finally:
        sock.close()


@case("data files", "MNIST from --data.root through the CLI")
def _(w):
    root = _mnist_copy(w)
    proc = w.fit("--data.source", "mnist", "--data.root", root, "--data.split_test_set", "true",
                 "--trainer.fast_dev_run", "true")  # fmt: skip
    return classify_cli(proc)


@case("data files", "--data.root is a file (CLI)")
def _(w):
    (w.root / "file").write_text("")
    return classify_cli(w.fit("--data.source", "mnist", "--data.root", w.root / "file", "--data.download", "false"))


@case("data files", "digits_per_sphere = images in the split (segmentation)", timeout=120)
def _(w):
    import torch

    from sphere_study.data._canvas import random_layout

    w.command = "python: random_layout(300 canvases, pool 300, 300 digits per canvas)"
    layout = random_layout(torch.arange(300), 300, 300, 28 * 18, torch.Generator().manual_seed(0))
    ok = all(len(set(r.tolist())) == 300 for r in layout.members)
    return ("handled", "distinct partners, bounded time") if ok else ("silent", "repeated partners")


# --- caches ---


def _cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "sphere_study" / "spheres").rglob("*") if p.is_file())


@case("caches", "XDG_CACHE_HOME is a file")
def _(w):
    (w.root / "cachefile").write_text("")
    return classify_cli(w.fit(env={"XDG_CACHE_HOME": str(w.root / "cachefile")}))


@case("caches", "XDG_CACHE_HOME not writable (simulated: a file inside the path)")
def _(w):
    (w.root / "ro").write_text("")
    return classify_cli(w.fit(env={"XDG_CACHE_HOME": str(w.root / "ro" / "sub")}))


def _cache_case(label, damage):
    def run(w):
        cache = w.root / "cache"
        env = {"XDG_CACHE_HOME": str(cache)}
        first = w.fit("--test_after_fit", "false", "--trainer.fast_dev_run", "true", env=env)
        if first.returncode != 0:
            return classify_cli(first)
        files = _cache_files(cache)
        before = {p: p.read_bytes() for p in files}
        damage(files)
        proc = w.fit("--test_after_fit", "false", "--trainer.fast_dev_run", "true", env=env)
        return classify_cli(proc, ok=lambda p: all(p.exists() and p.read_bytes() == b for p, b in before.items()))

    case("caches", label)(run)


_cache_case("cache file truncated", lambda files: files[0].write_bytes(files[0].read_bytes()[:100]))
_cache_case("cache file replaced by garbage", lambda files: files[0].write_bytes(b"garbage" * 10))
_cache_case("cache file deleted", lambda files: files[0].unlink())
_cache_case("a folder where a cache file should be", lambda files: (files[0].unlink(), files[0].mkdir()))


@case("caches", "two processes building the same cache at once")
def _(w):
    cache = w.root / "cache"
    env = dict(w.env, XDG_CACHE_HOME=str(cache))
    procs = []
    for k in (1, 2):
        cfg = w.tiny(f"t{k}.yaml")
        text = cfg.read_text().replace(str(w.root / "run"), str(w.root / f"run{k}"))
        cfg.write_text(text)
        procs.append(subprocess.Popen([PY, "-m", "sphere_study", "fit", "--config", str(cfg), "--trainer.fast_dev_run",
                                       "true"], cwd=w.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True))  # fmt: skip
    w.command = "two concurrent `sphere-study fit` with one fresh XDG_CACHE_HOME"
    errs = [p.communicate(timeout=w.timeout)[1] for p in procs]
    if any(p.returncode for p in procs):
        return "silent", f"exit codes {[p.returncode for p in procs]}: {errs[0][-200:]}"
    return "handled", f"both finished; {len(_cache_files(cache))} cache files"


# --- interruption ---


def _finished(w, *extra) -> subprocess.CompletedProcess:
    return w.fit(*extra)


@case("interruption", "kill -9 mid-fit, then --ckpt_path last")
def _(w):
    cfg = w.config
    proc = subprocess.Popen([PY, "-m", "sphere_study", "fit", "--config", str(cfg), "--trainer.max_epochs", "30"],
                            cwd=w.root, env=w.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    last = w.root / "run" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 200
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    resumed = w.fit("--trainer.max_epochs", "30", "--ckpt_path", "last", "--trainer.max_epochs", "2",
                    "--resume_changes", "allow")  # fmt: skip
    return classify_cli(resumed, ok=lambda p: json.loads((w.root / "run" / "results.json").read_text())["epochs"] == 2)


@case("interruption", "resume with another lr")
def _(w):
    _finished(w)
    before = (w.root / "run" / "results.json").read_bytes()
    proc = w.fit("--model.init_args.optimizer.init_args.lr", "0.0001", "--ckpt_path", "last")
    outcome = classify_cli(proc, ok=lambda p: False)
    if (w.root / "run" / "results.json").read_bytes() != before:
        return "lost", "results.json changed by a refused resume"
    return outcome


@case("interruption", "resume in a folder of another train_size")
def _(w):
    _finished(w)
    return classify_cli(w.fit("--data.train_size", "32", "--ckpt_path", "last"), ok=lambda p: False)


@case("interruption", "resume with a longer max_epochs, no --resume_changes")
def _(w):
    _finished(w)
    return classify_cli(w.fit("--trainer.max_epochs", "2", "--ckpt_path", "last"), ok=lambda p: False)


@case("interruption", "resume with a longer max_epochs and --resume_changes allow")
def _(w):
    _finished(w)
    proc = w.fit("--trainer.max_epochs", "2", "--ckpt_path", "last", "--resume_changes", "allow")

    def ok(p):
        r = json.loads((w.root / "run" / "results.json").read_text())
        return r["epochs"] == 2 and r["resumes"][-1]["changed"] == {"trainer.max_epochs": [1, 2]}

    return classify_cli(proc, ok=ok)


@case("interruption", "--ckpt_path last on a finished run")
def _(w):
    _finished(w)
    keys = set(json.loads((w.root / "run" / "results.json").read_text())["metrics"])
    proc = w.fit("--ckpt_path", "last")
    return classify_cli(proc, ok=lambda p: keys <= set(json.loads((w.root / "run" / "results.json").read_text())
                                                       ["metrics"]))  # fmt: skip


@case("interruption", "truncated last.ckpt")
def _(w):
    _finished(w)
    last = w.root / "run" / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:4000])
    return classify_cli(w.fit("--ckpt_path", "last"), ok=lambda p: False)


@case("interruption", "resume with another network")
def _(w):
    _finished(w)
    net = json.dumps({"class_path": "sphere_study.models.CNNClassifier", "init_args": {"features": [6, 8]}})
    return classify_cli(w.fit("--model.init_args.network", net, "--ckpt_path", "last"), ok=lambda p: False)


@case("interruption", "test a checkpoint of another network")
def _(w):
    _finished(w)
    net = json.dumps({"class_path": "sphere_study.models.CNNClassifier", "init_args": {"features": [6, 8]}})
    ckpt = w.root / "run" / "checkpoints" / "last.ckpt"
    return classify_cli(w.run("test", "--config", w.config, "--model.init_args.network", net, "--ckpt_path", ckpt),
                        ok=lambda p: False)  # fmt: skip


@case("interruption", "--ckpt_path that does not exist")
def _(w):
    return classify_cli(w.fit("--ckpt_path", w.root / "nope.ckpt"), ok=lambda p: False)


@case("interruption", "--ckpt_path a folder")
def _(w):
    return classify_cli(w.fit("--ckpt_path", w.root), ok=lambda p: False)


@case("interruption", "second fit while the first writes the folder")
def _(w):
    (w.root / "run").mkdir()
    with open(w.root / "run" / ".run.lock", "a+") as handle:
        handle.write("4242\n")
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return classify_cli(w.fit(), ok=lambda p: False)


def _sweep_file(w, groups, name="s") -> Path:
    base = w.tiny("base.yaml")
    spec = {"name": name, "output": str(w.root / "out"), "groups": groups}
    for group in spec["groups"].values():
        group.setdefault("base", str(base))
    path = w.root / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@case("interruption", "sweep killed with kill -9 (the sweep only)", timeout=300)
def _(w):
    path = _sweep_file(w, {"g": {"axes": {"data.train_size": [32]}}})
    proc = subprocess.Popen([PY, "-m", "sphere_study", "sweep", "--config", str(path), "--no-progress"], cwd=w.root,
                            env=w.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    point = w.root / "out" / "g" / "train_size=32"
    deadline = time.monotonic() + 120
    while not (point / ".run.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    time.sleep(1.0)
    from sphere_study._run_folder import run_lock_holder

    holder = run_lock_holder(point)
    if holder is not None:
        return "silent", f"the fit (pid {holder}) outlived the killed sweep"
    w.run("sweep", "--config", path, "--no-progress")
    versions = sorted(p.name for p in (point / "logs").iterdir()) if (point / "logs").exists() else []
    w.command = "sphere-study sweep --config $W/sweep.yaml; kill -9 <sweep pid>; rerun"
    if not (point / "results.json").exists():
        return "silent", "rerun did not finish the point"
    return "handled", f"fit died with the sweep; rerun completed; logs {versions}"


@case("interruption", "sweep stopped with SIGTERM", timeout=300)
def _(w):
    path = _sweep_file(w, {"g": {"axes": {"data.train_size": [32, 40]}}})
    proc = subprocess.Popen([PY, "-m", "sphere_study", "sweep", "--config", str(path), "--no-progress"], cwd=w.root,
                            env=w.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not list((w.root / "out").rglob(".run.lock")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=120)
    w.command = "sphere-study sweep ...; kill -TERM <sweep pid>"
    summary = json.loads((w.root / "out" / "sweep_summary.json").read_text())
    if rc == 130 and summary["interrupted"]:
        return "handled", "exit 130, summary marks the sweep interrupted"
    return "silent", f"exit {rc}"


for _label, _groups in [
    ("sweep whose base config is missing", {"g": {"base": "nope.yaml", "axes": {"data.augment": [1]}}}),
    ("sweep with a misspelled axis key", {"g": {"axes": {"data.augmnt": [1, 2]}}}),
    ("sweep with a wrongly typed axis value", {"g": {"axes": {"data.augment": ["many"]}}}),
    ("sweep setting trainer.default_root_dir", {"g": {"axes": {"trainer.default_root_dir": ["x"]}}}),
    ("sweep with duplicate axis values", {"g": {"axes": {"data.augment": [1, 1]}}}),
]:

    def _sweep_bad(w, groups=_groups):
        return classify_cli(w.run("sweep", "--config", _sweep_file(w, json.loads(json.dumps(groups))), "--dry-run"),
                            ok=lambda p: False)  # fmt: skip

    case("interruption", _label)(_sweep_bad)


@case("interruption", "sweep file that is a list")
def _(w):
    (w.root / "s.yaml").write_text("- a\n- b\n")
    return classify_cli(w.run("sweep", "--config", w.root / "s.yaml", "--dry-run"), ok=lambda p: False)


@case("interruption", "sweep name with a path in it")
def _(w):
    return classify_cli(w.run("sweep", "--config", _sweep_file(w, {"g": {"axes": {"data.augment": [1]}}}, "../x"),
                              "--dry-run"), ok=lambda p: False)  # fmt: skip


# --- output folders ---


@case("output folders", "checkpoints/ not writable (simulated: os.access denies it)")
def _(w):
    code = ("import os, sys; from pathlib import Path; real = os.access; "
            "os.access = lambda p, m: False if Path(p).name == 'checkpoints' else real(p, m); "
            "from sphere_study.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    w.command = "sphere-study fit --config $W/tiny.yaml  (os.access mocked to deny checkpoints/)"
    proc = subprocess.run([PY, "-c", code, "fit", "--config", str(w.config)], cwd=w.root, env=w.env,
                          capture_output=True, text=True, timeout=w.timeout)  # fmt: skip
    return classify_cli(proc, ok=lambda p: False)


@case("output folders", "checkpoint save that writes nothing (Lightning swallowing EACCES)")
def _(w):
    code = ("import sys; import lightning.fabric.plugins.io.torch_io as t; t._atomic_save = lambda c, p: None; "
            "from sphere_study.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    w.command = "sphere-study fit --config $W/tiny.yaml  (Lightning's _atomic_save mocked to write nothing)"
    proc = subprocess.run([PY, "-c", code, "fit", "--config", str(w.config)], cwd=w.root, env=w.env,
                          capture_output=True, text=True, timeout=w.timeout)  # fmt: skip
    return classify_cli(proc, ok=lambda p: False)


@case("output folders", "run folder path is a file")
def _(w):
    (w.root / "runfile").write_text("")
    return classify_cli(w.fit("--trainer.default_root_dir", w.root / "runfile"), ok=lambda p: False)


@case("output folders", "stale results.json and a rerun that fails")
def _(w):
    _finished(w)
    proc = w.fit("--data.train_size", "100000")  # fails in setup, after the folder was used before
    results = w.root / "run" / "results.json"
    outcome = classify_cli(proc, ok=lambda p: False)
    if outcome[0] != "clear error":
        return outcome
    if results.exists():  # the old result belongs to the old config: allowed only if it is still that run's
        return "handled", "the rerun failed before it started; results.json still belongs to the completed fit"
    return outcome


@case("output folders", "rerun that fails mid-training after a completed fit")
def _(w):
    _finished(w)
    code = ("import sys; from sphere_study.callbacks import ResultsWriter; "
            "ResultsWriter.write = lambda *a, **k: (_ for _ in ()).throw(OSError(28, 'No space left on device', "
            "'results.json')); from sphere_study.cli import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    w.command = "sphere-study fit --config $W/tiny.yaml  (again; results write fails: ENOSPC simulated)"
    subprocess.run([PY, "-c", code, "fit", "--config", str(w.config)], cwd=w.root, env=w.env, capture_output=True,
                   timeout=w.timeout)  # fmt: skip
    run = w.root / "run"
    if (run / "results.json").exists():
        return "silent", "a stale results.json survived the failed rerun"
    kept = list(run.glob("results.superseded-*.json")) and list(run.glob("checkpoints.superseded-*"))
    return ("handled", "old results and checkpoints moved aside") if kept else ("lost", "old results deleted")


@case("output folders", "plot --out an existing file")
def _(w):
    _finished(w)
    (w.root / "out.png").write_text("")
    return classify_cli(w.run("plot", w.root / "run", "--out", w.root / "out.png"), ok=lambda p: False)


@case("output folders", "plot a folder without results")
def _(w):
    (w.root / "empty").mkdir()
    return classify_cli(w.run("plot", w.root / "empty", "--out", w.root / "plots"), ok=lambda p: False)


@case("output folders", "plot a folder that does not exist")
def _(w):
    return classify_cli(w.run("plot", w.root / "nope", "--out", w.root / "plots"), ok=lambda p: False)


@case("output folders", "plot ignores superseded results")
def _(w):
    _finished(w)
    _finished(w)
    proc = w.run("plot", w.root / "run", "--out", w.root / "plots")
    return classify_cli(proc, ok=lambda p: len((w.root / "plots" / "runs.csv").read_text().splitlines()) == 2)


# --- security ---


@case("security", "--ckpt_path http URL")
def _(w):
    return classify_cli(w.fit("--ckpt_path", "http://127.0.0.1:9/x.ckpt"), ok=lambda p: False)


@case("security", "checkpoint with a planted pickle payload")
def _(w):
    _finished(w)
    marker = w.root / "payload_ran"
    code = ("import torch, sys, pathlib; c = torch.load(sys.argv[1], weights_only=True); "
            "P = type('P', (), {'__reduce__': lambda s: (pathlib.Path.touch, (pathlib.Path(sys.argv[3]),))}); "
            "c['x'] = P(); torch.save(c, sys.argv[2])")  # fmt: skip
    subprocess.run([PY, "-c", code, str(w.root / "run/checkpoints/last.ckpt"), str(w.root / "evil.ckpt"),
                    str(marker)], env=w.env, check=True, capture_output=True)  # fmt: skip
    proc = w.fit("--ckpt_path", w.root / "evil.ckpt")
    if marker.exists():
        return "silent", "the payload ran"
    return classify_cli(proc, ok=lambda p: False)


@case("security", "sweep value with shell syntax")
def _(w):
    marker = w.root / "pwned"
    path = _sweep_file(w, {"g": {"axes": {"data.root": [f"$(touch {marker})", f"; touch {marker}"]}}})
    proc = w.run("sweep", "--config", path, "--dry-run")
    if marker.exists():
        return "silent", "a shell ran the value"
    return classify_cli(proc)


@case("security", "config with a python YAML tag")
def _(w):
    (w.root / "evil.yaml").write_text(f"trainer: !!python/object/apply:os.system ['touch {w.root}/pwned']\n")
    proc = w.run("fit", "--config", w.root / "evil.yaml")
    if (w.root / "pwned").exists():
        return "silent", "the tag ran"
    return classify_cli(proc, ok=lambda p: False)


# --- driver ---


def main() -> int:
    global MNIST
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "hostile_pass.md"))
    parser.add_argument("--only", default="")
    parser.add_argument("--mnist", default=str((REPO / ".." / "shared" / "data" / "mnist").resolve()))
    args = parser.parse_args()
    MNIST = Path(args.mnist)
    rows = []
    for index, spec in enumerate(CASES, 1):
        if args.only and args.only not in spec["name"]:
            continue
        root = Path(tempfile.mkdtemp(prefix=f"hostile_{index:03d}_"))
        w = Work(root, spec["timeout"])
        start = time.perf_counter()
        try:
            outcome, detail = spec["fn"](w)
        except subprocess.TimeoutExpired:
            outcome, detail = "hang", f"no answer within {spec['timeout']} s"
        except Exception as err:  # a failure of the harness or an unexpected exception of the API
            outcome, detail = "traceback", f"{type(err).__name__}: {str(err)[:200]}"
        elapsed = time.perf_counter() - start
        rows.append((index, spec["category"], spec["name"], w.command, outcome, detail.replace(str(root), "$W")))
        print(
            f"[{index:>3}] {outcome:<11} {elapsed:6.1f} s  {spec['category']}: {spec['name']}: {detail[:120]}",
            flush=True,
        )
        shutil.rmtree(root, ignore_errors=True)
    counts = {o: sum(r[4] == o for r in rows) for o in OUTCOMES}
    print(json.dumps(counts))
    lines = [
        "# Hostile pass (issue 12)",
        "",
        "Generated by `python scripts/hostile_pass.py` on a fresh clone (tiny runs: digits at b = 6; real MNIST test",
        "files, damaged on purpose, for the data cases). `$W` is the case's temporary folder. Permission cases are",
        "simulated (the machine runs as root, which ignores file modes): see each command.",
        "",
        "| " + " | ".join(OUTCOMES) + " | cases |",
        "|" + "---|" * (len(OUTCOMES) + 1),
        "| " + " | ".join(str(counts[o]) for o in OUTCOMES) + f" | {len(rows)} |",
        "",
        "| # | kind | case | command | outcome | what the user sees / the check |",
        "|---|---|---|---|---|---|",
    ]
    for index, category, name, command, outcome, detail in rows:
        cells = [str(index), category, name, f"`{command}`" if command else "", outcome, detail]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    if not args.only:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0 if all(counts[o] == 0 for o in OUTCOMES[2:]) else 1


if __name__ == "__main__":
    sys.exit(main())
