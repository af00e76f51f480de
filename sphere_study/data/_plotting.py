r"""Pictures of spherical samples: Mollweide and orthographic views of SOFT-grid or HEALPix signals.

Both views look up the signal at the sphere point under each picture pixel, by nearest grid point (so masks keep
their integer classes): on the SOFT grid the point :math:`(\beta, \alpha)` falls in the cell
:math:`j = \lfloor 2b\beta/\pi \rfloor`, :math:`k = \operatorname{round}(2b\alpha/2\pi) \bmod 2b`; on HEALPix,
``healpy.ang2pix``.

* **Mollweide** (matplotlib's equal-area ``"mollweide"`` axes): longitude :math:`\alpha` (wrapped to
  :math:`(-\pi, \pi]`, increasing to the right) and latitude :math:`\pi/2 - \beta`, as seen from outside.
* **Orthographic**: the hemisphere around ``center = (lon, lat)`` in degrees, seen from outside, east to the right
  and north up. The default ``(-90, 90)`` looks down on the north pole with :math:`+x` to the right and :math:`+y`
  up, so an unrotated digit reads upright (see :mod:`sphere_study.data._projection`).

Headless use: the functions build :class:`matplotlib.figure.Figure` objects directly (no pyplot state), so they work
under any backend, Agg included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

__all__ = ["plot_sphere", "plot_samples", "segmentation_colormap"]

ViewName = Literal["mollweide", "orthographic"]
_VIEWS = ("mollweide", "orthographic")


def _as_signal(signal) -> tuple[np.ndarray, str, int]:
    """(values, grid, size): SOFT ``(2b, 2b)`` → ("soft", b); HEALPix ``(12 nside²,)`` → ("healpix", nside)."""
    values = signal.detach().cpu().numpy() if isinstance(signal, torch.Tensor) else np.asarray(signal)
    values = np.squeeze(values) if values.ndim > 2 else values
    if values.ndim == 2 and values.shape[0] == values.shape[1] and values.shape[0] % 2 == 0:
        return values.astype(np.float64), "soft", values.shape[0] // 2
    if values.ndim == 1:
        nside = math.isqrt(values.shape[0] // 12)
        if 12 * nside * nside == values.shape[0] and nside > 0:
            return values.astype(np.float64), "healpix", nside
    raise ValueError(
        f"signal must be a SOFT-grid sample [2b, 2b] (beta, alpha) or a HEALPix map [12 nside^2], got shape "
        f"{tuple(np.shape(signal))}"
    )


def _lookup(values: np.ndarray, grid: str, size: int, beta: np.ndarray, alpha: np.ndarray, nest: bool) -> np.ndarray:
    if grid == "soft":
        n = 2 * size
        j = np.clip(np.floor(beta * n / np.pi).astype(np.int64), 0, n - 1)
        k = np.round(np.mod(alpha, 2 * np.pi) * n / (2 * np.pi)).astype(np.int64) % n
        return values[j, k]
    import healpy

    return values[healpy.ang2pix(size, np.clip(beta, 0, np.pi), np.mod(alpha, 2 * np.pi), nest=nest)]


def segmentation_colormap():
    """A categorical colormap for masks with values 0..10: black background, then the ten ``tab10`` colours."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    tab10 = matplotlib.colormaps["tab10"]
    return ListedColormap([(0.0, 0.0, 0.0, 1.0)] + [tab10(i) for i in range(10)], name="segmentation")


def plot_sphere(
    signal,
    view: ViewName = "mollweide",
    *,
    ax=None,
    mask: bool = False,
    center: tuple[float, float] = (-90.0, 90.0),
    cmap=None,
    vmin: float | None = None,
    vmax: float | None = None,
    resolution: int = 360,
    nest: bool = False,
    title: str | None = None,
    colorbar: bool = False,
):
    r"""Draw one spherical sample and return the :class:`~matplotlib.figure.Figure`.

    Parameters
    ----------
    signal : tensor or array
        SOFT-grid sample ``(2b, 2b)`` (a leading channel axis of 1 is dropped) or HEALPix map ``(12 nside²,)``.
    view : {"mollweide", "orthographic"}
    ax : matplotlib Axes, optional
        Draw into this axes (a ``projection="mollweide"`` axes for the Mollweide view); default: a new figure.
    mask : bool
        Treat the values as classes 0..10 (:func:`segmentation_colormap`, no colour interpolation).
    center : (float, float)
        Longitude and latitude (degrees) at the centre of the orthographic view.
    cmap, vmin, vmax
        Colour map and limits for intensities (default gray, the signal's range).
    resolution : int
        Picture pixels across (Mollweide: longitude cells; orthographic: pixels per side).
    nest : bool
        HEALPix NESTED order.
    title : str, optional
    colorbar : bool
    """
    from matplotlib.figure import Figure

    if view not in _VIEWS:
        raise ValueError(f"view must be one of {_VIEWS}, got {view!r}")
    values, grid, size = _as_signal(signal)
    if mask:
        cmap, vmin, vmax = segmentation_colormap(), -0.5, 10.5
    else:
        cmap = cmap or "gray"
    if ax is None:
        fig = Figure(figsize=(6, 3.4) if view == "mollweide" else (4, 4))
        ax = fig.add_subplot(projection="mollweide" if view == "mollweide" else None)
    fig = ax.figure
    if view == "mollweide":
        if ax.name != "mollweide":
            raise ValueError(f"the Mollweide view needs an axes with projection='mollweide', got {ax.name!r}")
        lon_edges = np.linspace(-np.pi, np.pi, resolution + 1)
        lat_edges = np.linspace(-np.pi / 2, np.pi / 2, resolution // 2 + 1)
        lon = (lon_edges[1:] + lon_edges[:-1]) / 2
        lat = (lat_edges[1:] + lat_edges[:-1]) / 2
        lon_grid, lat_grid = np.meshgrid(lon, lat)
        picture = _lookup(values, grid, size, np.pi / 2 - lat_grid, lon_grid, nest)
        artist = ax.pcolormesh(lon_edges, lat_edges, picture, cmap=cmap, vmin=vmin, vmax=vmax, shading="flat")
        ax.set_xticklabels([])
        ax.grid(True, alpha=0.3)
    else:
        lon0, lat0 = np.radians(center[0]), np.radians(center[1])
        view_dir = np.array([np.cos(lat0) * np.cos(lon0), np.cos(lat0) * np.sin(lon0), np.sin(lat0)])
        east = np.array([-np.sin(lon0), np.cos(lon0), 0.0])
        north = np.cross(view_dir, east)
        u = (np.arange(resolution) + 0.5) / resolution * 2 - 1
        uu, vv = np.meshgrid(u, u)  # vv increases upwards with origin="lower"
        inside = uu**2 + vv**2 <= 1
        depth = np.sqrt(np.clip(1 - uu**2 - vv**2, 0, None))
        points = uu[..., None] * east + vv[..., None] * north + depth[..., None] * view_dir
        beta = np.arccos(np.clip(points[..., 2], -1, 1))
        alpha = np.arctan2(points[..., 1], points[..., 0])
        picture = np.where(inside, _lookup(values, grid, size, beta, alpha, nest), np.nan)
        artist = ax.imshow(
            picture, origin="lower", extent=(-1, 1, -1, 1), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        ax.add_patch(_circle())
        ax.set_axis_off()
        ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar and not mask:
        fig.colorbar(artist, ax=ax, shrink=0.7)
    return fig


def _circle():
    from matplotlib.patches import Circle

    return Circle((0, 0), 1, fill=False, linewidth=0.8, edgecolor="0.5")


def _digit_center(rotation: torch.Tensor | None) -> tuple[float, float]:
    """(lon, lat) in degrees of :math:`R e_z`, where a digit rotated by R sits."""
    if rotation is None:
        return -90.0, 90.0
    x, y, z = (float(v) for v in torch.as_tensor(rotation, dtype=torch.float64)[:, 2])
    return math.degrees(math.atan2(y, x)), math.degrees(math.asin(max(-1.0, min(1.0, z))))


def plot_samples(
    images: Sequence,
    masks: Sequence | None = None,
    rotations: Sequence | None = None,
    titles: Sequence[str] | None = None,
    views: Sequence[ViewName] = ("mollweide", "orthographic"),
    resolution: int = 240,
):
    r"""A grid of samples: one row per sample, columns = each view of the image, then each view of the mask.

    Parameters
    ----------
    images : sequence of ``(2b, 2b)`` tensors in [0, 1] (bandwidths may differ between rows)
    masks : sequence, optional
        Masks 0..10 for the rows; an entry may be None (a classification row), leaving its mask panels empty.
    rotations : sequence, optional
        Rotation of each row (or None): the orthographic views are centred on :math:`R e_z`, where the (lead)
        digit lies; otherwise on the north pole.
    titles : sequence of str, optional

    Examples
    --------
    The picture in ``docs/spherical_samples.png`` (``dm`` a set-up :class:`SphericalDataModule`)::

        x, mask = dm.test_datasets["rotated"][0]
        plot_samples([x[0]], [mask], [dm.test_datasets["rotated"].rotations[0]]).savefig("samples.png")
    """
    from matplotlib.figure import Figure

    n = len(images)
    with_masks = masks is not None and any(mask is not None for mask in masks)
    panels = [(view, False) for view in views] + ([(view, True) for view in views] if with_masks else [])
    fig = Figure(figsize=(3.2 * len(panels), 2.4 * n), layout="constrained")
    for row in range(n):
        rotation = None if rotations is None else rotations[row]
        for col, (view, is_mask) in enumerate(panels):
            signal = masks[row] if is_mask else images[row]
            projection = "mollweide" if view == "mollweide" else None
            ax = fig.add_subplot(n, len(panels), row * len(panels) + col + 1, projection=projection)
            if signal is None:
                ax.set_axis_off()
                continue
            label = f"{'mask' if is_mask else 'image'}, {view}"
            if titles is not None and col == 0:
                label = f"{titles[row]}\n{label}"
            intensity_range = {} if is_mask else {"vmin": 0.0, "vmax": 1.0}
            plot_sphere(
                signal,
                view,
                ax=ax,
                mask=is_mask,
                center=_digit_center(rotation),
                title=label,
                resolution=resolution,
                **intensity_range,
            )
    return fig
