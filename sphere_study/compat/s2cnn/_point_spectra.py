"""Point-spectrum modules for s2cnn's tuple grids, cached per (space, grid, bandwidth, device)."""

from __future__ import annotations

from functools import lru_cache

import torch

from ...harmonics import S2PointSpectrum, SO3PointSpectrum


@lru_cache(maxsize=32)
def _point_spectrum(space: str, grid: tuple, b: int, device: torch.device):
    cls = S2PointSpectrum if space == "s2" else SO3PointSpectrum
    return cls(grid, b).to(device)


def point_spectrum(space: str, grid, b: int, device: torch.device):
    """The cached :class:`~sphere_study.harmonics.S2PointSpectrum` / ``SO3PointSpectrum`` of ``grid`` at ``b``."""
    key = tuple(tuple(float(v) for v in point) for point in grid)
    return _point_spectrum(space, key, b, torch.device(device))
