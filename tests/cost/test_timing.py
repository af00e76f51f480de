"""The timing windows, the printed lines (per point, total, the more-than-a-day warning) and the calibration child's
failure handling."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from sphere_study.cost import (
    DAY_S,
    Hardware,
    PointEstimate,
    WindowTimer,
    format_duration,
    plan_run,
    point_line,
    run_calibrations,
    schedule_seconds,
    summary_lines,
)


def run_timer(durations, **kwargs) -> WindowTimer:
    """Feed a timer batches of the given durations (a synthetic clock) until it is done."""
    timer, now = WindowTimer(**kwargs), 0.0
    timer.start(now)
    for duration in durations:
        now += duration
        timer.tick(now)
        if timer.done:
            break
    return timer


def test_window_timer_warms_up_then_takes_the_median_window():
    # A slow first batch (one-time costs), then 10 ms batches, one burst of 100 ms batches in the middle.
    durations = [0.5] + [0.01] * 200 + [0.1] * 25 + [0.01] * 2000
    timer = run_timer(durations)
    assert timer.done and timer.warmup_batches > 1, "the warm-up spans WARMUP_S, not only the first batch"
    assert timer.window_batches >= 10, "windows of at least WINDOW_S"
    assert timer.seconds_per_batch() == pytest.approx(0.01), "the burst moves one window, not the median"
    assert 3 <= len(timer.windows) <= 9


def test_window_timer_for_slow_batches_stops_early():
    timer = run_timer([40.0] * 10)  # a b = 50 S2CNN on a loaded CPU
    assert (timer.warmup_batches, timer.window_batches, len(timer.windows), timer.batches) == (1, 1, 1, 2)
    assert timer.seconds_per_batch() == 40.0
    assert len(run_timer([2.0] * 10).windows) == 3, "3 windows while the timed part is under LONG_TIMED_S"


def test_window_timer_without_a_window_says_so():
    timer = WindowTimer()
    timer.start(0.0)
    timer.tick(0.1)
    with pytest.raises(RuntimeError, match="no complete timing window after 1 batch"):
        timer.seconds_per_batch()


@pytest.mark.parametrize(
    "seconds, text",
    [
        (3.24, "3.2 s"),
        (42, "42 s"),
        (61, "1 min"),
        (12 * 60 + 20, "12 min"),
        (3 * 3600 + 12 * 60, "3 h 12 min"),
        (7200, "2 h"),
        (2 * DAY_S + 5 * 3600 + 100, "2 d 5 h"),
        (3 * DAY_S, "3 d"),
    ],  # fmt: skip
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def estimate(train_s=0.92, eval_s=0.31, **trainer) -> PointEstimate:
    config = {"data": {"source": "mnist", "train_size": 10_000, "augment": 4, "batch_size": 32},
              "trainer": {"max_epochs": 10, **trainer}}  # fmt: skip
    timing = {"train_batch_s": train_s, "eval_batch_s": eval_s, "train_windows": [], "eval_windows": []}
    return PointEstimate("g/p", plan=plan_run(config), timing=timing, hardware=Hardware("cpu", "Test CPU", 2))


def test_point_line_states_steps_and_batch_times():
    line = point_line(estimate())
    # 40,000 samples / 32 = 1,250 steps x 10 epochs; 188 val batches x 10 + 2 sanity + 313 test
    assert line == "est 3 h 23 min (12,500 steps × 0.92 s + 2,195 eval batches × 0.31 s)"
    early = point_line(estimate(callbacks=[{"class_path": "lightning.pytorch.callbacks.EarlyStopping"}]))
    assert early.startswith("est ≤ 3 h 23 min") and "early stopping may end it sooner" in early
    assert "capped by max_time 1 h" in point_line(estimate(max_time="00:01:00:00"))
    fast = point_line(estimate(train_s=0.004, eval_s=0.002))
    assert fast.endswith("(12,500 steps × 4 ms + 2,195 eval batches × 2 ms)")


def test_summary_totals_the_points_to_run_and_warns_beyond_a_day():
    points = [estimate(), estimate(), estimate()]  # 3 h 23 min each
    lines = summary_lines(points, [True, True, False])
    assert lines[0] == "total: est 6 h 46 min for 2 point(s) to run on CPU (Test CPU, 2 threads)"
    assert not any(line.startswith("WARNING") for line in lines)
    big = [estimate(train_s=10.0)] * 3 + [PointEstimate("g/broken", error="calibration failed: x")]
    lines = summary_lines(big, [True] * 4, workers=2)
    assert lines[0].startswith("total: est 4 d 9 h for 3 point(s) to run (1 more without an estimate)")
    assert lines[0].endswith("about 2 d 22 h of wall time with 2 workers")
    (warning,) = [line for line in lines if line.startswith("WARNING")]
    assert "more than a day: about 2 d 22 h of wall time with 2 workers" in warning


def test_schedule_is_the_worker_pools():
    assert schedule_seconds([3, 1, 1, 1], 1) == 6
    assert schedule_seconds([3, 1, 1, 1], 2) == 3  # 3 | 1+1+1
    assert schedule_seconds([1, 1, 3], 2) == 4  # 1+3 | 1: in order, each on the first free worker
    assert schedule_seconds([], 4) == 0


def test_a_dying_calibration_child_fails_its_job_and_the_rest_get_a_new_one(tmp_path, monkeypatch, capsys):
    """A child killed while timing (as the OOM killer does) fails that job only; simulated by an interpreter that
    kills itself with SIGKILL."""
    dying = tmp_path / "python"
    dying.write_text("#!/bin/sh\necho 'timing ...' >&2\nkill -9 $$\n")
    dying.chmod(dying.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(sys, "executable", str(dying))
    jobs = [{"digest": name, "label": name, "args": [], "device": "cpu", "threads": 1} for name in ("a", "b")]
    outcomes = run_calibrations(jobs, env=dict(os.environ), stream=sys.stderr)
    assert outcomes == {name: {"error": "the calibration process killed by signal 9 (out of memory?)"} for name in "ab"}
    assert capsys.readouterr().err.count("timing ...") == 2, "the child's progress lines are passed on"
