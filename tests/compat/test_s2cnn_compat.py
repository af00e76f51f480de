"""s2cnn drop-in: the published MNIST architectures (S2ConvNet_original, S2ConvNet_deep), written from s2cnn's
examples/mnist/run.py layer lists, run through sphere_study.compat.s2cnn and train a step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sphere_study.compat.s2cnn import (
    S2Convolution,
    SO3Convolution,
    SO3Shortcut,
    SO3ToS2,
    s2_equatorial_grid,
    s2_near_identity_grid,
    so3_equatorial_grid,
    so3_integrate,
    so3_near_identity_grid,
    so3_rotation,
)


class S2ConvNet_original(nn.Module):
    def __init__(self, b_in=30):
        super().__init__()
        grid_s2 = s2_near_identity_grid()
        grid_so3 = so3_near_identity_grid()
        self.conv1 = S2Convolution(nfeature_in=1, nfeature_out=20, b_in=b_in, b_out=10, grid=grid_s2)
        self.conv2 = SO3Convolution(nfeature_in=20, nfeature_out=40, b_in=10, b_out=6, grid=grid_so3)
        self.out_layer = nn.Linear(40, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.out_layer(so3_integrate(x))


class S2ConvNet_deep(nn.Module):
    def __init__(self, bandwidth=30):
        super().__init__()
        grid_s2 = s2_near_identity_grid(n_alpha=6, max_beta=np.pi / 16, n_beta=1)
        g1, g2, g3, g4 = (
            so3_near_identity_grid(n_alpha=6, max_beta=np.pi / d, n_beta=1, max_gamma=2 * np.pi, n_gamma=6)
            for d in (16, 8, 4, 2)
        )
        b = bandwidth
        self.convolutional = nn.Sequential(
            S2Convolution(nfeature_in=1, nfeature_out=8, b_in=b, b_out=b, grid=grid_s2), nn.ReLU(),
            SO3Convolution(nfeature_in=8, nfeature_out=16, b_in=b, b_out=b // 2, grid=g1), nn.ReLU(),
            SO3Convolution(nfeature_in=16, nfeature_out=16, b_in=b // 2, b_out=b // 2, grid=g2), nn.ReLU(),
            SO3Convolution(nfeature_in=16, nfeature_out=24, b_in=b // 2, b_out=b // 4, grid=g2), nn.ReLU(),
            SO3Convolution(nfeature_in=24, nfeature_out=24, b_in=b // 4, b_out=b // 4, grid=g3), nn.ReLU(),
            SO3Convolution(nfeature_in=24, nfeature_out=32, b_in=b // 4, b_out=b // 8, grid=g3), nn.ReLU(),
            SO3Convolution(nfeature_in=32, nfeature_out=64, b_in=b // 8, b_out=b // 8, grid=g4), nn.ReLU(),
        )  # fmt: skip
        self.linear = nn.Sequential(
            nn.BatchNorm1d(64), nn.Linear(64, 64), nn.ReLU(),
            nn.BatchNorm1d(64), nn.Linear(64, 32), nn.ReLU(),
            nn.BatchNorm1d(32), nn.Linear(32, 10),
        )  # fmt: skip

    def forward(self, x):
        return self.linear(so3_integrate(self.convolutional(x)))


@pytest.mark.parametrize(
    "build,bandwidth,n_params",
    [(S2ConvNet_original, 30, 154_550), (S2ConvNet_deep, 16, None)],
    ids=["original", "deep"],
)
def test_published_architectures_train_a_step(build, bandwidth, n_params):
    """The models build through the compat API, produce logits, and one Adam step lowers the loss on the same batch."""
    torch.manual_seed(0)
    model = build(bandwidth)
    if n_params is not None:
        assert sum(p.numel() for p in model.parameters()) == n_params
    x = torch.rand(4, 1, 2 * bandwidth, 2 * bandwidth)
    y = torch.tensor([1, 3, 5, 7])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert model(x).shape == (4, 10)
    assert losses[1] < losses[0]


def test_compat_grids_and_helpers():
    assert len(s2_near_identity_grid()) == 24 and len(so3_near_identity_grid()) == 192
    assert isinstance(s2_equatorial_grid()[0], tuple) and len(so3_equatorial_grid()[0]) == 3
    shortcut = SO3Shortcut(4, 4, 5, 5)
    x = torch.randn(1, 4, 10, 10, 10)
    assert shortcut(x) is x
    assert SO3ToS2(4, 2, 5, 6, grid=so3_near_identity_grid(n_alpha=2, n_beta=1, n_gamma=2))(x).shape == (1, 2, 12, 12)
    # so3_rotation by a quarter turn about z is a roll of the alpha axis (exact on band-limited signals)
    from sphere_study.harmonics import so3_ifft, so3_nspec

    f = so3_ifft(torch.randn(2, so3_nspec(4), dtype=torch.complex128), real=True)
    assert torch.allclose(so3_rotation(f, math.pi / 2, 0.0, 0.0), torch.roll(f, 2, dims=-2), atol=1e-12)
