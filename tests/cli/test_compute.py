"""The ``compute`` block of results.json and the wandb run's grouping keys, after a tiny real fit that is resumed.

One fit shared by the tests: 1 epoch, then resumed from ``last`` to 2 epochs (and tested), with the sweep-group
variable set as a sweep sets it. 48 training images at batch size 16: 3 batches per epoch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch.nn.functional as F

from sphere_study.cli import main
from sphere_study.data import SphericalDataModule
from sphere_study.models import FLOPS_COUNTED_BY, FLOPS_OMIT, S2CNNClassifier, build_model, count_training_flops
from sphere_study.nn import S2Conv, SO3Conv, correlation_flops
from sphere_study.results import SWEEP_GROUP_ENV, load_results

from .tiny import TINY_S2CNN, read_results, tiny_config

pytestmark = pytest.mark.slow

BATCHES_PER_EPOCH, EPOCHS, BATCH = 3, 2, 16


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory) -> tuple[Path, dict, dict]:
    """(run folder, results of the first part, results of the whole run)."""
    tmp = tmp_path_factory.mktemp("compute")
    config = tiny_config(tmp, max_epochs=1)
    run = tmp / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SWEEP_GROUP_ENV, "tiny/s2cnn")
        assert main(["fit", "--config", str(config), "--test_after_fit", "false"]) == 0
        first = read_results(run)
        assert main(["fit", "--config", str(config), "--trainer.max_epochs", str(EPOCHS), "--ckpt_path", "last",
                     "--resume_changes", "allow"]) == 0  # fmt: skip
    return run, first, read_results(run)


def test_compute_block_counts_the_whole_resumed_run(resumed_run):
    run, first, final = resumed_run
    assert load_results(run)["schema_version"] == 2
    one, whole = first["compute"], final["compute"]
    assert one["optimizer_steps"] == one["train_batches"] == BATCHES_PER_EPOCH
    # the resumed run's steps are the whole run's: Lightning restores global_step and its batch progress
    assert whole["optimizer_steps"] == whole["train_batches"] == BATCHES_PER_EPOCH * EPOCHS
    assert whole["flops_per_batch"] == one["flops_per_batch"] > whole["forward_flops_per_batch"] > 0
    assert whole["train_flops"] == whole["flops_per_batch"] * BATCHES_PER_EPOCH * EPOCHS
    assert whole["batch_shape"] == [BATCH, 1, 12, 12] and whole["num_devices"] == 1
    assert re.fullmatch(r"cpu \(\d+ threads?\)", whole["device"])
    assert (whole["flops_counted_by"], whole["flops_omit"]) == (FLOPS_COUNTED_BY, FLOPS_OMIT)
    assert "flops_error" not in whole
    # fit time: the sum of both parts, each shorter than its whole command
    assert 0 < one["fit_wall_time_s"] < first["wall_time_s"]
    assert 0 < whole["fit_wall_time_s"] - one["fit_wall_time_s"] < final["wall_time_s"]
    assert [r["changed"]["trainer.max_epochs"] for r in final["resumes"]] == [[1, EPOCHS]]


def test_flops_per_batch_equals_an_independent_recount(resumed_run):
    """A fresh network from the run's config, a real training batch, the task's own loss: the same total; and the
    forward pass equals the analytic formulas of the layers, the Haar integral's β quadrature and the head."""
    run, _, final = resumed_run
    compute, config = final["compute"], final["config"]
    data = SphericalDataModule(**config["data"])
    data.prepare_data()
    data.setup("fit")
    x, target = next(iter(data.train_dataloader()))
    network = build_model(TINY_S2CNN, bandwidth=data.bandwidth, in_channels=data.in_channels, num_classes=10)
    assert isinstance(network, S2CNNClassifier) and list(x.shape) == compute["batch_shape"]
    recount = count_training_flops(network.train(), example=x, loss=lambda out: F.cross_entropy(out, target))
    assert recount.total == compute["flops_per_batch"]

    layers = [m for m in network.modules() if isinstance(m, (S2Conv, SO3Conv))]
    forward = sum(sum(correlation_flops(layer, BATCH)["fwd"].values()) for layer in layers)
    forward += 2 * BATCH * layers[-1].out_channels * 2 * layers[-1].b_out  # Haar integral: @ w_beta
    head = network.head[-1]
    forward += 2 * BATCH * head.in_features * head.out_features
    assert compute["forward_flops_per_batch"] == forward


def test_the_wandb_run_carries_grouping_keys_and_the_compute_summary(resumed_run, read_wandb_run):
    run, _, final = resumed_run
    folders = sorted((run / "wandb").glob("offline-run-*"))
    assert len(folders) == 2  # one per part of the run
    stored = read_wandb_run(folders[-1])
    assert stored["group"] == "tiny/s2cnn"
    config = stored["config"]
    assert {k: config.get(k) for k in ("group", "family", "N", "A", "seed")} == {
        "group": "tiny/s2cnn", "family": "s2cnn", "N": 48, "A": 1, "seed": 0
    }  # fmt: skip
    summary = stored["summary"]
    assert summary["compute/train_flops"] == final["compute"]["train_flops"]
    assert summary["compute/optimizer_steps"] == BATCHES_PER_EPOCH * EPOCHS


def test_a_failed_count_is_recorded_and_does_not_stop_the_fit(tmp_path, monkeypatch):
    """A network FlopCounterMode cannot run: the fit completes; results.json says why there are no FLOPs."""

    def refuse(*args, **kwargs):
        raise RuntimeError("no flops today")

    monkeypatch.setattr("sphere_study.callbacks._compute.count_training_flops", refuse)
    with pytest.warns(UserWarning, match="could not count the training FLOPs"):
        assert main(["fit", "--config", str(tiny_config(tmp_path)), "--test_after_fit", "false"]) == 0
    compute = json.loads((tmp_path / "run" / "results.json").read_text())["compute"]
    assert compute["flops_error"] == "RuntimeError: no flops today"
    assert compute["flops_per_batch"] is None and compute["train_flops"] is None
    assert compute["optimizer_steps"] == BATCHES_PER_EPOCH and compute["fit_wall_time_s"] > 0
    assert load_results(tmp_path / "run")["compute"]["flops_omit"] is None
