"""Batch counts of a fit from its resolved config: steps with the loaders' last-batch rule, augmentation, online,
Lightning's limits, validation and test batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from sphere_study.cost import plan_run

REPO = Path(__file__).resolve().parents[2]


def config(data=None, trainer=None, **top):
    base = {"data": {"source": "mnist", "batch_size": 32, "augment": 1, "train_size": 10_000}, "trainer": {}}
    base["data"].update(data or {})
    base["trainer"].update(trainer or {})
    return {**base, **top}


@pytest.mark.parametrize(
    "data, samples, steps",
    [
        ({"train_size": 10_000, "augment": 4}, 40_000, 1250),  # N x A, an exact multiple of the batch
        ({"train_size": 10_017, "augment": 1}, 10_017, 313),  # 313 * 32 + 1: the batch of one is dropped
        ({"train_size": 10_018, "augment": 1}, 10_018, 314),  # a last batch of two is kept
        ({"train_size": 3_001, "augment": 3}, 9_003, 282),  # 9003 = 281 * 32 + 11
        ({"train_size": 10_000, "augment": "online"}, 10_000, 313),  # online: N samples per epoch
        ({"train_size": None}, 54_000, 1688),  # all of the official split: 60,000 - 6,000 validation images
        ({"train_size": None, "split_test_set": True}, 7_000, 219),  # the t10k split: 7,000 / 1,000 / 2,000
        ({"source": "digits", "train_size": None, "batch_size": 16}, 1_258, 79),
    ],
)
def test_steps_per_epoch_follow_the_loaders(data, samples, steps):
    plan = plan_run(config(data, {"max_epochs": 3}))
    assert (plan.train_samples, plan.steps_per_epoch, plan.epochs) == (samples, steps, 3)
    assert plan.train_steps == 3 * steps


def test_validation_sanity_and_test_batches():
    plan = plan_run(config({"rotate_test": "both"}, {"max_epochs": 4, "check_val_every_n_epoch": 2}))
    # 6,000 validation images in batches of 32: 188 per validation, at epochs 2 and 4; sanity check 2 batches;
    # two test sets of 10,000 images, 313 batches each
    assert (plan.val_batches, plan.sanity_batches, plan.test_batches) == (2 * 188, 2, 2 * 313)
    assert plan_run(config({"rotate_test": True}, {"max_epochs": 4}, test_after_fit=False)).test_batches == 0
    quarter = plan_run(config(trainer={"max_epochs": 1, "val_check_interval": 0.25}))
    assert quarter.val_batches == 4 * 188  # four validations per epoch


@pytest.mark.parametrize(
    "trainer, steps_per_epoch, epochs, train_steps, val_batches",
    [
        ({"max_epochs": 5, "limit_train_batches": 100}, 100, 5, 500, 5 * 188),
        ({"max_epochs": 5, "limit_train_batches": 0.5, "limit_val_batches": 10}, 156, 5, 780, 50),
        ({"max_epochs": 5, "max_steps": 700}, 313, 3, 700, 3 * 188),  # max_steps stops in the third epoch
        ({"max_epochs": None, "max_steps": 1000}, 313, 4, 1000, 4 * 188),
        ({"max_epochs": None, "max_steps": -1}, 313, 1000, 313_000, 1000 * 188),  # Lightning's default 1000 epochs
        ({"max_epochs": 5, "max_steps": 100, "accumulate_grad_batches": 4}, 313, 2, 400, 2 * 188),
        ({"fast_dev_run": True, "max_epochs": 50}, 1, 1, 1, 1),
        ({"fast_dev_run": 3, "max_epochs": 50}, 3, 1, 3, 3),
    ],
)
def test_lightning_limits(trainer, steps_per_epoch, epochs, train_steps, val_batches):
    plan = plan_run(config(trainer=trainer))
    assert (plan.steps_per_epoch, plan.epochs, plan.train_steps, plan.val_batches) == (
        steps_per_epoch,
        epochs,
        train_steps,
        val_batches,
    )


def test_early_stopping_max_time_and_notes():
    plan = plan_run(
        config(
            trainer={
                "max_epochs": 100,
                "max_time": "00:02:30:00",
                "devices": 4,
                "callbacks": [{"class_path": "lightning.pytorch.callbacks.EarlyStopping", "init_args": {}}],
            }
        )
    )
    assert plan.early_stopping and plan.max_time_s == 9000.0
    assert any("devices=4" in note for note in plan.notes)
    assert not plan_run(config(trainer={"max_epochs": 1})).early_stopping


def test_settings_the_fit_would_refuse_are_named():
    with pytest.raises(ValueError, match="data.train_size=60,000 exceeds the 54,000 training images of mnist"):
        plan_run(config({"train_size": 60_000}))
    with pytest.raises(ValueError, match="limit_train_batches=1.5: a fraction must be at most 1.0"):
        plan_run(config(trainer={"limit_train_batches": 1.5}))
    with pytest.raises(ValueError, match="DD:HH:MM:SS"):
        plan_run(config(trainer={"max_time": "2 hours"}))


def test_plan_of_a_real_resolved_config():
    """The counts come from the fit's parser: the segmentation CNN config with a sweep's overrides."""
    from sphere_study._lightning_cli import resolve_fit_commands

    args = ["--config", str(REPO / "configs/segmentation/cnn.yaml"), "--data.train_size", "10000"]
    [(resolved, error)] = resolve_fit_commands([args + ["--data.augment", "online"]])
    assert error is None, error
    plan = plan_run(resolved)
    # augment online: 10,000 samples per epoch, batch 32, 100 epochs; EarlyStopping in the config
    assert (plan.train_samples, plan.steps_per_epoch, plan.train_steps) == (10_000, 313, 31_300)
    assert plan.early_stopping and plan.test_batches == 2 * 313 and plan.sanity_batches == 2
