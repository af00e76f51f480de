"""Calibrations are shared by fits of one key, cached on disk, recalibrated when the key changes, and a damaged
cache file is rebuilt with a warning. The calibration itself is faked here (tests/cost/test_tiny_run.py runs it)."""

from __future__ import annotations

import json
import warnings

import pytest

from sphere_study.cost import (
    CalibrationCache,
    CalibrationCacheWarning,
    Hardware,
    calibration_key,
    estimate_fits,
    plan_run,
    point_line,
)


def timing(train_s: float = 0.5, eval_s: float = 0.2) -> dict:
    return {"train_batch_s": train_s, "eval_batch_s": eval_s, "train_windows": [train_s] * 3, "eval_windows": [eval_s]}


class FakeCalibrator:
    """Records the jobs it is asked to time; answers every job with ``timing()`` (or an error)."""

    def __init__(self, error: str | None = None):
        self.calls: list[list[str]] = []
        self.error = error

    def __call__(self, jobs, **kwargs):
        self.calls.append([job["label"] for job in jobs])
        return {job["digest"]: {"error": self.error} if self.error else {"timing": timing()} for job in jobs}


def fit(label="p", *, batch_size=32, network="cnn_cls_114k", lr=1e-3, **data):
    """(label, fit args, resolved config): a plain config of the shape the fit's parser resolves."""
    config = {
        "model": {
            "class_path": "sphere_study.tasks.ClassificationTask",
            "init_args": {
                "network": network,
                "bandwidth": 30,
                "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": lr, "weight_decay": 0.0}},
            },
        },
        "data": {
            "task": "classification",
            "source": "mnist",
            "bandwidth": 30,
            "batch_size": batch_size,
            "train_size": 10_000,
            "augment": 1,
            "rotate_train": True,
            **data,
        },  # fmt: skip
        "trainer": {"max_epochs": 2, "accelerator": "cpu"},
    }
    return (label, ["--config", "unused.yaml"], config)


@pytest.fixture
def cache(tmp_path):
    return CalibrationCache(tmp_path / "calibrations")


def test_one_calibration_per_key_and_none_the_second_time(cache):
    calibrate = FakeCalibrator()
    # augment and learning rate change neither the model nor the batch: one calibration for both
    fits = [fit("a"), fit("b", augment=4, lr=0.01)]
    first = estimate_fits(fits, cache=cache, calibrate=calibrate)
    assert calibrate.calls == [["cnn_cls_114k b=30 batch 32 (classification)"]]
    assert [e.cached for e in first] == [False, False]
    plan = plan_run(fits[1][2])
    assert first[1].seconds == pytest.approx(
        plan.train_steps * 0.5 + (plan.val_batches + plan.sanity_batches + plan.test_batches) * 0.2
    )
    assert len(list(cache.directory.glob("*.json"))) == 1
    assert not list(cache.directory.glob(".*")), "no temporary file left behind (atomic write)"

    again = estimate_fits(fits, cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 1, "the second estimate calibrates nothing"
    assert [e.cached for e in again] == [True, True] and again[1].seconds == first[1].seconds


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 16},
        {"network": "cnn_cls_500k"},
        {"network": {"class_path": "sphere_study.models.CNNClassifier", "init_args": {"features": [4, 8]}}},
    ],
)
def test_a_key_change_recalibrates(cache, change):
    calibrate = FakeCalibrator()
    estimate_fits([fit()], cache=cache, calibrate=calibrate)
    estimate_fits([fit(**change)], cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 2


def test_threads_torch_version_and_code_are_in_the_key(cache, monkeypatch):
    import torch

    import sphere_study.cost._estimate as estimate_module

    calibrate = FakeCalibrator()
    estimate_fits([fit()], env={"OMP_NUM_THREADS": "1"}, cache=cache, calibrate=calibrate)
    estimate_fits([fit()], env={"OMP_NUM_THREADS": "2"}, cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 2, "another thread count is another calibration"
    monkeypatch.setattr(torch, "__version__", "99.0.0")
    estimate_fits([fit()], env={"OMP_NUM_THREADS": "1"}, cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 3, "another torch is another calibration"
    monkeypatch.setattr(estimate_module, "code_fingerprint", lambda: "edited-layers")
    estimate_fits([fit()], env={"OMP_NUM_THREADS": "1"}, cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 4, "changed layer code is another calibration"


def test_key_leaves_out_what_does_not_change_a_batch():
    hardware = Hardware("cpu", "some CPU", 2)
    a, b = fit(lr=1e-3, augment=1), fit(lr=0.5, augment=8, train_size=500)
    assert calibration_key(a[2], hardware) == calibration_key(b[2], hardware)
    slow = fit()
    slow[2]["trainer"]["deterministic"] = True
    assert calibration_key(slow[2], hardware) != calibration_key(a[2], hardware)
    assert calibration_key(a[2], hardware)["hardware"] == {"device": "cpu", "name": "some CPU", "threads": 2}


@pytest.mark.parametrize(
    "damage, why",
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "not a calibration record"),
        (json.dumps({"key": {"other": 1}, "timing": timing()}), "it records another key"),
        ("KEYED_NEGATIVE", "timing.train_batch_s is -1"),
        ("KEYED_INCOMPLETE", "its timing lacks eval_windows"),
    ],
)
def test_a_corrupt_cache_file_is_rebuilt_with_a_warning(cache, damage, why):
    calibrate = FakeCalibrator()
    fits = [fit()]
    estimate_fits(fits, cache=cache, calibrate=calibrate)
    (path,) = cache.directory.glob("*.json")
    record = json.loads(path.read_text())
    if damage == "KEYED_NEGATIVE":
        damage = json.dumps({"key": record["key"], "timing": {**timing(), "train_batch_s": -1}})
    elif damage == "KEYED_INCOMPLETE":
        damage = json.dumps({"key": record["key"], "timing": {"train_batch_s": 1.0, "eval_batch_s": 1.0,
                                                             "train_windows": [1.0]}})  # fmt: skip
    path.write_text(damage)
    with pytest.warns(CalibrationCacheWarning, match=f"{path.name} is unusable \\({why}"):
        (estimate,) = estimate_fits(fits, cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 2 and estimate.available and not estimate.cached
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file loads cleanly
        (estimate,) = estimate_fits(fits, cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 2 and estimate.cached


def test_failed_calibrations_and_refused_settings_are_per_point(cache):
    calibrate = FakeCalibrator(error="RuntimeError: out of memory")
    good, too_big = fit("good"), fit("big", train_size=60_000)
    estimates = estimate_fits([good, too_big], cache=cache, calibrate=calibrate)
    assert calibrate.calls == [["cnn_cls_114k b=30 batch 32 (classification)"]], "no job for a point that cannot run"
    assert point_line(estimates[0]) == "est: not available (calibration failed: RuntimeError: out of memory)"
    assert "data.train_size=60,000 exceeds the 54,000 training images" in point_line(estimates[1])
    assert not list(cache.directory.glob("*.json")), "a failure is not cached"
    estimate_fits([good], cache=cache, calibrate=calibrate)
    assert len(calibrate.calls) == 2, "and is tried again next time"
