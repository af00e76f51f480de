"""The ``sphere-study`` command end to end: configs, fit/validate/test, resume, determinism, tracking, errors, DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sphere_study.cli import main

from .tiny import CONFIGS, REPO, TINY_CNN, read_results, tiny_config

pytestmark = pytest.mark.slow

STUDY_CONFIGS = [
    ["quick.yaml"],
    ["classification/s2cnn.yaml"],
    ["classification/cnn.yaml"],
    ["segmentation/s2cnn.yaml"],
    ["segmentation/cnn.yaml"],
    ["segmentation/s2cnn_b16.yaml"],
    ["segmentation/cnn_b16.yaml"],
    ["segmentation/cnn.yaml", "segmentation/cnn_1m.yaml"],
    ["segmentation/cnn.yaml", "segmentation/cnn_5p5m.yaml"],
    ["segmentation/s2cnn.yaml", "data/fashion_mnist.yaml", "data/four_digits.yaml"],
]


def config_args(files) -> list[str]:
    return [arg for f in files for arg in ("--config", str(CONFIGS / f))]


@pytest.mark.parametrize("files", STUDY_CONFIGS, ids=lambda f: "+".join(f))
def test_config_parses(files, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *config_args(files), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "class_path: sphere_study.tasks." in printed and "data:" in printed


@pytest.mark.parametrize("files", STUDY_CONFIGS[:5], ids=lambda f: "+".join(f))
def test_config_fast_dev_run(files, tmp_path):
    """Each of the five configs trains a step with --trainer.fast_dev_run true (on the bundled digits: no download)."""
    code = main(["fit", *config_args(files), "--config", str(CONFIGS / "debug.yaml"),
                 "--trainer.default_root_dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    results = read_results(tmp_path)
    assert results["status"] == "completed" and results["model"]["num_parameters"] > 0


def test_fit_leaves_results_wandb_and_csv(tiny, tmp_path):
    assert main(["fit", "--config", str(tiny)]) == 0
    run = tmp_path / "run"
    results = read_results(run)
    for key in ("test/rotated/acc", "test/unrotated/acc", "test/gap/acc", "val/acc", "val/equivariance_error"):
        assert key in results["metrics"], key
    assert results["data"]["source"] == "digits" and results["data"]["num_train_samples"] == 48
    assert results["config"]["data"]["bandwidth"] == 6 and results["seed"] == 0
    # the fit's time and steps (what sphere_study.cost estimates): 48 samples in batches of 16, one epoch
    compute = results["compute"]
    assert compute["optimizer_steps"] == 3 and 0 < compute["fit_wall_time_s"] < results["wall_time_s"]
    assert list((run / "wandb").glob("offline-run-*")), "an offline wandb run"
    assert list(run.glob("logs/version_*/metrics.csv")) and list(run.glob("logs/version_*/config.yaml"))
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert list((run / "samples").glob("*.png"))


def test_same_config_same_metrics(tmp_path):
    """seed_everything: two runs of one config give identical metrics on CPU."""
    metrics = []
    for name in ("a", "b"):
        config = tiny_config(tmp_path / name)
        assert main(["fit", "--config", str(config)]) == 0
        m = read_results(tmp_path / name / "run")["metrics"]
        metrics.append({k: v for k, v in m.items() if not k.startswith("best/")})
    assert metrics[0] == metrics[1]


def _weights(ckpt: Path) -> dict:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def test_resume_from_last_checkpoint_gives_the_same_weights(tmp_path):
    """3 epochs straight == 1 epoch, stop, then --ckpt_path last up to 3 epochs: identical weights."""
    straight = tiny_config(tmp_path / "straight", max_epochs=3)
    assert main(["fit", "--config", str(straight), "--test_after_fit", "false"]) == 0
    interrupted = tiny_config(tmp_path / "resumed", max_epochs=1)
    assert main(["fit", "--config", str(interrupted), "--test_after_fit", "false"]) == 0
    assert main(["fit", "--config", str(interrupted), "--trainer.max_epochs", "3", "--ckpt_path", "last",
                 "--test_after_fit", "false", "--resume_changes", "allow"]) == 0  # fmt: skip
    a = _weights(tmp_path / "straight" / "run" / "checkpoints" / "last.ckpt")
    b = _weights(tmp_path / "resumed" / "run" / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_validate_and_test_from_checkpoint_reproduce_the_logged_metrics(tiny, tmp_path):
    assert main(["fit", "--config", str(tiny)]) == 0
    run = tmp_path / "run"
    logged = read_results(run)["metrics"]
    best = next((run / "checkpoints").glob("epoch=*.ckpt"))
    assert main(["test", "--config", str(tiny), "--ckpt_path", str(best)]) == 0
    tested = read_results(run, "test_results.json")["metrics"]
    for key in ("test/rotated/acc", "test/unrotated/acc", "test/rotated/loss"):
        assert tested[key] == pytest.approx(logged[key], abs=1e-6), key
    assert main(["validate", "--config", str(tiny), "--ckpt_path", str(best)]) == 0


def test_equivariance_callback_separates_s2cnn_from_cnn(tmp_path):
    errors = {}
    for name, network in (("s2cnn", None), ("cnn", TINY_CNN)):
        kwargs = {} if network is None else {"network": network}
        config = tiny_config(tmp_path / name, **kwargs)
        assert main(["fit", "--config", str(config), "--test_after_fit", "false"]) == 0
        errors[name] = read_results(tmp_path / name / "run")["metrics"]["val/equivariance_error"]
    assert errors["s2cnn"] < 0.05, errors
    assert errors["cnn"] > 5 * errors["s2cnn"], errors


def test_unknown_key_and_wrong_type_are_named(tiny, capsys):
    with pytest.raises(SystemExit) as e:
        main(["fit", "--config", str(tiny), "--data.bandwidht", "8"])
    assert e.value.code != 0 and "bandwidht" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["fit", "--config", str(tiny), "--data.bandwidth", "eight"])
    err = capsys.readouterr().err
    assert e.value.code != 0 and "bandwidth" in err and "eight" in err


def test_data_errors_reach_the_user(tiny, tmp_path, capsys):
    """A missing data folder gives exit code 2 and the data layer's message (which file, how to provide it)."""
    code = main(["fit", "--config", str(tiny), "--data.source", "mnist", "--data.root", str(tmp_path / "nowhere"),
                 "--data.download", "false"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "sphere-study: error:" in err and "idx3-ubyte" in err and "nowhere" in err


def test_ddp_two_cpu_processes_agree(tmp_path):
    """A DDP fit with 2 CPU processes completes, and both ranks end with identical parameters."""
    config = tiny_config(tmp_path, max_epochs=1)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "sphere_study", "fit", "--config", str(config), "--trainer.strategy", "ddp",
         "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--test_after_fit", "false",
         "--trainer.callbacks+=sphere_study.callbacks.ParameterChecksum"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    sums = [(tmp_path / "run" / f"param_checksum_rank{r}.txt").read_text() for r in (0, 1)]
    assert sums[0] == sums[1]


@pytest.mark.parametrize("precision", ["64-true", "bf16-mixed"])
def test_precision_from_config(precision, tmp_path):
    """float64 runs the S2CNN in double precision; bf16-mixed autocasts the linear head while the spectral layers
    stay in float32 (they opt out of autocast)."""
    config = tiny_config(tmp_path)
    assert main(["fit", "--config", str(config), "--trainer.precision", precision, "--test_after_fit", "false"]) == 0
    weights = _weights(tmp_path / "run" / "checkpoints" / "last.ckpt")
    expected = torch.float64 if precision == "64-true" else torch.float32
    assert weights["network.features.0.weight"].dtype == expected
    assert read_results(tmp_path / "run")["metrics"]["val/acc"] is not None


def test_cosine_over_run_anneals_over_exactly_its_own_steps(tmp_path):
    """48 images x augment 2 at batch 16 = 6 steps per epoch, 2 epochs: T = 12 and the last rate is eta_min."""
    config = tiny_config(tmp_path, max_epochs=2, augment=2, rotate_train=True)
    scheduler = '{"class_path": "sphere_study.tasks.CosineOverRun", "init_args": {"eta_min": 0.0001}}'
    assert main(["fit", "--config", str(config), "--model.init_args.lr_scheduler", scheduler,
                 "--test_after_fit", "false"]) == 0  # fmt: skip
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    (state,) = ckpt["lr_schedulers"]
    assert (state["total_steps"], state["last_epoch"]) == (12, 12)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(1e-4)
