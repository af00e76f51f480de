"""Pictures of spherical samples: both views, SOFT and HEALPix inputs, orientation, masks, headless PNGs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sphere_study.data import ImageToSphere, healpix_points, plot_samples, plot_sphere, segmentation_colormap
from sphere_study.harmonics import random_rotation, s2_grid_points

# Nearest-neighbour lookup on a b=16 grid: a picture value is within one grid step (pi/32) of the true one for the
# smooth coordinate functions used below.
LOOKUP_ATOL = 0.1


def _picture(fig: Figure) -> np.ndarray:
    ax = fig.axes[0]
    artist = ax.images[0] if ax.images else ax.collections[0]
    return np.ma.filled(np.asarray(artist.get_array(), dtype=float).reshape(artist.get_array().shape), np.nan)


def coordinate(b: int, axis: int) -> torch.Tensor:
    return s2_grid_points(b)[..., axis]


def test_orthographic_default_view_looks_down_on_the_north_pole():
    b = 16
    z, x, y = (plot_sphere(coordinate(b, axis), "orthographic", resolution=64) for axis in (2, 0, 1))
    pz, px, py = (_picture(fig) for fig in (z, x, y))
    assert abs(pz[32, 32] - 1) < LOOKUP_ATOL  # centre: the pole
    assert np.isnan(pz[0, 0])  # outside the disc
    # Screen right is +x and screen up is +y (origin="lower": row index grows upwards).
    assert px[32, 60] > 0.8 and px[32, 3] < -0.8 and abs(px[60, 32]) < LOOKUP_ATOL
    assert py[60, 32] > 0.8 and py[3, 32] < -0.8


def test_orthographic_view_can_be_centred_anywhere():
    fig = plot_sphere(coordinate(16, 0), "orthographic", center=(0.0, 0.0), resolution=64)
    assert abs(_picture(fig)[32, 32] - 1) < LOOKUP_ATOL  # (lon 0, lat 0) is +x


def test_mollweide_view_puts_north_on_top():
    fig = plot_sphere(coordinate(16, 2), "mollweide", resolution=72)
    picture = _picture(fig)
    assert picture.shape == (36, 72)
    assert picture[-1].min() > 0.9 and picture[0].max() < -0.9  # latitude rows run south to north


def test_healpix_maps_are_drawn():
    nside = 8
    signal = healpix_points(nside)[:, 2]
    for view in ("mollweide", "orthographic"):
        fig = plot_sphere(signal, view, resolution=64)
        assert isinstance(fig, Figure)
    assert abs(_picture(plot_sphere(signal, "orthographic", resolution=64))[32, 32] - 1) < LOOKUP_ATOL


def test_masks_use_the_categorical_colours():
    mask = torch.randint(0, 11, (32, 32), generator=torch.Generator().manual_seed(0))
    fig = plot_sphere(mask, "mollweide", mask=True, resolution=90)
    picture = _picture(fig)
    assert set(np.unique(picture).tolist()) <= set(range(11))
    artist = fig.axes[0].collections[0]
    assert artist.get_clim() == (-0.5, 10.5) and segmentation_colormap().N == 11


def test_figure_saves_as_png_headless(tmp_path, mnist_test):
    project = ImageToSphere(20)
    rotations = random_rotation(2, generator=torch.Generator().manual_seed(1))
    images = project(mnist_test.images[:2, None].float() / 255, rotations)[:, 0]
    fig = plot_samples(images, masks=(images > 0.5).long() * 3, rotations=rotations, titles=["a", "b"])
    assert len(fig.axes) == 8
    path = tmp_path / "samples.png"
    fig.savefig(path, dpi=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("signal", "view", "match"),
    [
        (torch.zeros(10, 12), "mollweide", "SOFT-grid sample"),
        (torch.zeros(100), "mollweide", "HEALPix map"),
        (torch.zeros(8, 8), "gnomonic", "view"),
    ],
)
def test_bad_inputs_are_named(signal, view, match):
    with pytest.raises(ValueError, match=match):
        plot_sphere(signal, view)


def test_mollweide_needs_a_mollweide_axes():
    ax = Figure().add_subplot()
    with pytest.raises(ValueError, match="projection='mollweide'"):
        plot_sphere(torch.zeros(8, 8), "mollweide", ax=ax)
