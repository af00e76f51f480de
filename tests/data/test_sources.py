"""Digit sources and their seeded, disjoint train/val/test splits."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import torch

from sphere_study.data import (
    CLASS_NAMES,
    IDX_FILES,
    IDX_MIRRORS,
    SOURCES,
    default_data_root,
    load_source,
    split_source,
)


def _index_set(images) -> set[int]:
    return set(images.index.tolist())


def assert_disjoint(splits) -> None:
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    for a in parts:
        for b in parts:
            if a < b and parts[a].origin == parts[b].origin:
                assert not _index_set(parts[a]) & _index_set(parts[b]), f"{a} and {b} share images"


def test_digits_are_mnist_like(digits):
    assert tuple(digits.images.shape) == (1797, 28, 28) and digits.images.dtype == torch.uint8
    assert digits.labels.dtype == torch.int64 and set(digits.labels.tolist()) == set(range(10))
    # The 8x8 digits fill the central 20x20 box, as MNIST digits do: a 4-pixel blank border, full range inside.
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:24, 4:24] = False
    assert int(digits.images[:, border].max()) == 0
    assert int(digits.images.max()) == 255


def test_digits_split_is_fixed_seeded_and_disjoint():
    splits = split_source("digits")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1258, 180, 359)  # 70 / 10 / 20 %
    assert_disjoint(splits)
    union = _index_set(splits.train) | _index_set(splits.val) | _index_set(splits.test)
    assert union == set(range(1797))
    again = split_source("digits")
    assert torch.equal(again.test.index, splits.test.index) and torch.equal(again.train.images, splits.train.images)
    other = split_source("digits", split_seed=1)
    assert not torch.equal(other.test.index, splits.test.index)


def test_split_sizes_can_be_chosen():
    splits = split_source("digits", val_size=100, test_size=500)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1197, 100, 500)


def test_split_test_set_carves_all_three_from_the_official_test_set(mnist_dir):
    splits = split_source("mnist", mnist_dir, split_test_set=True, download=False, progress=False)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7000, 1000, 2000)
    assert {splits.train.origin, splits.val.origin, splits.test.origin} == {"test"}
    assert_disjoint(splits)
    assert splits.class_names == CLASS_NAMES["mnist"]


def test_official_layout_carves_validation_from_train(mnist_dir, tmp_path):
    # A stand-in train split: uncompressed IDX files (structure-checked; the published MD5s are of the .gz files).
    root = tmp_path / "mnist"
    root.mkdir()
    for file in IDX_FILES["mnist"]["test"]:
        shutil.copyfile(mnist_dir / file.name, root / file.name)
    for test_file, train_file in zip(IDX_FILES["mnist"]["test"], IDX_FILES["mnist"]["train"], strict=True):
        raw = gzip.decompress((mnist_dir / test_file.name).read_bytes())
        (root / train_file.uncompressed_name).write_bytes(raw)
    splits = split_source("mnist", root, test_size=3000, download=False, progress=False)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9000, 1000, 3000)
    assert splits.train.origin == splits.val.origin == "train" and splits.test.origin == "test"
    assert_disjoint(splits)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"source": "cifar10"}, ("source", "cifar10")),
        ({"source": "digits", "val_size": -3}, ("val_size", "-3")),
        ({"source": "digits", "test_size": 0}, ("test_size", "0")),
        ({"source": "digits", "val_size": 900, "test_size": 900}, ("val_size=900", "test_size=900")),
        ({"source": "digits", "split_test_set": True}, ("split_test_set",)),
        ({"source": "digits", "split_seed": -1}, ("split_seed", "-1")),
    ],
)
def test_bad_split_parameters_are_named(kwargs, names):
    with pytest.raises(ValueError) as info:
        split_source(**kwargs)
    for name in names:
        assert name in str(info.value)


def test_load_source_rejects_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_source("digits", "train")
    with pytest.raises(ValueError, match="split"):
        load_source("mnist", "all")


def test_every_source_is_registered():
    assert set(SOURCES) == {"mnist", "fashion_mnist", "digits"}
    for source in ("mnist", "fashion_mnist"):
        assert IDX_MIRRORS[source] and all(m.startswith("http") and m.endswith("/") for m in IDX_MIRRORS[source])
        assert len(CLASS_NAMES[source]) == 10


def test_default_root_is_under_the_xdg_cache(isolated_cache):
    assert default_data_root("fashion_mnist") == isolated_cache / "sphere_study" / "datasets" / "fashion_mnist"


def test_subsets_keep_provenance(digits):
    subset = digits.subset(np.array([5, 2, 9]))
    assert subset.index.tolist() == [5, 2, 9]
    assert torch.equal(subset.images[1], digits.images[2]) and subset.labels[2] == digits.labels[9]
    assert subset.fingerprint() != digits.subset(np.array([5, 2, 8])).fingerprint()


@pytest.mark.parametrize("val_size, test_size", [(None, None), (100, None), (None, 300), (50, 60)])
def test_split_sizes_match_the_splits_of_the_digits(val_size, test_size):
    from sphere_study.data import split_sizes

    splits = split_source("digits", val_size=val_size, test_size=test_size)
    assert split_sizes("digits", val_size=val_size, test_size=test_size) == (
        len(splits.train),
        len(splits.val),
        len(splits.test),
    )


@pytest.mark.parametrize("val_size, test_size", [(None, None), (500, 1500)])
def test_split_sizes_match_the_t10k_split_of_real_mnist(mnist_dir, val_size, test_size):
    from sphere_study.data import split_sizes

    splits = split_source(
        "mnist", mnist_dir, val_size=val_size, test_size=test_size, split_test_set=True, download=False, progress=False
    )
    sizes = split_sizes("mnist", val_size=val_size, test_size=test_size, split_test_set=True)
    assert sizes == (len(splits.train), len(splits.val), len(splits.test))


def test_split_sizes_of_the_official_layout_and_their_errors():
    from sphere_study.data import split_sizes

    assert split_sizes("mnist") == (54_000, 6_000, 10_000)
    assert split_sizes("fashion_mnist", val_size=1000, test_size=2000) == (59_000, 1_000, 2_000)
    with pytest.raises(ValueError, match="val_size=60000 leaves none of the 60000 training images"):
        split_sizes("mnist", val_size=60_000)
    with pytest.raises(ValueError, match="test_size=20000 exceeds the 10000 images"):
        split_sizes("mnist", test_size=20_000)
    with pytest.raises(ValueError, match="split_test_set=True applies to mnist and fashion_mnist"):
        split_sizes("digits", split_test_set=True)
