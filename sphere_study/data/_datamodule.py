r"""The LightningDataModule of spherical MNIST / FashionMNIST / digits, for classification and segmentation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .._io import cache_root
from ._cache import SphereCache
from ._canvas import check_fits, default_canvas_size
from ._datasets import EpochShuffleSampler, InputScaling, OnlineSphericalDataset, SphericalDataset
from ._generate import (
    DEFAULT_THRESHOLD,
    TASKS,
    SphereSet,
    SphereSetSpec,
    TaskName,
    derive_generator,
    load_or_render,
    plan_sphere_set,
)
from ._projection import COHEN_IMAGE_ANGULAR_RADIUS, PROJECTIONS, ProjectionName
from ._sources import (
    CLASS_NAMES,
    DIGIT_SIZE,
    NUM_DIGIT_CLASSES,
    SOURCES,
    DigitImages,
    DigitSplits,
    SourceName,
    split_source,
)
from ._validation import check_bandwidth, check_choice, check_int, check_optional_int

__all__ = ["SphericalDataModule", "drops_last_batch", "num_batches"]

_STAGES = (None, "fit", "validate", "test", "predict")
# describe() estimates the pixel class balance of segmentation sets on this many samples.
_PIXEL_BALANCE_SAMPLES = 1000
#: How network inputs are made from the stored 0..255 intensities (see ``input_scaling`` below).
INPUT_SCALINGS = ("unit", "byte", "standardize")
InputScalingName = Literal["unit", "byte", "standardize"]
# Online training sets have no stored images: standardisation statistics come from this many rendered samples.
_ONLINE_STATISTICS_SAMPLES = 1024


def drops_last_batch(num_samples: int, batch_size: int, train: bool) -> bool:
    r"""Whether a loader of the module leaves out its last batch: in training, when it would hold a single sample.

    BatchNorm cannot normalise one sample ("expected more than 1 value per channel"), so a training epoch of
    :math:`n \equiv 1 \pmod B` samples (with :math:`n > 1`) leaves one out (another one each epoch, as the order is
    shuffled); every other loader keeps every sample.
    """
    return train and num_samples > 1 and num_samples % batch_size == 1


def num_batches(num_samples: int, batch_size: int, train: bool) -> int:
    r"""Batches per epoch of a loader of the module over ``num_samples`` samples (see :func:`drops_last_batch`).

    .. math:: n_\text{batches} = \lfloor n / B \rfloor \text{ if the last batch is dropped, else } \lceil n / B \rceil

    Examples
    --------
    >>> num_batches(64, 32, train=True), num_batches(65, 32, train=True), num_batches(65, 32, train=False)
    (2, 2, 3)
    """
    if drops_last_batch(num_samples, batch_size, train):
        return num_samples // batch_size
    return -(-num_samples // batch_size)


class SphericalDataModule(L.LightningDataModule):
    r"""Spherical digits with independent Haar-random rotations, for classification or segmentation.

    Every sample is a 28×28 digit (classification) or a canvas of ``digits_per_sphere`` digits (segmentation),
    projected onto S² (:class:`~sphere_study.data.ImageToSphere`) under a rotation :math:`R` drawn independently and
    uniformly (Haar) from SO(3) for that sample, and sampled on the SOFT grid of ``bandwidth`` b:
    :math:`x_{jk} = f(R^{-1} x_{jk})` at :math:`\beta_j = \pi(2j+1)/4b`, :math:`\alpha_k = 2\pi k / 2b`.

    Batches: classification ``(x, y)`` with ``x`` float32 ``[B, 1, 2b, 2b]`` in [0, 1] and ``y`` int64 ``[B]``;
    segmentation ``(x, mask)`` with ``mask`` int64 ``[B, 2b, 2b]``, 0 = background, 1..10 = class + 1.

    **What "augmentation" means.** ``train_size`` N is the number of *distinct* training images (a seeded subset;
    for segmentation, N canvases, each led by one of them). ``augment`` A makes each of them appear as A
    independently rotated copies: N·A training samples, every one with its own rotation (A = 1 with ``rotate_train``
    is "rotated, no augmentation"). ``augment="online"`` instead draws a fresh rotation every time a sample is
    loaded: an epoch has N samples, and E epochs show E·N different rotations. Augmentation requires
    ``rotate_train=True``. A training subset and its rotations are nested across N and A: a given (image, copy)
    keeps its rotation (for segmentation, the partner digits on a canvas may change with N).

    **Rotation settings** (Cohen et al.'s NR/NR, R/R, NR/R): ``rotate_train``, ``rotate_test`` (``"both"`` gives two
    test loaders over the same images, ``[unrotated, rotated]``, named by :attr:`test_split_names`), and
    ``rotate_val`` for the single validation loader, which by default is rotated like the test set (rotated when
    ``rotate_test="both"``, since the deployment distribution is the rotated one).

    **Seeds.** ``seed`` fixes the training subset, its rotations, its canvases, the shuffling and the online
    rotations. ``split_seed`` fixes the train/val/test partition and everything about the validation and test
    samples (their canvases and rotations), so runs with different seeds are scored on identical data. The same
    configuration gives byte-identical tensors.

    Parameters
    ----------
    task : {"classification", "segmentation"}
    source : {"mnist", "fashion_mnist", "digits"}
        ``digits`` (scikit-learn's 1,797 bundled digits) works offline anywhere and is the default.
    root : str, optional
        Folder of the IDX files of ``mnist``/``fashion_mnist`` (gzipped or not); default
        ``$XDG_CACHE_HOME/sphere_study/datasets/<source>``. Missing files are downloaded into it (MD5-verified).
    bandwidth : int
        b ≥ 4: samples are ``2b × 2b``. Cohen et al. use 30 (classification), Gerken et al. 50 (segmentation).
    train_size : int, optional
        N, distinct training images (default: all of the training split).
    augment : int or "online"
        A ≥ 1 rotated copies per training image, or ``"online"``.
    rotate_train : bool
    rotate_val : bool, optional
        Default None: like ``rotate_test`` (rotated for ``"both"``).
    rotate_test : bool or "both"
    val_size, test_size : int, optional
        Validation images (default 10 % of the training split) and a cap on the test images (default: all the
        official test set, or 20 % of a single pool). See :func:`~sphere_study.data.split_source`.
    split_test_set : bool
        ``mnist``/``fashion_mnist`` only: carve train/val/test out of the 10,000 official test images
        (``t10k-*`` files), for machines that only have those; the train files are then never read or downloaded.
    digits_per_sphere : int
        k ≥ 1 digits per segmentation canvas (1 for classification).
    canvas_size : int, optional
        Side of the segmentation canvas in pixels; default :func:`~sphere_study.data.default_canvas_size` (36·⌈√k⌉).
        Must hold k non-overlapping 28×28 digits: k ≤ ⌊canvas_size/28⌋².
    threshold : int
        Intensity (of 255) from which a projected pixel is labelled with its digit's class; default 150.
    projection : {"stereographic", "gnomonic", "equidistant"}
        Azimuthal projection from the plane tangent at the north pole (stereographic, as Cohen et al. and Gerken et
        al.); see :mod:`sphere_study.data._projection` for the formulas.
    image_angular_radius : float
        Angular size of the image on the sphere: the polar angle (degrees) at which the middle of each canvas edge
        lands. The default 73.74° = 2·arctan(3/4) is Cohen et al.'s spherical MNIST. A larger canvas (more digits)
        is scaled to the same cap, so its digits are smaller.
    seed, split_seed : int
        See **Seeds** above.
    batch_size, num_workers : int
        In training, a last batch that would hold a single sample is dropped (BatchNorm cannot normalise one sample).
    cache_dir : str, optional
        Folder of generated sets; default ``$XDG_CACHE_HOME/sphere_study/spheres``.
    download : bool
        Whether missing IDX files may be downloaded.
    download_timeout : float
        Seconds per mirror for name resolution, connection and each read; a whole file from one mirror must arrive
        within 12 times that (so a mirror that trickles bytes is given up). Without network the error comes at once
        (failed resolution or refused connection) or, where packets are silently dropped, after at most
        ``download_timeout`` per mirror.
    progress : bool
        Progress bars while downloading and generating.
    input_scaling : {"unit", "byte", "standardize"}
        Network inputs from the stored intensities u in 0..255: ``"unit"`` u/255 in [0, 1] (the default);
        ``"byte"`` u itself, 0..255, what Cohen et al.'s training script fed their S2CNN; ``"standardize"``
        (u/255 − μ)/σ with the pixel mean and standard deviation of the training set (of its first 1,024 samples
        for online augmentation), computed from the training data in every stage, so testing a checkpoint
        standardises exactly as training did.

    Examples
    --------
    >>> import tempfile
    >>> dm = SphericalDataModule(bandwidth=8, train_size=64, cache_dir=tempfile.mkdtemp(), progress=False)
    >>> dm.setup("fit")
    >>> x, y = next(iter(dm.train_dataloader()))
    >>> x.shape, x.dtype, y.shape, y.dtype
    (torch.Size([32, 1, 16, 16]), torch.float32, torch.Size([32]), torch.int64)
    """

    def __init__(
        self,
        task: TaskName = "classification",
        source: SourceName = "digits",
        root: str | None = None,
        bandwidth: int = 30,
        train_size: int | None = None,
        augment: int | Literal["online"] = 1,
        rotate_train: bool = True,
        rotate_val: bool | None = None,
        rotate_test: bool | Literal["both"] = True,
        val_size: int | None = None,
        test_size: int | None = None,
        split_test_set: bool = False,
        digits_per_sphere: int = 1,
        canvas_size: int | None = None,
        threshold: int = DEFAULT_THRESHOLD,
        projection: ProjectionName = "stereographic",
        image_angular_radius: float = COHEN_IMAGE_ANGULAR_RADIUS,
        seed: int = 0,
        split_seed: int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        cache_dir: str | None = None,
        download: bool = True,
        download_timeout: float = 5.0,
        progress: bool = True,
        input_scaling: InputScalingName = "unit",
    ) -> None:
        super().__init__()
        self.task = check_choice(task, "task", TASKS)
        self.source = check_choice(source, "source", SOURCES)
        self.bandwidth = check_bandwidth(bandwidth)
        self.train_size = check_optional_int(train_size, "train_size", 1)
        if augment != "online":
            check_int(augment, "augment", 1)
        self.augment = augment
        for name, value in (("rotate_train", rotate_train), ("split_test_set", split_test_set)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        if rotate_test not in (True, False, "both"):
            raise ValueError(f"rotate_test must be True, False or 'both', got {rotate_test!r}")
        if rotate_val not in (None, True, False):
            raise ValueError(f"rotate_val must be True, False or None (like rotate_test), got {rotate_val!r}")
        if not rotate_train and augment != 1:
            raise ValueError(
                f"augment={augment!r} draws rotated copies of the training images, but rotate_train=False; "
                "set rotate_train=True or augment=1"
            )
        self.rotate_train = rotate_train
        self.rotate_test = rotate_test
        self.rotate_val = (rotate_test is not False) if rotate_val is None else rotate_val
        self.val_size = check_optional_int(val_size, "val_size", 1)
        self.test_size = check_optional_int(test_size, "test_size", 1)
        if split_test_set and source == "digits":
            raise ValueError("split_test_set=True applies to mnist and fashion_mnist; digits is one pool already")
        self.split_test_set = split_test_set
        self.digits_per_sphere = check_int(digits_per_sphere, "digits_per_sphere", 1)
        if self.task == "classification":
            if self.digits_per_sphere != 1:
                raise ValueError(
                    f"classification shows one digit per sphere, got digits_per_sphere={digits_per_sphere}"
                )
            if canvas_size not in (None, DIGIT_SIZE):
                raise ValueError(f"classification projects the 28x28 digit itself; got canvas_size={canvas_size}")
            self.canvas_size = DIGIT_SIZE
        else:
            default = default_canvas_size(self.digits_per_sphere)
            self.canvas_size = default if canvas_size is None else check_int(canvas_size, "canvas_size", DIGIT_SIZE)
            check_fits(self.digits_per_sphere, self.canvas_size)
        self.threshold = check_int(threshold, "threshold", 1, 255)
        self.projection = check_choice(projection, "projection", PROJECTIONS)
        self.image_angular_radius = image_angular_radius
        self.seed = check_int(seed, "seed", 0)
        self.split_seed = check_int(split_seed, "split_seed", 0)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.num_workers = check_int(num_workers, "num_workers", 0)
        if (
            not isinstance(download_timeout, (int, float))
            or isinstance(download_timeout, bool)
            or download_timeout <= 0
        ):
            raise ValueError(f"download_timeout must be a positive number of seconds, got {download_timeout!r}")
        self.root = root
        self.download = download
        self.download_timeout = float(download_timeout)
        self.progress = progress
        self.input_scaling = check_choice(input_scaling, "input_scaling", INPUT_SCALINGS)
        # One instance shared by every dataset of this module; "standardize" fills it in setup().
        self.scaling = InputScaling(0.0, 1.0 / 255.0) if input_scaling == "byte" else InputScaling()
        self._scaling_ready = input_scaling != "standardize"
        self.cache = SphereCache(Path(cache_dir) if cache_dir is not None else cache_root() / "spheres")
        # Checks the projection parameters now rather than at the first setup().
        self._spec("val", self.rotate_val).projector()

        self.num_classes = NUM_DIGIT_CLASSES + (1 if self.task == "segmentation" else 0)
        self.in_channels = 1
        self.val_split_name = "rotated" if self.rotate_val else "unrotated"
        if rotate_test == "both":
            self.test_split_names = ["unrotated", "rotated"]
        else:
            self.test_split_names = ["rotated" if rotate_test else "unrotated"]
        self.save_hyperparameters()

        self.train_dataset: Dataset | None = None
        self.val_dataset: SphericalDataset | None = None
        self.test_datasets: dict[str, SphericalDataset] = {}
        self._splits: DigitSplits | None = None
        self._cache_log: dict[str, tuple[Path, bool]] = {}

    # ----------------------------------------------------------------------------------------------------------------
    # What gets built

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the target classes: the source's classes, preceded by ``"background"`` for segmentation."""
        names = CLASS_NAMES[self.source]
        return ("background", *names) if self.task == "segmentation" else names

    @property
    def online(self) -> bool:
        return self.augment == "online"

    def _spec(self, split: str, rotated: bool) -> SphereSetSpec:
        copies = self.augment if (split == "train" and not self.online) else 1
        return SphereSetSpec(
            task=self.task,
            bandwidth=self.bandwidth,
            rotated=rotated and not (split == "train" and self.online),
            copies=copies,
            seed=self.seed if split == "train" else self.split_seed,
            stream=split,
            digits_per_sphere=self.digits_per_sphere,
            canvas_size=self.canvas_size,
            threshold=self.threshold,
            projection=self.projection,
            image_angular_radius=float(self.image_angular_radius),
        )

    def _load_splits(self) -> DigitSplits:
        if self._splits is None:
            self._splits = split_source(
                self.source,
                self.root,
                val_size=self.val_size,
                test_size=self.test_size,
                split_seed=self.split_seed,
                split_test_set=self.split_test_set,
                download=self.download,
                timeout=self.download_timeout,
                progress=self.progress,
            )
        return self._splits

    def _train_positions(self, pool: DigitImages) -> torch.Tensor:
        n = len(pool) if self.train_size is None else self.train_size
        if n > len(pool):
            raise ValueError(
                f"train_size={n} exceeds the {len(pool):,} training images available "
                f"({self._load_splits().layout}); lower train_size, or use augment for more samples"
            )
        permutation = torch.randperm(len(pool), generator=derive_generator(self.seed, "train", "subset"))
        return permutation[:n]

    def _check_enough(self, split: str, n: int) -> None:
        if n < self.digits_per_sphere:
            size = "train_size" if split == "train" else f"{split}_size"
            raise ValueError(
                f"digits_per_sphere={self.digits_per_sphere} needs {size} >= {self.digits_per_sphere}, got {n}"
            )

    def _materialize(self, key: str, split: str, rotated: bool) -> SphereSet:
        """Load the set from the cache, or generate and cache it."""
        splits = self._load_splits()
        pool = getattr(splits, split)
        positions = self._train_positions(pool) if split == "train" else torch.arange(len(pool))
        self._check_enough(split, len(positions))
        description = f"{self.source} {key} (b={self.bandwidth})"
        sphere_set, path, created = load_or_render(
            self.cache, self._spec(split, rotated), self.source, pool, positions, self.progress, description
        )
        self._cache_log[key] = (path, created)
        return sphere_set

    def _wanted(self, stage: str | None) -> list[tuple[str, str, bool]]:
        """(key, split, rotated) of the cached sets a stage needs."""
        wanted = []
        if stage in (None, "fit") and not self.online:
            wanted.append(("train", "train", self.rotate_train))
        if stage in (None, "fit", "validate"):
            wanted.append(("val", "val", self.rotate_val))
        if stage in (None, "test", "predict"):
            wanted += [(f"test/{name}", "test", name == "rotated") for name in self.test_split_names]
        return wanted

    # ----------------------------------------------------------------------------------------------------------------
    # Lightning hooks

    def prepare_data(self) -> None:
        """Download the source files if needed and generate every cached set (train, val, test)."""
        for key, split, rotated in self._wanted(None):
            self._materialize(key, split, rotated)  # written to the cache; loaded again in setup()

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets a stage needs (from the cache; generating what is missing)."""
        if stage not in _STAGES:
            raise ValueError(f"stage must be one of {_STAGES}, got {stage!r}")
        if (stage in (None, "fit") or not self._scaling_ready) and self.train_dataset is None:
            self.train_dataset = self._build_train_dataset()
        if not self._scaling_ready:
            self._standardize_from(self.train_dataset)
        if stage in (None, "fit", "validate") and self.val_dataset is None:
            self.val_dataset = SphericalDataset(self._materialize("val", "val", self.rotate_val), "val", self.scaling)
        if stage in (None, "test", "predict"):
            for name in self.test_split_names:
                if name not in self.test_datasets:
                    sphere_set = self._materialize(f"test/{name}", "test", name == "rotated")
                    self.test_datasets[name] = SphericalDataset(sphere_set, f"test/{name}", self.scaling)

    def _build_train_dataset(self) -> Dataset:
        if self.online:
            splits = self._load_splits()
            positions = self._train_positions(splits.train)
            self._check_enough("train", len(positions))
            plan = plan_sphere_set(self._spec("train", False), splits.train, positions)
            return OnlineSphericalDataset(plan, splits.train, self.seed, scaling=self.scaling)
        sphere_set = self._materialize("train", "train", self.rotate_train)
        return SphericalDataset(sphere_set, "train", self.scaling)

    def _standardize_from(self, train: Dataset) -> None:
        """Set the shared scaling to the training pixels' mean and std (deterministic for a configuration)."""
        if isinstance(train, OnlineSphericalDataset):
            idx = torch.arange(min(len(train), _ONLINE_STATISTICS_SAMPLES))
            images, _ = train.render(idx, derive_generator(self.seed, "input_statistics"))
        else:
            images = train.images
        u = images.to(torch.float64).div_(255.0)
        mean, std = u.mean().item(), u.std().item()
        if not std > 0:
            raise ValueError("input_scaling='standardize': the training images are constant (pixel std 0)")
        self.scaling.mean, self.scaling.std = mean, std
        self._scaling_ready = True

    def loader(self, dataset: Dataset, train: bool) -> DataLoader:
        """The DataLoader this module uses for its own sets (its batch size, order, workers and last-batch rule),
        over any dataset of its sample format: how :mod:`sphere_study.cost` times batches on synthetic data."""
        return self._loader(dataset, shuffle=train)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        # The order depends only on (seed, epoch) (EpochShuffleSampler), so a resumed run sees what an uninterrupted
        # one sees. Online rotations follow the epoch too, which workers only learn when they start: they are not
        # kept alive between epochs then.
        online = isinstance(dataset, OnlineSphericalDataset)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            drop_last=drops_last_batch(len(dataset), self.batch_size, train=shuffle),  # BatchNorm needs 2 samples
            sampler=EpochShuffleSampler(dataset, self.seed) if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and not online,
            generator=derive_generator(self.seed, "loader"),
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        return self._loader(self.train_dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        if self.val_dataset is None:
            self.setup("validate")
        return self._loader(self.val_dataset, shuffle=False)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        """One loader, or ``[unrotated, rotated]`` for ``rotate_test="both"`` (see :attr:`test_split_names`)."""
        if any(name not in self.test_datasets for name in self.test_split_names):
            self.setup("test")
        loaders = [self._loader(self.test_datasets[name], shuffle=False) for name in self.test_split_names]
        return loaders if len(loaders) > 1 else loaders[0]

    def predict_dataloader(self) -> DataLoader | list[DataLoader]:
        return self.test_dataloader()

    # ----------------------------------------------------------------------------------------------------------------
    # Reporting

    def _balance(self, labels: torch.Tensor) -> str:
        counts = torch.bincount(labels.reshape(-1), minlength=self.num_classes).double()
        share = 100 * counts / counts.sum().clamp_min(1)
        return " ".join(f"{name}:{p:.1f}%" for name, p in zip(self.class_names, share.tolist(), strict=True))

    def describe(self, file=None) -> str:
        """Print (to ``file``, default stdout; ``file=False`` to only return it) and return what was built."""
        lines = [
            f"SphericalDataModule: {self.task} on {self.source}, bandwidth {self.bandwidth} "
            f"(SOFT grid {2 * self.bandwidth}x{2 * self.bandwidth}), {self.projection} projection, image angular "
            f"radius {float(self.image_angular_radius):.2f} deg",
        ]
        if self.task == "segmentation":
            lines.append(
                f"  {self.digits_per_sphere} digit(s) per sphere on a {self.canvas_size}x{self.canvas_size} canvas; "
                f"mask = class+1 where intensity >= {self.threshold}/255, else 0 (background)"
            )
        if self._splits is not None:
            lines.append(f"  split: {self._splits.layout} (split_seed {self.split_seed})")
        augment = "online (fresh rotation at every load)" if self.online else f"{self.augment}"
        rotated = "rotated (Haar, independent per sample)" if self.rotate_train else "unrotated"
        lines.append(f"  training samples: augment {augment}, {rotated}, seed {self.seed}")
        lines.append(f"  inputs: {self.input_scaling} {self.scaling}")
        built = [("train", self.train_dataset), ("val", self.val_dataset)]
        built += [(f"test/{name}", self.test_datasets.get(name)) for name in self.test_split_names]
        if all(dataset is None for _, dataset in built):
            lines.append("  nothing built yet: call prepare_data() / setup()")
        for key, dataset in built:
            if dataset is None:
                continue
            distinct = len(dataset.plan.layout)
            if isinstance(dataset, OnlineSphericalDataset):
                size = f"{distinct:,} distinct images, a new rotation at each load"
                labels = dataset.pool.labels[dataset.layout.members[:, 0]]
                balance = f"digits {self._balance(labels)}" if self.task == "classification" else ""
            else:
                copies = dataset.plan.spec.copies
                size = f"{len(dataset):,} samples = {distinct:,} distinct images x {copies}"
                state = "rotated" if dataset.plan.spec.rotated else "unrotated"
                size += f", {state}"
                if self.task == "classification":
                    balance = f"classes {self._balance(dataset.targets)}"
                else:
                    sample = dataset.targets[:_PIXEL_BALANCE_SAMPLES].long()
                    balance = f"pixels (first {len(sample):,} samples) {self._balance(sample)}"
            path, created = self._cache_log.get(key, (None, False))
            where = "" if path is None else f" [{'generated' if created else 'cached'}: {path.name}]"
            lines.append(f"  {key}: {size}{where}")
            if balance:
                lines.append(f"    {balance}")
        lines.append(f"  cache: {self.cache.directory}")
        text = "\n".join(lines)
        if file is not False:
            print(text, file=file or sys.stdout)
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, source={self.source!r}, bandwidth={self.bandwidth})"
