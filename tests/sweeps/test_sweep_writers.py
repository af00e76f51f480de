"""Issue 12: a sweep killed with ``kill -9`` (the sweep process only) leaves no fit running, and a rerun never
starts a second writer in a point folder; every point's command is parsed before anything is launched."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from sphere_study._run_folder import RUN_LOCK_FILE
from sphere_study.sweep import load_sweep, run_sweep, sweep_main


def augment_sweep(augments) -> dict:
    return {
        "name": "toy",
        "output": "out/toy",
        "groups": {"g": {"base": "base.yaml", "fixed": {"data.train_size": 10}, "axes": {"data.augment": augments}}},
    }


def calls(point) -> int:
    path = point.dir / "fake_fit_calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def set_rules(monkeypatch, *rules) -> None:
    monkeypatch.setenv("FAKE_FIT_RULES", json.dumps(list(rules)))


def start_sweep_process(path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sphere_study.sweep", "--config", str(path), "--no-progress"]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s} s"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split(")")[-1].split()[0] != "Z"


def test_kill_9_of_the_sweep_takes_its_fit_down(write_sweep, fake_fit, monkeypatch):
    sweep = load_sweep(write_sweep(augment_sweep([1])))
    (point,) = sweep.points()
    set_rules(monkeypatch, {"match": {"data.augment": "1"}, "action": "hang", "seconds": 600})
    process = start_sweep_process(sweep.path)
    try:
        wait_for(point.dir / "hanging")
        fit_pid = int((point.dir / "hanging").read_text())
        os.kill(process.pid, signal.SIGKILL)  # the sweep only, not its process group
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(fit_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(fit_pid), "the fit outlived the sweep that started it"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    monkeypatch.delenv("FAKE_FIT_RULES")
    assert sweep_main(["--config", str(sweep.path), "--no-progress"]) == 0
    assert calls(point) == 2  # the killed attempt, then one rerun: never two at once


def test_a_point_whose_fit_still_writes_is_busy_not_started_twice(write_sweep, fake_fit):
    sweep = load_sweep(write_sweep(augment_sweep([1])))
    (point,) = sweep.points()
    point.dir.mkdir(parents=True)
    with open(point.dir / RUN_LOCK_FILE, "a+") as handle:  # an orphaned fit (no parent-death signal) holding it
        handle.write("777\n")
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (outcome,) = run_sweep(sweep, fit_command=fake_fit, progress=False).outcomes
    assert outcome.status == "busy" and "pid 777" in outcome.error
    assert calls(point) == 0


def test_missing_base_or_misspelled_key_is_caught_before_launch(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPHERE_STUDY_FIT_COMMAND", raising=False)  # the real fit parser checks the points
    config = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "quick.yaml")))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(config))
    bad = {
        "name": "bad",
        "output": str(tmp_path / "out"),
        "groups": {
            "missing": {"base": "nope.yaml", "axes": {"data.augment": [1]}},
            "typo": {"base": str(tmp_path / "base.yaml"), "axes": {"data.augmnt": [1, 2]}},
        },
    }
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(bad))
    for extra in (["--dry-run"], []):
        assert sweep_main(["--config", str(path), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert "3 of 3 point(s) would not start" in err and "nope.yaml" in err and "data.augmnt" in err
    assert not (tmp_path / "out").exists()
