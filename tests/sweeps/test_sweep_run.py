"""Running sweeps with a fake fit: resume after a kill, retry and report, parallel workers, concurrent sweeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sphere_study.results import RESULTS_FILE, load_results
from sphere_study.sweep import LOG_FILE, SUMMARY_FILE, load_sweep, run_sweep, sweep_main, worker_env


def augment_sweep(augments=(1, 2, 3, 4)) -> dict:
    return {
        "name": "toy",
        "output": "out/toy",
        "groups": {
            "g": {"base": "base.yaml", "fixed": {"data.train_size": 10}, "axes": {"data.augment": list(augments)}}
        },
    }


def overrides_as_passed(point) -> dict[str, str]:
    """The overrides as the fake fit received them on its command line."""
    return {"data.train_size": "10", "data.augment": str(point.params["data.augment"])}


def calls(point) -> int:
    """How often the fake fit ran in the point's folder."""
    path = point.dir / "fake_fit_calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def set_rules(monkeypatch, *rules) -> None:
    monkeypatch.setenv("FAKE_FIT_RULES", json.dumps(list(rules)))


def start_sweep_process(path: Path, *args: str) -> subprocess.Popen:
    """``python -m sphere_study.sweep`` in its own process group, so that a test can kill the group."""
    command = [sys.executable, "-m", "sphere_study.sweep", "--config", str(path), "--no-progress", *args]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s} s"
        time.sleep(0.05)


def test_sweep_runs_every_point_once_and_a_rerun_skips_them(write_sweep, fake_fit):
    sweep = load_sweep(write_sweep(augment_sweep()))
    report = run_sweep(sweep, fit_command=fake_fit, progress=False)
    assert [o.status for o in report.outcomes] == ["completed"] * 4
    for point in sweep.points():
        record = load_results(point.dir)
        assert record["data"]["augment"] == point.params["data.augment"]
        assert record["config"]["overrides"] == overrides_as_passed(point)
        assert record["config"]["configs"] == ["base.yaml"]
        log = (point.dir / LOG_FILE).read_text()
        assert "=== sweep attempt 1 of g/" in log and "fake fit: done" in log and "=== attempt 1 completed" in log
        assert json.loads((point.dir / "point.json").read_text())["overrides"] == point.overrides
        # the fit learns its sweep group, for its wandb run's group (results.SWEEP_GROUP_ENV)
        assert record["fake"]["env"]["SPHERE_STUDY_SWEEP_GROUP"] == f"{sweep.name}/g"
    summary = json.loads((sweep.output / SUMMARY_FILE).read_text())
    assert summary["counts"]["completed"] == 4 and summary["num_points"] == 4

    again = run_sweep(sweep, fit_command=fake_fit, progress=False)
    assert [o.status for o in again.outcomes] == ["skipped"] * 4
    assert [calls(p) for p in sweep.points()] == [1] * 4


@pytest.mark.parametrize("how", ["SIGKILL to the whole process group", "SIGTERM to the sweep"])
def test_a_sweep_killed_mid_point_resumes_redoing_only_that_point(write_sweep, fake_fit, monkeypatch, how):
    sweep = load_sweep(write_sweep(augment_sweep()))
    first, second, hung, last = sweep.points()
    set_rules(monkeypatch, {"match": {"data.augment": "3"}, "action": "hang", "seconds": 600})
    process = start_sweep_process(sweep.path)
    try:
        wait_for(hung.dir / "hanging")
        if how.startswith("SIGKILL"):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = process.stdout.read().decode()
    if how.startswith("SIGTERM"):
        assert returncode == 130, output
        summary = json.loads((sweep.output / SUMMARY_FILE).read_text())
        assert summary["interrupted"] and [p["status"] for p in summary["points"]] == [
            "completed", "completed", "interrupted", "interrupted"
        ]  # fmt: skip
    assert not (hung.dir / RESULTS_FILE).exists(), "a killed point must leave no results.json"
    assert not last.dir.exists() or calls(last) == 0
    finished_mtimes = [(p.dir / RESULTS_FILE).stat().st_mtime_ns for p in (first, second)]

    monkeypatch.delenv("FAKE_FIT_RULES")
    assert sweep_main(["--config", str(sweep.path), "--no-progress"]) == 0
    assert [calls(p) for p in (first, second, hung, last)] == [1, 1, 2, 1]
    assert [(p.dir / RESULTS_FILE).stat().st_mtime_ns for p in (first, second)] == finished_mtimes
    for point in sweep.points():
        load_results(point.dir)


def test_a_failing_point_is_retried_once_and_reported_while_the_others_finish(
    write_sweep, fake_fit, monkeypatch, capsys
):
    path = write_sweep(augment_sweep())
    set_rules(monkeypatch, {"match": {"data.augment": "2"}, "action": "fail"})
    assert sweep_main(["--config", str(path), "--no-progress"]) == 1
    points = load_sweep(path).points()
    failing = points[1]
    assert [calls(p) for p in points] == [1, 2, 1, 1]
    assert not (failing.dir / RESULTS_FILE).exists()
    for point in points[:1] + points[2:]:
        load_results(point.dir)

    out = capsys.readouterr().out
    assert "3 completed, 1 failed" in out
    assert f"failed: {failing.label}: exited with status 3" in out and str(failing.dir / LOG_FILE) in out
    log = (failing.dir / LOG_FILE).read_text()
    assert log.count("fake fit: failing as told") == 2 and "=== attempt 2 failed: exited with status 3" in log
    summary = json.loads((points[0].dir.parents[1] / SUMMARY_FILE).read_text())
    (entry,) = [p for p in summary["points"] if p["status"] == "failed"]
    assert entry["name"] == failing.name and entry["attempts"] == 2 and entry["returncode"] == 3


def test_a_point_killed_on_its_first_attempt_completes_on_the_retry(write_sweep, fake_fit, monkeypatch):
    sweep = load_sweep(write_sweep(augment_sweep((1, 2))))
    set_rules(monkeypatch, {"match": {"data.augment": "1"}, "action": "kill_once"})
    report = run_sweep(sweep, fit_command=fake_fit, progress=False)
    killed = report.outcomes[0]
    assert (killed.status, killed.attempts) == ("completed", 2)
    assert "attempt 1 failed: killed by SIGKILL" in (killed.point.dir / LOG_FILE).read_text()
    load_results(killed.point.dir)


def test_no_retry_with_retries_0(write_sweep, fake_fit, monkeypatch):
    sweep = load_sweep(write_sweep(augment_sweep((1,))))
    set_rules(monkeypatch, {"match": {"data.augment": "1"}, "action": "fail_once"})
    (outcome,) = run_sweep(sweep, fit_command=fake_fit, retries=0, progress=False).outcomes
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    (outcome,) = run_sweep(sweep, fit_command=fake_fit, retries=0, progress=False).outcomes  # resume: runs it again
    assert (outcome.status, outcome.attempts) == ("completed", 1)


def test_a_fit_that_exits_0_without_results_or_cannot_start_is_a_failure(write_sweep):
    sweep = load_sweep(write_sweep(augment_sweep((1,))))
    (outcome,) = run_sweep(sweep, fit_command=[sys.executable, "-c", "pass"], progress=False).outcomes
    assert outcome.status == "failed" and "exited with status 0 but left no valid results.json" in outcome.error
    (outcome,) = run_sweep(sweep, fit_command=["/nonexistent/fit"], progress=False).outcomes
    assert outcome.status == "failed" and "could not start the fit command" in outcome.error


def test_parallel_workers_keep_every_point_in_its_own_folder(write_sweep, fake_fit, monkeypatch):
    sweep = load_sweep(write_sweep(augment_sweep((1, 2, 3, 4, 5, 6))))
    monkeypatch.setenv("FAKE_FIT_SLEEP", "1.0")
    monkeypatch.setenv("FAKE_FIT_LEDGER", str(Path("ledger.txt").resolve()))
    report = run_sweep(sweep, fit_command=fake_fit, workers=2, gpus=0, progress=False)
    assert [o.status for o in report.outcomes] == ["completed"] * 6

    intervals = []
    for point in sweep.points():
        record = load_results(point.dir)
        assert record["config"]["overrides"] == overrides_as_passed(point)
        assert record["fake"]["env"]["OMP_NUM_THREADS"] == str(max(1, len(os.sched_getaffinity(0)) // 2))
        log = (point.dir / LOG_FILE).read_text()
        assert log.count("fake fit in") == 1 and f"fake fit in {point.dir}:" in log
        intervals.append((record["fake"]["start"], record["fake"]["end"]))
    ledger = Path("ledger.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in ledger) == sorted(p.name for p in sweep.points())
    # at most two fits at any time, and the two workers did run side by side
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = [sum(step for _, step in events[: i + 1]) for i in range(len(events))]
    assert max(running) == 2
    summary = json.loads((sweep.output / SUMMARY_FILE).read_text())
    assert summary["counts"]["completed"] == 6


def test_two_sweep_processes_on_one_sweep_run_each_point_once(write_sweep, fake_fit, monkeypatch):
    path = write_sweep(augment_sweep((1, 2, 3, 4, 5, 6)))
    monkeypatch.setenv("FAKE_FIT_SLEEP", "0.5")
    processes = [start_sweep_process(path, "--workers", "2") for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    points = load_sweep(path).points()
    assert [calls(p) for p in points] == [1] * 6
    for point in points:
        load_results(point.dir)


def test_a_point_folder_made_with_other_overrides_is_reported_stale(write_sweep, fake_fit, capsys):
    sweep = load_sweep(write_sweep(augment_sweep((1, 2))))
    run_sweep(sweep, fit_command=fake_fit, progress=False)
    edited = augment_sweep((1, 2))
    edited["groups"]["g"]["fixed"]["data.train_size"] = 20  # same point names, other settings
    path = write_sweep(edited)
    assert sweep_main(["--config", str(path), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "2 stale" in out and "delete the folder to rerun it" in out
    assert [calls(p) for p in sweep.points()] == [1, 1]


def test_worker_env_gives_each_slot_one_gpu_or_a_share_of_the_cpus(monkeypatch):
    base = {"PATH": "/bin"}
    assert [worker_env(s, 2, ["0", "1"], 16, base)["CUDA_VISIBLE_DEVICES"] for s in range(2)] == ["0", "1"]
    assert worker_env(1, 2, ["3", "5"], 16, base)["CUDA_VISIBLE_DEVICES"] == "5"
    cpu = worker_env(0, 2, [], 16, base)
    assert "CUDA_VISIBLE_DEVICES" not in cpu and cpu["OMP_NUM_THREADS"] == cpu["MKL_NUM_THREADS"] == "8"
    assert worker_env(0, 4, [], 2, base)["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in worker_env(0, 1, [], 16, base)  # one worker: torch picks its own threads
    assert worker_env(0, 1, [], 16, base)["PATH"] == "/bin"

    from sphere_study.sweep import _visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,7")
    assert _visible_gpus(2) == ["2", "7"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert _visible_gpus(3) == ["0", "1", "2"] and _visible_gpus(0) == []
