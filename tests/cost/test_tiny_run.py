"""The estimate against a real run: calibrate a tiny fit, run it, compare the fit loop's time with the estimate."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sphere_study._lightning_cli import resolve_fit_commands
from sphere_study.cli import main
from sphere_study.cost import CalibrationCache, estimate_fits, point_line
from sphere_study.results import load_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from tiny import TINY_S2CNN, tiny_config  # noqa: E402

pytestmark = pytest.mark.slow


def test_estimate_is_within_a_factor_of_two_of_a_real_tiny_fit(tmp_path, capsys):
    """A tiny S2CNN (b = 6, bundled digits): 800 images, each as 2 rotated copies, in batches of 8 for one epoch =
    200 steps of about 10-30 ms on the shared 2-core machine, then a validation. The calibration (a child process,
    as in a dry run) runs right before the fit, so both see the same load; the fit loop is long enough (a few
    seconds) that its per-epoch work (checkpoints, the equivariance callback: not estimated) is small against it,
    and the windows' median resists bursts of load."""
    config = tiny_config(tmp_path, network=TINY_S2CNN, max_epochs=1, train_size=800, augment=2, rotate_train=True,
                         val_size=64, test_size=32, batch_size=8)  # fmt: skip
    args = ["--config", str(config), "--trainer.logger", "false", "--samples.n_samples", "0", "--test_after_fit",
            "false"]  # fmt: skip
    [(resolved, error)] = resolve_fit_commands([args])
    assert error is None, error
    [estimate] = estimate_fits([("tiny", args, resolved)], cache=CalibrationCache(tmp_path / "calibrations"))
    assert estimate.available, estimate.error
    assert estimate.plan.train_steps == 200 and estimate.plan.val_batches == 8

    assert main(["fit", *args]) == 0
    record = load_results(tmp_path / "run")
    compute = record["compute"]
    assert compute["optimizer_steps"] == 200, "the plan counts the steps the fit makes"
    ratio = compute["fit_wall_time_s"] / estimate.fit_s
    with capsys.disabled():
        print(
            f"\ntiny fit: {point_line(estimate)}; fit measured {compute['fit_wall_time_s']:.2f} s, estimated "
            f"{estimate.fit_s:.2f} s, ratio {ratio:.2f}"
        )
    assert 0.5 <= ratio <= 2.0
