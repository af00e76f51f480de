r"""Projection of planar images onto the sphere, sampled on the SOFT grid (or HEALPix), with optional rotations.

Geometry
--------
The square image (side ``S`` pixels) lies on the plane tangent to the unit sphere at the north pole
:math:`e_z`, centred there, with its columns along :math:`+x` and its rows running from :math:`+y` (top row) to
:math:`-y`, so that seen from outside the sphere the picture reads upright and unmirrored. An *azimuthal* projection
maps the sphere point with polar angle :math:`\theta` (from :math:`e_z`) and azimuth :math:`\varphi` to the plane point

.. math::

    (u, v) = \rho(\theta)\, (\cos\varphi, \sin\varphi), \qquad
    \rho(\theta) = \begin{cases}
        2 \tan(\theta / 2) & \text{stereographic (from the south pole; conformal; default)} \\
        \tan\theta & \text{gnomonic (from the centre; } \theta < \pi/2) \\
        \theta & \text{azimuthal equidistant}
    \end{cases}

For a unit vector :math:`p = (p_x, p_y, p_z)` this is :math:`(u, v) = \frac{\rho(\theta)}{\sin\theta}(p_x, p_y)` with
:math:`\frac{\rho}{\sin\theta} = \frac{2}{1 + p_z}`, :math:`\frac{1}{p_z}`, :math:`\frac{\theta}{\sin\theta}`.
The image is scaled so that its half-width is :math:`h = \rho(\theta_0)`, where :math:`\theta_0` is
``image_angular_radius``: the middle of each image edge lands at polar angle :math:`\theta_0` (the image's inscribed
circle is the spherical cap of angular radius :math:`\theta_0`; the corners reach :math:`\rho^{-1}(\sqrt2\, h)`).
Pixel :math:`(r, c)` covers :math:`u \in h\,[2c/S - 1, 2(c+1)/S - 1]`, :math:`v \in h\,[1 - 2(r+1)/S, 1 - 2r/S]`.
The default :math:`\theta_0 = 2\arctan(3/4) \approx 73.74°` reproduces the spherical MNIST of Cohen et al. (2018),
whose 28×28 image spans :math:`[-1.5, 1.5]^2` on the tangent plane (they put it at the south pole).

Sampling and rotation
---------------------
The sphere signal is the image interpolated at the projected point, zero outside the image (and at the projection
centre's antipode):

.. math:: f(p) = I\big(u(p), v(p)\big), \qquad (L_R f)(x) = f(R^{-1} x).

A rotation :math:`R` therefore moves the picture *with* the sphere: :math:`L_R f` shows the digit centred at
:math:`R e_z`. On the grid, ``ImageToSphere(b)(images, R)`` evaluates :math:`f(R^{-1} x_{jk})` at the SOFT points
:math:`x_{jk}` (``s2_grid_points``), by bilinear interpolation of the pixels (``mode="bilinear"``, for intensities)
or by the nearest pixel (``mode="nearest"``, for label maps, which must never be interpolated), batched with
:func:`torch.nn.functional.grid_sample`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..harmonics import s2_grid_points
from ._validation import check_bandwidth, check_choice, check_int

__all__ = [
    "ProjectionName",
    "PROJECTIONS",
    "COHEN_IMAGE_ANGULAR_RADIUS",
    "ImageToSphere",
    "healpix_points",
    "plane_radius",
]

ProjectionName = Literal["stereographic", "gnomonic", "equidistant"]
PROJECTIONS: tuple[str, ...] = get_args(ProjectionName)

#: Angular radius (degrees) of Cohen et al.'s spherical MNIST image: :math:`2\arctan(3/4)`.
COHEN_IMAGE_ANGULAR_RADIUS = math.degrees(2 * math.atan(0.75))

# Largest allowed image_angular_radius per projection (degrees, exclusive): beyond it ρ is infinite or not monotone.
_MAX_ANGULAR_RADIUS = {"stereographic": 180.0, "gnomonic": 90.0, "equidistant": 180.0}
# Points within this distance of a projection's singularity are sent outside the image.
_EPS = 1e-6
# A normalised grid coordinate far outside [-1, 1]: grid_sample reads zero there.
_OUTSIDE = 4.0
# On CPU, batches are processed in chunks of about this many sampled points: the intermediate grids then stay in
# cache, which measured 5x faster than one large batch on a 2-core machine.
_POINTS_PER_CHUNK = 1 << 19


def plane_radius(theta, projection: ProjectionName = "stereographic"):
    r"""Plane radius :math:`\rho(\theta)` of the polar angle ``theta`` (radians; float, array or tensor).

    Examples
    --------
    >>> round(float(plane_radius(math.radians(COHEN_IMAGE_ANGULAR_RADIUS))), 12)
    1.5
    """
    check_choice(projection, "projection", PROJECTIONS)
    lib = torch if isinstance(theta, torch.Tensor) else np
    if projection == "stereographic":
        return 2 * lib.tan(theta / 2)
    if projection == "gnomonic":
        return lib.tan(theta)
    return theta  # equidistant


def healpix_points(nside: int, nest: bool = False, dtype=torch.float64) -> torch.Tensor:
    r"""Unit vectors of the HEALPix pixel centres, shape ``(12 nside², 3)``, RING order (NESTED with ``nest=True``)."""
    import healpy

    nside = check_int(nside, "nside", 1)
    if not healpy.isnsideok(nside, nest=nest):
        raise ValueError(f"nside must be a power of 2 for nest=True, got {nside}")
    vectors = np.stack(healpy.pix2vec(nside, np.arange(12 * nside * nside), nest=nest), axis=-1)
    return torch.as_tensor(vectors, dtype=dtype)


class ImageToSphere(nn.Module):
    r"""Project square planar images onto S², optionally rotated: :math:`(L_R f)(x) = f(R^{-1}x)` on a grid.

    See the module docstring for the projection :math:`\rho(\theta)` and the placement of the image.

    Parameters
    ----------
    bandwidth : int, optional
        Sample on the SOFT grid of this bandwidth: output ``(..., 2b, 2b)`` indexed ``(beta, alpha)``.
    nside : int, optional
        Sample on the HEALPix grid of this nside instead: output ``(..., 12 nside²)``. Give exactly one of the two.
    nest : bool
        HEALPix pixel order: NESTED if true, RING otherwise.
    projection : {"stereographic", "gnomonic", "equidistant"}
    image_angular_radius : float
        :math:`\theta_0` in degrees: polar angle at which the middle of each image edge lands.

    Shapes
    ------
    ``forward(images, rotations)``: ``images`` ``(B, C, S, S)`` floating; ``rotations`` ``None`` (unrotated),
    ``(3, 3)`` (one for all) or ``(B, 3, 3)``; ``mode`` ``"bilinear"``, ``"nearest"`` or one per channel (e.g.
    an intensity and a label channel projected with one grid); output ``(B, C, 2b, 2b)`` or ``(B, C, 12 nside²)``,
    same dtype as ``images``.

    Examples
    --------
    A rotation about the z axis by a multiple of the grid step :math:`2\pi/2b` is a roll along α:

    >>> from sphere_study.harmonics import rotation_matrix
    >>> project = ImageToSphere(8)
    >>> image = torch.rand(1, 1, 28, 28, dtype=torch.float64)
    >>> step = 2 * math.pi / 16
    >>> rotated = project(image, rotation_matrix(3 * step, 0.0, 0.0))
    >>> bool(torch.allclose(rotated, project(image).roll(3, dims=-1), atol=1e-9))
    True
    """

    points: torch.Tensor

    def __init__(
        self,
        bandwidth: int | None = None,
        *,
        nside: int | None = None,
        nest: bool = False,
        projection: ProjectionName = "stereographic",
        image_angular_radius: float = COHEN_IMAGE_ANGULAR_RADIUS,
    ) -> None:
        super().__init__()
        if (bandwidth is None) == (nside is None):
            raise ValueError(f"give exactly one of bandwidth and nside, got bandwidth={bandwidth!r}, nside={nside!r}")
        self.projection = check_choice(projection, "projection", PROJECTIONS)
        limit = _MAX_ANGULAR_RADIUS[projection]
        if isinstance(image_angular_radius, bool) or not isinstance(image_angular_radius, (int, float)):
            raise ValueError(f"image_angular_radius must be a number of degrees, got {image_angular_radius!r}")
        if not 0 < image_angular_radius < limit:
            raise ValueError(
                f"image_angular_radius must lie in (0, {limit:g}) degrees for the {projection} projection, "
                f"got {image_angular_radius!r}"
            )
        self.image_angular_radius = float(image_angular_radius)
        self.half_width = float(plane_radius(math.radians(self.image_angular_radius), projection))
        if bandwidth is not None:
            self.bandwidth = check_bandwidth(bandwidth)
            self.nside = None
            self.grid = "soft"
            self.grid_shape: tuple[int, ...] = (2 * self.bandwidth, 2 * self.bandwidth)
            points = s2_grid_points(self.bandwidth).reshape(-1, 3)
        else:
            self.bandwidth = None
            self.nside = check_int(nside, "nside", 1)
            self.grid = "healpix-nest" if nest else "healpix-ring"
            self.grid_shape = (12 * self.nside * self.nside,)
            points = healpix_points(self.nside, nest)
        # Component-major [3, n]: the elementwise projection math then runs on contiguous rows.
        self.register_buffer("points", points.T.contiguous(), persistent=False)

    def extra_repr(self) -> str:
        where = f"bandwidth={self.bandwidth}" if self.bandwidth is not None else f"nside={self.nside}, {self.grid}"
        return f"{where}, projection={self.projection!r}, image_angular_radius={self.image_angular_radius:.4g}"

    @property
    def num_points(self) -> int:
        return self.points.shape[1]

    def _grid(self, q: torch.Tensor) -> torch.Tensor:
        """Normalised ``grid_sample`` coordinates ``(..., n, 2)`` of unit vectors ``q`` ``(..., 3, n)`` (y negated).

        Image rows run from +y (top, normalised -1) to -y (bottom, +1), so the callers pass ``(p_x, -p_y, p_z)``.
        ``q`` is scratch space: it is modified in place.
        """
        px, py, pz = q[..., 0, :], q[..., 1, :], q[..., 2, :]
        if self.projection == "stereographic":
            # Only the south pole itself is singular; on CPU, skip the mask when no point comes near it.
            singular = pz.device.type != "cpu" or bool(pz.min() < _EPS - 1)
            outside = (pz < _EPS - 1) if singular else None
            scale = torch.add(pz, 1).clamp_min_(_EPS).reciprocal_().mul_(2 / self.half_width)
        elif self.projection == "gnomonic":
            outside = pz < _EPS
            scale = pz.clamp_min(_EPS).reciprocal_().mul_(1 / self.half_width)
        else:
            r = torch.hypot(px, py)
            theta = torch.atan2(r, pz)
            outside = theta > math.pi - _EPS
            scale = torch.where(r > _EPS, theta / r.clamp_min(_EPS), torch.ones_like(r)).mul_(1 / self.half_width)
        if outside is not None:
            # Send those points far outside the image (a near-zero p_x alone could land them on the centre).
            px.masked_fill_(outside, 1.0)
            scale.masked_fill_(outside, _OUTSIDE / _EPS)
        return (q[..., :2, :] * scale.unsqueeze(-2)).transpose(-1, -2)  # a strided view; grid_sample accepts it

    def _sample(self, images: torch.Tensor, grid: torch.Tensor, modes: tuple[str, ...]) -> torch.Tensor:
        """grid_sample with per-sample grids ``(B, n, 2)`` or one shared grid ``(n, 2)``: returns ``(B, C, n)``."""
        b, c = images.shape[:2]
        if len(set(modes)) > 1:  # one grid, channels sampled with their own modes
            return torch.cat([self._sample(images[:, i : i + 1], grid, modes[i : i + 1]) for i in range(c)], dim=1)
        mode = modes[0]
        if grid.dim() == 2:
            # One grid for the whole batch: fold the batch into channels, so the weights are computed once per point.
            folded = images.reshape(1, b * c, *images.shape[2:])
            out = F.grid_sample(folded, grid[None, None], mode=mode, padding_mode="zeros", align_corners=False)
        else:
            out = F.grid_sample(images, grid[:, None], mode=mode, padding_mode="zeros", align_corners=False)
        return out.reshape(b, c, -1)

    def _check_images(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] != images.shape[-2]:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a tensor of square images [B, C, S, S], got {shape}")
        if not images.is_floating_point():
            raise ValueError(f"images must be floating point (e.g. images.float()), got {images.dtype}")

    @staticmethod
    def _modes(mode: str | Sequence[str], channels: int) -> tuple[str, ...]:
        modes = (mode,) * channels if isinstance(mode, str) else tuple(mode)
        if len(modes) != channels:
            raise ValueError(f"mode must be one string or one per channel ({channels}), got {mode!r}")
        for m in modes:
            check_choice(m, "mode", ("bilinear", "nearest"))
        return modes

    def forward(
        self,
        images: torch.Tensor,
        rotations: torch.Tensor | None = None,
        mode: Literal["bilinear", "nearest"] | Sequence[str] = "bilinear",
    ) -> torch.Tensor:
        """Project ``images`` under ``rotations``; ``mode`` is one interpolation or one per channel (same grid)."""
        self._check_images(images)
        b, c = images.shape[:2]
        modes = self._modes(mode, c)
        flip_y = torch.tensor([1.0, -1.0, 1.0], dtype=images.dtype, device=images.device)
        points = self.points.to(images.dtype)
        if rotations is None:
            out = self._sample(images, self._grid(points * flip_y[:, None]), modes)
            return out.reshape(b, c, *self.grid_shape)
        rotations = torch.as_tensor(rotations).to(device=images.device, dtype=images.dtype)
        if rotations.shape == (3, 3):
            rotations = rotations.expand(b, 3, 3)
        elif rotations.shape != (b, 3, 3):
            raise ValueError(f"rotations must have shape [3, 3] or [{b}, 3, 3], got {tuple(rotations.shape)}")
        # q = diag(1, -1, 1) R^T x = the y-flipped R^{-1} x, one matmul per chunk: [chunk, 3, n].
        inverse_flipped = rotations.transpose(1, 2) * flip_y[:, None]
        out = images.new_empty(b, c, self.num_points)
        chunk = b if images.device.type != "cpu" else max(1, _POINTS_PER_CHUNK // self.num_points)
        for start in range(0, b, chunk):
            stop = min(start + chunk, b)
            grid = self._grid(torch.matmul(inverse_flipped[start:stop], points))
            out[start:stop] = self._sample(images[start:stop], grid, modes)
        return out.reshape(b, c, *self.grid_shape)

    def sample(
        self, images: torch.Tensor, points: torch.Tensor, mode: Literal["bilinear", "nearest"] = "bilinear"
    ) -> torch.Tensor:
        r"""The unrotated projection :math:`f(p)` of ``images`` ``(B, C, S, S)`` at unit vectors ``points``.

        ``points`` is ``(P, 3)`` (shared) or ``(B, P, 3)``; returns ``(B, C, P)``. With ``points = R^{-1} x`` this is
        exactly what ``forward`` computes on the grid.
        """
        self._check_images(images)
        modes = self._modes(mode, images.shape[1])
        points = torch.as_tensor(points).to(device=images.device, dtype=images.dtype)
        if points.shape[-1] != 3 or points.dim() not in (2, 3) or (points.dim() == 3 and len(points) != len(images)):
            raise ValueError(f"points must have shape [P, 3] or [{len(images)}, P, 3], got {tuple(points.shape)}")
        flip_y = torch.tensor([1.0, -1.0, 1.0], dtype=images.dtype, device=images.device)
        return self._sample(images, self._grid((points * flip_y).transpose(-1, -2)), modes)
