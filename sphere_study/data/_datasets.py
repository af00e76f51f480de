r"""Map-style datasets of spherical samples: precomputed (cached uint8) and online-rotated.

Both yield ``(x, y)`` with ``x`` float32 ``(1, 2b, 2b)``, the stored uint8 intensities ``u`` mapped by the dataset's
:class:`InputScaling` (by default ``u / 255``, in [0, 1]), and ``y`` an int64 class label (classification) or
an int64 mask ``(2b, 2b)`` with 0 = background and 1..10 = class + 1 (segmentation); a DataLoader stacks them into
``[B, 1, 2b, 2b]`` and ``[B]`` / ``[B, 2b, 2b]``.

Both implement ``__getitems__``, which PyTorch's DataLoader calls with a whole batch of indices: conversion (and, for
:class:`OnlineSphericalDataset`, composition, rotation and projection) then runs once per batch, vectorised, instead
of once per sample.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from ..harmonics import random_rotation
from ._canvas import compose_canvases
from ._generate import SpherePlan, SphereSet, derive_generator, project_samples, single_threaded_torch
from ._sources import DigitImages

__all__ = ["SphericalDataset", "OnlineSphericalDataset", "InputScaling"]


class InputScaling:
    r"""The map from stored uint8 intensities ``u`` to network inputs, :math:`x = (u/255 - \mu)/\sigma`.

    ``InputScaling()`` gives [0, 1] pixels; ``InputScaling(0, 1/255)`` gives 0-255 (what Cohen et al.'s training
    script fed); the data module's ``input_scaling="standardize"`` sets :math:`\mu, \sigma` to the training set's
    pixel mean and standard deviation. One instance is shared by a module's datasets.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0) -> None:
        self.mean, self.std = float(mean), float(std)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.unsqueeze(1).to(torch.float32)
        if self.mean == 0.0 and self.std == 1.0 / 255.0:
            return x  # 0..255 exactly, without a rounding round trip
        x = x.div_(255.0)
        if self.mean != 0.0 or self.std != 1.0:
            x = x.sub_(self.mean).div_(self.std)
        return x

    def __repr__(self) -> str:
        return f"InputScaling(mean={self.mean:.6g}, std={self.std:.6g})"


_UNIT = InputScaling()


def _to_samples(
    images: torch.Tensor, targets: torch.Tensor, scaling: InputScaling = _UNIT
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(zip(scaling(images).unbind(0), targets.to(torch.int64).unbind(0), strict=True))


class SphericalDataset(Dataset):
    r"""A rendered :class:`~sphere_study.data.SphereSet`: ``(x, y)`` per sample, from uint8 storage.

    Attributes
    ----------
    images : torch.Tensor
        uint8 ``(M, 2b, 2b)``.
    targets : torch.Tensor
        int64 labels ``(M,)`` or uint8 masks ``(M, 2b, 2b)``.
    plan : SpherePlan
        What each sample shows: ``plan.members`` (source digits), ``plan.rotations`` (float64 ``(M, 3, 3)`` or None),
        ``plan.copy``.
    """

    def __init__(self, sphere_set: SphereSet, name: str = "", scaling: InputScaling = _UNIT) -> None:
        self.scaling = scaling
        self.images = sphere_set.images
        self.targets = sphere_set.targets
        self.plan: SpherePlan = sphere_set.plan
        self.name = name

    @property
    def task(self) -> str:
        return self.plan.spec.task

    @property
    def rotations(self) -> torch.Tensor | None:
        return self.plan.rotations

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices) -> list[tuple[torch.Tensor, torch.Tensor]]:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return _to_samples(self.images[idx], self.targets[idx], self.scaling)

    def __repr__(self) -> str:
        spec = self.plan.spec
        return (
            f"{type(self).__name__}({self.name or spec.stream}: {len(self)} {spec.task} samples, b={spec.bandwidth}, "
            f"{'rotated' if spec.rotated else 'unrotated'})"
        )


class EpochShuffleSampler(Sampler[int]):
    r"""Shuffles with a permutation that depends only on ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` before every epoch (also under DDP, where it wraps this sampler), so a run
    resumed from a checkpoint at epoch e sees the same order as an uninterrupted run; the dataset's own
    ``set_epoch`` (online augmentation) is called too.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        order = torch.randperm(len(self.dataset), generator=derive_generator(self.seed, "shuffle", self.epoch))
        return iter(order.tolist())


class OnlineSphericalDataset(Dataset):
    r"""Training canvases that get a fresh Haar-random rotation on every load (``augment="online"``).

    Item ``m`` is canvas ``m`` of ``plan.layout`` (one per distinct training image), composed from ``pool``,
    rotated by a new independent uniform :math:`R` each time it is loaded and projected like the cached sets, so an
    epoch of ``N`` samples shows ``N`` new rotations. A batch is composed, rotated and projected in one go
    (``__getitems__``), single-threaded: a few milliseconds for 32 samples at b = 30, so with ``num_workers >= 1``
    it runs in the loader's worker processes alongside training.

    The rotations come from a generator seeded by ``(seed, "online", rank, epoch)`` in the main process and by
    ``(seed, "online", rank, epoch, worker id)`` in a DataLoader worker, where ``rank`` is the distributed rank (0
    without DDP) and ``epoch`` is set by :class:`EpochShuffleSampler` through :meth:`set_epoch`: the stream is
    reproducible, neither workers nor ranks repeat one another, and a run resumed at epoch e draws exactly the
    rotations an uninterrupted run draws in epoch e.
    """

    def __init__(
        self, plan: SpherePlan, pool: DigitImages, seed: int, name: str = "train", scaling: InputScaling = _UNIT
    ) -> None:
        self.scaling = scaling
        if plan.rotations is not None or len(plan) != len(plan.layout):
            raise ValueError("an online dataset takes the plan of unrotated canvases, one sample per canvas")
        self.plan = plan
        self.layout = plan.layout
        self.pool = pool
        self.seed = seed
        self.name = name
        self.projector = plan.spec.projector()
        self._generator: torch.Generator | None = None
        self._generator_owner: tuple | None = None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Start the rotation stream of ``epoch`` (called by the sampler before each epoch)."""
        self.epoch = int(epoch)

    @property
    def task(self) -> str:
        return self.plan.spec.task

    def __getstate__(self) -> dict:
        # A worker started by "spawn" makes its own generator (see _rng); never ship the parent's.
        return {**self.__dict__, "_generator": None, "_generator_owner": None}

    def _rng(self) -> torch.Generator:
        info = get_worker_info()
        # Under DDP every rank runs the same loader seeds: the rank keeps their rotation streams apart.
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        rank = torch.distributed.get_rank() if distributed else 0
        owner = (os.getpid(), rank, self.epoch, None if info is None else info.id)
        if self._generator is None or self._generator_owner != owner:
            stream = ("online", rank, self.epoch) if info is None else ("online", rank, self.epoch, info.id)
            self._generator = derive_generator(self.seed, *stream)
            self._generator_owner = owner
        return self._generator

    def __len__(self) -> int:
        return len(self.layout)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices) -> list[tuple[torch.Tensor, torch.Tensor]]:
        images, targets = self.render(torch.as_tensor(np.asarray(indices, dtype=np.int64)), self._rng())
        return _to_samples(images, targets, self.scaling)

    def render(self, idx: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and targets of canvases ``idx``, each rotated by a rotation drawn from ``generator``."""
        spec = self.plan.spec
        segmentation = spec.task == "segmentation"
        # Batch-sized ops are too small for intra-op threads to pay (7x slower on 2 shared cores, measured).
        with single_threaded_torch():
            canvas, regions = compose_canvases(self.pool.images, self.pool.labels, self.layout.select(idx))
            rotations = random_rotation(len(idx), generator=generator)
            images, masks = project_samples(
                self.projector, canvas, regions if segmentation else None, rotations, spec.threshold
            )
        targets = masks if segmentation else self.pool.labels[self.layout.members[idx, 0]]
        return images, targets

    def __repr__(self) -> str:
        spec = self.plan.spec
        return f"{type(self).__name__}({len(self)} {spec.task} canvases, b={spec.bandwidth}, fresh rotation per load)"
