"""The cache of generated sets: keys, atomic writes, detection of damaged files, concurrent generation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sphere_study.data import (
    CacheWarning,
    SphereCache,
    SphereSetSpec,
    SphericalDataModule,
    generation_fields,
)

EXPECTED = {"x": (np.uint8, (64, 16)), "y": (np.int64, (64,))}


def make_arrays(calls: list | None = None):
    def create():
        if calls is not None:
            calls.append(1)
        rng = np.random.default_rng(0)
        return {"x": rng.integers(0, 256, (64, 16), dtype=np.uint8), "y": np.arange(64, dtype=np.int64)}

    return create


FIELDS = {"source": "digits", "bandwidth": 8, "seed": 0}


def test_get_or_create_generates_once_then_loads(tmp_path):
    cache = SphereCache(tmp_path / "cache")
    calls = []
    first, created = cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays(calls))
    second, created_again = cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays(calls))
    assert (created, created_again, len(calls)) == (True, False, 1)
    assert all(np.array_equal(first[k], second[k]) for k in EXPECTED)
    path = cache.path("demo", FIELDS)
    assert path.name.startswith("demo-") and path.suffix == ".npz"
    assert not list(path.parent.glob("*.tmp")), "no temporary files are left behind"


def _damage_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_flip_payload_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    position = data.index(b"x.npy") + 200  # inside the stored "x" member, past its header
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_garbage(path: Path) -> None:
    path.write_bytes(b"not a zip file at all")


def _damage_empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    "damage", [_damage_truncate, _damage_flip_payload_byte, _damage_garbage, _damage_empty], ids=lambda f: f.__name__
)
def test_damaged_file_is_detected_and_regenerated(tmp_path, damage):
    cache = SphereCache(tmp_path / "cache")
    good, _ = cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays())
    path = cache.path("demo", FIELDS)
    damage(path)
    calls = []
    with pytest.warns(CacheWarning, match="regenerating"):
        again, created = cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays(calls))
    assert created and calls == [1]
    assert all(np.array_equal(good[k], again[k]) for k in EXPECTED)
    assert cache.load(path, FIELDS, EXPECTED) is not None, "the regenerated file is valid"


def test_file_of_other_parameters_is_not_taken(tmp_path):
    cache = SphereCache(tmp_path / "cache")
    cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays())
    other = {**FIELDS, "seed": 1}
    cache.path("demo", FIELDS).rename(cache.path("demo", other))  # e.g. copied by hand under the wrong name
    with pytest.warns(CacheWarning, match="metadata"):
        _, created = cache.get_or_create("demo", other, EXPECTED, make_arrays())
    assert created


def test_wrong_shape_is_not_taken(tmp_path):
    cache = SphereCache(tmp_path / "cache")
    cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays())
    with pytest.warns(CacheWarning, match="expected uint8"):
        assert cache.load(cache.path("demo", FIELDS), FIELDS, {"x": (np.uint8, (65, 16))}) is None


def test_interrupted_write_leaves_no_file_and_is_redone(tmp_path, monkeypatch):
    cache = SphereCache(tmp_path / "cache")
    real_savez = np.savez

    def interrupted_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 half of a zip")  # the start of a file ...
        raise KeyboardInterrupt  # ... then the run is interrupted

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays())
    path = cache.path("demo", FIELDS)
    assert not path.exists() and not list(path.parent.glob("*.tmp"))
    monkeypatch.setattr(np, "savez", real_savez)
    _, created = cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays())
    assert created and cache.load(path, FIELDS, EXPECTED) is not None


def test_orphaned_temporary_files_of_a_killed_writer_are_removed(tmp_path):
    cache = SphereCache(tmp_path / "cache")
    path = cache.path("demo", FIELDS)
    path.parent.mkdir(parents=True)
    orphan = path.parent / f".{path.name}.abc123.tmp"
    orphan.write_bytes(b"PK\x03\x04 killed mid-write")
    _, created = cache.get_or_create("demo", FIELDS, EXPECTED, make_arrays())
    assert created and not orphan.exists() and cache.load(path, FIELDS, EXPECTED) is not None


_SPEC = SphereSetSpec("segmentation", 8, rotated=True, copies=2, digits_per_sphere=2, canvas_size=72)
_ALTERNATIVES = {
    "task": ("classification", {"digits_per_sphere": 1, "canvas_size": 28}),
    "bandwidth": (9, {}),
    "rotated": (False, {"copies": 1}),
    "copies": (3, {}),
    "seed": (1, {}),
    "stream": ("val", {}),
    "digits_per_sphere": (3, {}),
    "canvas_size": (108, {}),
    "threshold": (151, {}),
    "projection": ("equidistant", {}),
    "image_angular_radius": (60.0, {}),
}


def test_every_spec_field_is_covered():
    assert set(_ALTERNATIVES) == {f.name for f in dataclasses.fields(SphereSetSpec)}


@pytest.mark.parametrize("field", list(_ALTERNATIVES))
def test_key_changes_with_every_parameter(field, digits):
    value, also = _ALTERNATIVES[field]
    changed = dataclasses.replace(_SPEC, **{field: value, **also})
    base = generation_fields(_SPEC, "digits", digits, None)
    assert SphereCache("c").path("p", generation_fields(changed, "digits", digits, None)) != SphereCache("c").path(
        "p", base
    )


def test_key_changes_with_source_inputs_and_version(digits, monkeypatch):
    base = SphereCache("c").path("p", generation_fields(_SPEC, "digits", digits, None))
    variants = [
        generation_fields(_SPEC, "mnist", digits, None),
        generation_fields(_SPEC, "digits", digits.subset(torch.arange(1000)), None),
        generation_fields(_SPEC, "digits", digits, torch.arange(100)),
    ]
    from sphere_study.data import _generate

    monkeypatch.setattr(_generate, "FORMAT_VERSION", _generate.FORMAT_VERSION + 1)
    variants.append(generation_fields(_SPEC, "digits", digits, None))
    paths = {SphereCache("c").path("p", fields) for fields in variants}
    assert base not in paths and len(paths) == len(variants)


_WORKER = textwrap.dedent(
    """
    import hashlib, json, sys, time
    from pathlib import Path
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.005)
    from sphere_study.data import SphericalDataModule
    dm = SphericalDataModule(task="segmentation", digits_per_sphere=2, bandwidth=12, train_size=600, augment=3,
                             cache_dir=sys.argv[1], progress=False)
    dm.setup("fit")
    digest = hashlib.sha256(dm.train_dataset.images.numpy().tobytes() + dm.train_dataset.targets.numpy().tobytes())
    print(json.dumps({"created": dm._cache_log["train"][1], "digest": digest.hexdigest()}))
    """
)


def test_two_processes_generating_the_same_file_both_end_valid(tmp_path):
    cache_dir = tmp_path / "shared-cache"
    go = tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env_python = sys.executable
    workers = [
        subprocess.Popen([env_python, str(script), str(cache_dir), str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(0.5)  # let both import and wait at the start line
    go.touch()
    outputs = [json.loads(worker.communicate(timeout=120)[0].strip().splitlines()[-1]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert outputs[0]["digest"] == outputs[1]["digest"], "both processes hold the same tensors"
    files = sorted(cache_dir.glob("*train*.npz"))
    assert len(files) == 1 and not list(cache_dir.glob("*.tmp"))
    dm = SphericalDataModule(
        task="segmentation",
        digits_per_sphere=2,
        bandwidth=12,
        train_size=600,
        augment=3,
        cache_dir=str(cache_dir),
        progress=False,
    )
    dm.setup("fit")
    assert dm._cache_log["train"][1] is False, "the file they wrote is valid and is loaded, not regenerated"
    digest = hashlib.sha256(dm.train_dataset.images.numpy().tobytes() + dm.train_dataset.targets.numpy().tobytes())
    assert digest.hexdigest() == outputs[0]["digest"]
    if sys.platform != "win32":  # with the lock, one process generates and the other loads its file
        assert sorted(o["created"] for o in outputs) == [False, True]
