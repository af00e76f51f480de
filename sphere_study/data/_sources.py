r"""Digit sources: MNIST, FashionMNIST (IDX files) and scikit-learn's bundled 8×8 digits, with their splits.

Every source gives uint8 images ``[N, 28, 28]`` (0 = background, 255 = ink) and int64 labels ``[N]`` in 0..9.

* ``mnist`` / ``fashion_mnist``: the published IDX files (60,000 train + 10,000 test images), read from ``root`` or
  downloaded there from the canonical mirrors, MD5-verified (see :mod:`sphere_study.data._idx`).
* ``digits``: the 1,797 8×8 digits of :func:`sklearn.datasets.load_digits` (values 0..16, no download), scaled to
  0..255 and bilinearly upsampled to 20×20, then zero-padded to 28×28 — the layout of MNIST, whose digits fill the
  central 20×20 box. This is the embedded default that makes every command work offline.

Splits (:func:`split_source`), all seeded by ``split_seed`` and independent of the training seed, so that runs with
different seeds are evaluated on the same images:

* **official** (``mnist``/``fashion_mnist`` with both file pairs): train = the 60,000 train images minus a validation
  set of ``val_size`` (default 10 %) carved from them; test = the 10,000 test images, or a seeded subset of
  ``test_size`` of them.
* **single pool** (``digits``, or ``split_test_set=True`` for ``mnist``/``fashion_mnist``, which then read only the
  two ``t10k`` files): one pool partitioned into test (``test_size``, default 20 %), validation (``val_size``, default
  10 %) and train (the rest).

Each part keeps its images in source order; :attr:`DigitImages.index` records where each image came from.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from .._io import cache_root
from ._idx import CorruptDataFileError, IdxFile, MissingDataFileError, fetch_idx_file, read_idx
from ._validation import check_choice, check_int, check_optional_int

__all__ = [
    "SourceName",
    "SOURCES",
    "DIGIT_SIZE",
    "NUM_DIGIT_CLASSES",
    "CLASS_NAMES",
    "IDX_MIRRORS",
    "IDX_FILES",
    "DigitImages",
    "DigitSplits",
    "default_data_root",
    "load_source",
    "split_source",
    "PUBLISHED_SIZES",
    "split_sizes",
]

SourceName = Literal["mnist", "fashion_mnist", "digits"]
SOURCES: tuple[str, ...] = get_args(SourceName)

#: Side of every source image in pixels.
DIGIT_SIZE = 28
#: Number of classes of every source.
NUM_DIGIT_CLASSES = 10

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "digits": tuple(str(d) for d in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

#: Canonical download mirrors, tried in turn.
IDX_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

#: The published files and MD5s, per source and split: (images, labels).
IDX_FILES: dict[str, dict[str, tuple[IdxFile, IdxFile]]] = {
    "mnist": {
        "train": (
            IdxFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            IdxFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ),
        "test": (
            IdxFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            IdxFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    },
    "fashion_mnist": {
        "train": (
            IdxFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            IdxFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ),
        "test": (
            IdxFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            IdxFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    },
}

#: Images per published split of each source (the IDX files hold these counts; ``digits`` is one pool, "all").
PUBLISHED_SIZES: dict[str, dict[str, int]] = {
    "mnist": {"train": 60_000, "test": 10_000},
    "fashion_mnist": {"train": 60_000, "test": 10_000},
    "digits": {"all": 1_797},
}

_DEFAULT_VAL_FRACTION = 0.1
_DEFAULT_TEST_FRACTION = 0.2
# The digits' 8×8 frame becomes the central 20×20 box of a 28×28 image, as in MNIST.
_DIGITS_BOX = 20


def default_data_root(source: str) -> Path:
    """Where a source's IDX files are looked for and downloaded to when no ``root`` is given."""
    return cache_root() / "datasets" / check_choice(source, "source", SOURCES)


@dataclass(frozen=True, eq=False)
class DigitImages:
    r"""Labelled planar digits from one published split.

    Attributes
    ----------
    images : torch.Tensor
        uint8 ``(N, 28, 28)``, 0 = background.
    labels : torch.Tensor
        int64 ``(N,)`` in 0..9.
    origin : str
        The published split the images come from: ``"train"`` or ``"test"`` (IDX files) or ``"all"`` (digits).
    index : torch.Tensor
        int64 ``(N,)``: position of each image in ``origin``. Two sets with the same origin are disjoint iff their
        ``index`` sets are.
    """

    images: torch.Tensor
    labels: torch.Tensor
    origin: str
    index: torch.Tensor

    def __post_init__(self) -> None:
        n = self.images.shape[0] if self.images.dim() == 3 else -1
        if self.images.dtype != torch.uint8 or tuple(self.images.shape[1:]) != (DIGIT_SIZE, DIGIT_SIZE):
            raise ValueError(f"images must be uint8 [N, 28, 28], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (n,):
            raise ValueError(f"labels must be int64 [{n}], got {self.labels.dtype} {tuple(self.labels.shape)}")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= NUM_DIGIT_CLASSES):
            raise ValueError(f"labels must lie in 0..{NUM_DIGIT_CLASSES - 1}")
        if tuple(self.index.shape) != (n,):
            raise ValueError(f"index must have shape [{n}], got {tuple(self.index.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, positions) -> DigitImages:
        """The images at ``positions`` (an int tensor/array of positions in this set), in that order."""
        positions = torch.as_tensor(positions, dtype=torch.int64)
        return DigitImages(self.images[positions], self.labels[positions], self.origin, self.index[positions])

    def class_counts(self) -> torch.Tensor:
        """Number of images per class, int64 ``(10,)``."""
        return torch.bincount(self.labels, minlength=NUM_DIGIT_CLASSES)

    def fingerprint(self) -> str:
        """Hex digest of the images, labels and provenance: equal fingerprints mean equal inputs to generation."""
        digest = hashlib.blake2b(digest_size=16)
        for tensor in (self.images, self.labels, self.index):
            digest.update(tensor.contiguous().numpy().tobytes())
        digest.update(self.origin.encode())
        return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class DigitSplits:
    """Disjoint train/val/test digit sets of one source, and how they were made (``layout``, human-readable)."""

    source: str
    train: DigitImages
    val: DigitImages
    test: DigitImages
    class_names: tuple[str, ...]
    layout: str
    root: Path | None


def _read_idx_pair(
    source: str,
    root: Path,
    split: str,
    download: bool,
    timeout: float,
    progress: bool,
    mirrors: Sequence[str] | None,
) -> DigitImages:
    mirrors = IDX_MIRRORS[source] if mirrors is None else tuple(mirrors)
    image_file, label_file = IDX_FILES[source][split]
    kwargs = dict(mirrors=mirrors, download=download, timeout=timeout, progress=progress)
    image_path = fetch_idx_file(root, image_file, what=f"{source} {split} images", **kwargs)
    label_path = fetch_idx_file(root, label_file, what=f"{source} {split} labels", **kwargs)
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE):
        raise CorruptDataFileError(f"{image_path} holds an array of shape {images.shape}, expected [N, 28, 28]")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise CorruptDataFileError(
            f"{label_path} holds {labels.shape} labels for the {images.shape[0]} images of {image_path}"
        )
    if labels.size and labels.max() >= NUM_DIGIT_CLASSES:
        raise CorruptDataFileError(f"{label_path} has label {labels.max()}, expected 0..9")
    n = images.shape[0]
    return DigitImages(
        torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), split, torch.arange(n, dtype=torch.int64)
    )


def _load_sklearn_digits() -> DigitImages:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = torch.as_tensor(bunch.images, dtype=torch.float32) * (255.0 / 16.0)  # [1797, 8, 8], 0..255
    box = F.interpolate(small[:, None], size=(_DIGITS_BOX, _DIGITS_BOX), mode="bilinear", align_corners=False)[:, 0]
    pad = (DIGIT_SIZE - _DIGITS_BOX) // 2
    images = F.pad(box, (pad, pad, pad, pad)).round_().clamp_(0, 255).to(torch.uint8)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return DigitImages(images, labels, "all", torch.arange(len(labels), dtype=torch.int64))


def load_source(
    source: SourceName,
    split: Literal["train", "test", "all"] = "train",
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    timeout: float = 5.0,
    progress: bool = True,
    mirrors: Sequence[str] | None = None,
) -> DigitImages:
    r"""One published split of a source as :class:`DigitImages`.

    Parameters
    ----------
    source : {"mnist", "fashion_mnist", "digits"}
    split : {"train", "test", "all"}
        ``"train"``/``"test"`` for the IDX sources; ``"all"`` (the only one) for ``digits``.
    root : path, optional
        Folder of the IDX files; default :func:`default_data_root`. Missing files are downloaded into it.
    download : bool
        Whether missing files may be downloaded.
    timeout : float
        Seconds allowed per mirror for name resolution, connection and each read.
    mirrors : sequence of str, optional
        Base URLs to download from instead of :data:`IDX_MIRRORS` (e.g. a local mirror).

    Raises
    ------
    MissingDataFileError, CorruptDataFileError
        See :func:`~sphere_study.data.fetch_idx_file` and :func:`~sphere_study.data.read_idx`.
    """
    check_choice(source, "source", SOURCES)
    if source == "digits":
        check_choice(split, "split", ("all",))
        return _load_sklearn_digits()
    check_choice(split, "split", ("train", "test"))
    root = default_data_root(source) if root is None else Path(root).expanduser()
    return _read_idx_pair(source, root, split, download, timeout, progress, mirrors)


def _default_size(size: int | None, fraction: float, n: int) -> int:
    return int(round(fraction * n)) if size is None else size


def _permutation(n: int, split_seed: int, stream: int) -> np.ndarray:
    return np.random.default_rng([split_seed, stream]).permutation(n)


def _pool_sizes(n: int, val_size: int | None, test_size: int | None) -> tuple[int, int, int]:
    """(train, val, test) counts of a single pool of ``n`` images (test, then validation, carved off; the rest)."""
    n_test = _default_size(test_size, _DEFAULT_TEST_FRACTION, n)
    n_val = _default_size(val_size, _DEFAULT_VAL_FRACTION, n)
    if n_test + n_val >= n:
        raise ValueError(
            f"val_size={n_val} and test_size={n_test} leave no training images out of the {n} available; "
            "make them smaller"
        )
    return n - n_test - n_val, n_val, n_test


def _official_sizes(n_train_pool: int, n_test_pool: int, val_size: int | None, test_size: int | None):
    """(train, val, test) counts of the official layout: validation carved from the train files."""
    n_val = _default_size(val_size, _DEFAULT_VAL_FRACTION, n_train_pool)
    if n_val >= n_train_pool:
        raise ValueError(f"val_size={n_val} leaves none of the {n_train_pool} training images for training")
    if test_size is not None and test_size > n_test_pool:
        raise ValueError(f"test_size={test_size} exceeds the {n_test_pool} images available for it")
    return n_train_pool - n_val, n_val, n_test_pool if test_size is None else test_size


def split_sizes(
    source: SourceName = "digits",
    *,
    val_size: int | None = None,
    test_size: int | None = None,
    split_test_set: bool = False,
) -> tuple[int, int, int]:
    r"""The (train, val, test) image counts :func:`split_source` gives, from the published sizes, reading no file.

    For what a run will cost before its data exist (:mod:`sphere_study.cost`). The counts assume complete published
    files (:data:`PUBLISHED_SIZES`); the same ``ValueError`` as :func:`split_source` for sizes that do not fit.

    Examples
    --------
    >>> split_sizes("mnist"), split_sizes("mnist", split_test_set=True), split_sizes("digits")
    ((54000, 6000, 10000), (7000, 1000, 2000), (1258, 180, 359))
    """
    check_choice(source, "source", SOURCES)
    check_optional_int(val_size, "val_size", 1)
    check_optional_int(test_size, "test_size", 1)
    sizes = PUBLISHED_SIZES[source]
    if source == "digits":
        if split_test_set:
            raise ValueError("split_test_set=True applies to mnist and fashion_mnist; digits is one pool already")
        return _pool_sizes(sizes["all"], val_size, test_size)
    if split_test_set:
        return _pool_sizes(sizes["test"], val_size, test_size)
    return _official_sizes(sizes["train"], sizes["test"], val_size, test_size)


def _partition(
    pool: DigitImages, val_size: int | None, test_size: int | None, split_seed: int
) -> tuple[DigitImages, DigitImages, DigitImages]:
    n = len(pool)
    _, n_val, n_test = _pool_sizes(n, val_size, test_size)
    perm = _permutation(n, split_seed, 0)
    test, val, train = np.split(perm, [n_test, n_test + n_val])
    return tuple(pool.subset(np.sort(part)) for part in (train, val, test))


def _carve(pool: DigitImages, size: int, split_seed: int, stream: int, name: str) -> tuple[DigitImages, DigitImages]:
    """Split ``pool`` into (rest, carved) with ``size`` seeded images carved out."""
    if size > len(pool):
        raise ValueError(f"{name}={size} exceeds the {len(pool)} images available for it")
    perm = _permutation(len(pool), split_seed, stream)
    carved, rest = np.split(perm, [size])
    return pool.subset(np.sort(rest)), pool.subset(np.sort(carved))


def split_source(
    source: SourceName = "digits",
    root: str | os.PathLike | None = None,
    *,
    val_size: int | None = None,
    test_size: int | None = None,
    split_seed: int = 0,
    split_test_set: bool = False,
    download: bool = True,
    timeout: float = 5.0,
    progress: bool = True,
    mirrors: Sequence[str] | None = None,
) -> DigitSplits:
    r"""Disjoint, seeded train/val/test sets of a source (see the module docstring for the layouts).

    Parameters
    ----------
    val_size, test_size : int, optional
        Number of validation / test images (defaults: 10 % of the training images for validation; the whole official
        test set, or 20 % of a single pool, for testing).
    split_seed : int
        Seed of the partition (and of nothing else).
    split_test_set : bool
        For ``mnist``/``fashion_mnist``: build all three sets from the 10,000 official test images only, so that only
        the two ``t10k`` files are needed (never the ``train`` files).
    root, download, timeout, progress, mirrors
        As in :func:`load_source`.

    Examples
    --------
    >>> s = split_source("digits")
    >>> len(s.train), len(s.val), len(s.test)
    (1258, 180, 359)
    """
    check_choice(source, "source", SOURCES)
    check_optional_int(val_size, "val_size", 1)
    check_optional_int(test_size, "test_size", 1)
    check_int(split_seed, "split_seed", 0)
    kwargs = dict(download=download, timeout=timeout, progress=progress, mirrors=mirrors)
    if source == "digits":
        if split_test_set:
            raise ValueError("split_test_set=True applies to mnist and fashion_mnist; digits is one pool already")
        train, val, test = _partition(load_source("digits", "all"), val_size, test_size, split_seed)
        layout = "scikit-learn digits (1,797 images) partitioned into train/val/test"
        return DigitSplits(source, train, val, test, CLASS_NAMES[source], layout, None)

    root = default_data_root(source) if root is None else Path(root).expanduser()
    test_pool = load_source(source, "test", root, **kwargs)
    if split_test_set:
        train, val, test = _partition(test_pool, val_size, test_size, split_seed)
        layout = f"official {source} test set ({len(test_pool):,} images) partitioned into train/val/test"
        return DigitSplits(source, train, val, test, CLASS_NAMES[source], layout, root)

    try:
        train_pool = load_source(source, "train", root, **kwargs)
    except MissingDataFileError as exc:
        raise MissingDataFileError(
            f"{exc}. Only the test files are needed with split_test_set=True, which partitions the official test "
            "set into train/val/test"
        ) from None
    _, n_val, _ = _official_sizes(len(train_pool), len(test_pool), val_size, test_size)
    train, val = _carve(train_pool, n_val, split_seed, 1, "val_size")
    test = test_pool if test_size is None else _carve(test_pool, test_size, split_seed, 2, "test_size")[1]
    layout = f"official {source} train set minus a validation set carved from it; official test set"
    return DigitSplits(source, train, val, test, CLASS_NAMES[source], layout, root)
