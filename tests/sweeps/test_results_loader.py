"""The validating loader of results.json that sweeps (is this point done?) and plots rely on."""

from __future__ import annotations

import copy
import json

import pytest

from sphere_study.results import ResultsError, load_results, num_train_samples

VALID = {
    "schema_version": 1,
    "status": "completed",
    "task": "segmentation",
    "model": {"name": "cnn_seg_218k", "family": "cnn", "num_parameters": 218144},
    "data": {"source": "mnist", "train_size": 100, "augment": "online", "rotate_train": True, "num_train_samples": 100},
    "seed": 1,
    "metrics": {"test/rotated/miou_fg": 0.5, "test/rotated/loss": None},  # the writer stores NaN as null
}


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
        (lambda r: r.update(schema_version=2), "schema_version is 2, expected 1"),
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


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ResultsError, match="no such file"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"schema_version": 1,')  # a torn write
    with pytest.raises(ResultsError, match="not a readable JSON file"):
        load_results(tmp_path)


def test_num_train_samples():
    assert (num_train_samples(100, 4), num_train_samples(100, 1), num_train_samples(100, "online")) == (400, 100, 100)
