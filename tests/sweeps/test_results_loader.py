"""The validating loader of results.json that sweeps (is this point done?) and plots rely on."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sphere_study.results import SCHEMA_VERSION, ResultsError, compute_of, load_results, num_train_samples

REPO = Path(__file__).resolve().parents[2]

VALID = {
    "schema_version": 1,
    "status": "completed",
    "task": "segmentation",
    "model": {"name": "cnn_seg_218k", "family": "cnn", "num_parameters": 218144},
    "data": {"source": "mnist", "train_size": 100, "augment": "online", "rotate_train": True, "num_train_samples": 100},
    "seed": 1,
    "metrics": {"test/rotated/miou_fg": 0.5, "test/rotated/loss": None},  # the writer stores NaN as null
}
#: A version-2 record: the same plus the compute block (null where unknown).
VALID_V2 = {
    **copy.deepcopy(VALID),
    "schema_version": 2,
    "compute": {
        "fit_wall_time_s": 12.5, "optimizer_steps": 30, "train_batches": 30, "device": "cpu (2 threads)",
        "num_devices": 1, "batch_shape": [16, 1, 12, 12], "forward_flops_per_batch": 1000, "flops_per_batch": 3000,
        "train_flops": 90000, "flops_counted_by": "how", "flops_omit": "what",
    },
}  # fmt: skip


def write(tmp_path, record):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    return path


def test_a_valid_record_loads_from_the_file_or_its_folder(tmp_path):
    write(tmp_path, VALID)
    assert load_results(tmp_path) == load_results(tmp_path / "results.json") == VALID


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(status="running"), "status is 'running', expected 'completed'"),
        (lambda r: r.update(schema_version=3), "schema_version is 3, expected 1 or 2"),
        (lambda r: r.update(schema_version=True), "schema_version is True"),
        (lambda r: r.update(schema_version=2), "missing field 'compute'"),  # version 2 has the block
        (lambda r: r.pop("task"), "missing field 'task'"),
        (lambda r: r.update(task="detection"), "task is 'detection'"),
        (lambda r: r["model"].pop("name"), "missing field 'model.name'"),
        (lambda r: r["data"].update(rotate_train="yes"), "field 'data.rotate_train' is 'yes', of the wrong type"),
        (lambda r: r["data"].update(augment=0), "'data.augment' is 0, expected an int >= 1 or 'online'"),
        (lambda r: r["data"].update(augment="lots"), "'data.augment' is 'lots'"),
        (lambda r: r.update(seed=True), "field 'seed' is True, of the wrong type"),
        (lambda r: r["metrics"].update({"test/rotated/acc": "high"}), "metric 'test/rotated/acc' is 'high'"),
    ],
)
def test_bad_records_are_rejected_naming_the_file_and_field(tmp_path, edit, message):
    record = copy.deepcopy(VALID)
    edit(record)
    path = write(tmp_path, record)
    with pytest.raises(ResultsError, match=message) as info:
        load_results(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("train_flops"), "missing field 'compute.train_flops'"),
        (lambda c: c.update(optimizer_steps=2.5), "field 'compute.optimizer_steps' is 2.5, of the wrong type"),
        (lambda c: c.update(device=3), "field 'compute.device' is 3, of the wrong type"),
        (lambda c: c.update(flops_per_batch=True), "field 'compute.flops_per_batch' is True"),
        (lambda c: c.update(fit_wall_time_s=-1.0), "'compute.fit_wall_time_s' is -1.0, expected a number >= 0"),
        (lambda c: c.update(train_flops=float("nan")), "'compute.train_flops' is nan"),
    ],
)
def test_bad_compute_blocks_are_rejected(tmp_path, edit, message):
    record = copy.deepcopy(VALID_V2)
    edit(record["compute"])
    with pytest.raises(ResultsError, match=message):
        load_results(write(tmp_path, record))


def test_version_2_loads_with_its_compute_block_and_version_1_without(tmp_path):
    assert SCHEMA_VERSION == 2
    assert compute_of(load_results(write(tmp_path, VALID_V2))) == VALID_V2["compute"]
    assert compute_of(load_results(write(tmp_path, VALID))) is None
    unknown = copy.deepcopy(VALID_V2)  # e.g. a stand-alone test, which trains nothing: nulls are valid
    unknown["compute"] = {key: None for key in unknown["compute"]}
    assert compute_of(load_results(write(tmp_path, unknown)))["train_flops"] is None


def test_committed_results_of_both_schema_versions_load():
    """The results under docs/results keep loading: the older ones (schema version 1) were written before the compute
    block and have none; the real-MNIST study's (version 2) each carry one with the training FLOPs and steps."""
    paths = sorted((REPO / "docs" / "results").rglob("results.json"))
    versions = {1: 0, 2: 0}
    for path in paths:
        record = load_results(path)
        versions[record["schema_version"]] += 1
        compute = compute_of(record)
        if record["schema_version"] == 1:
            assert compute is None, path
        else:
            assert compute["train_flops"] > 0 and compute["optimizer_steps"] > 0, path
    assert versions[1] >= 10 and versions[2] >= 10, versions


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"schema_version": 1,')  # a torn write
    with pytest.raises(ResultsError, match="not a readable JSON file"):
        load_results(tmp_path)


def test_num_train_samples():
    assert (num_train_samples(100, 4), num_train_samples(100, 1), num_train_samples(100, "online")) == (400, 100, 100)
