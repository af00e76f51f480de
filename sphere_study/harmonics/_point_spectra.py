r"""Spectra of weighted point sets on S² and SO(3): the Fourier transforms of S2CNN kernels.

An S2CNN kernel is a weighted sum of point masses, :math:`\psi = \sum_p w_p \delta_{x_p}` on S² or
:math:`\psi = \sum_p w_p \delta_{g_p}` on SO(3) (deltas with respect to the normalised measures), so

.. math::

    \hat\psi^l_n = \sum_p w_p\, \overline{D^l_{n0}(\alpha_p, \beta_p, 0)}, \qquad
    \hat\psi^l_{mn} = \sum_p w_p\, \overline{D^l_{mn}(\alpha_p, \beta_p, \gamma_p)}
                   = \sum_p w_p\, e^{-im\alpha_p} d^l_{mn}(\beta_p)\, e^{-in\gamma_p}.

Kernel grids put their points on a few rings of equal β (three for s2cnn's near-identity grids), so the sum is done
in two steps: the phases per ring, :math:`X_{mn}(r) = \sum_{p \in r} w_p e^{-i(m\alpha_p + n\gamma_p)}` (one real
``bmm``), then the :class:`~._wigner.WignerStep` over the rings' β values. That needs :math:`d^l_{mn}` only at the
distinct β of the grid instead of a dense ``[n_points, nspec]`` complex table.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._profiling import labelled
from ._validation import check_bandwidth, check_floating
from ._wigner import WignerStep, s2_wigner_d_rows, wigner_d_rows

__all__ = ["S2PointSpectrum", "SO3PointSpectrum", "as_grid"]


def as_grid(grid, columns: int, what: str = "kernel grid") -> np.ndarray:
    """A kernel grid (tensor, array, or sequence of tuples) as a float64 array ``[n_points, columns]``."""
    g = np.asarray(grid.detach().cpu().numpy() if isinstance(grid, torch.Tensor) else grid, dtype=np.float64)
    names = "(beta, alpha)" if columns == 2 else "(beta, alpha, gamma)"
    if g.ndim != 2 or g.shape[1] != columns or g.shape[0] == 0:
        raise ValueError(f"{what} must have shape [n_points, {columns}] with columns {names}; got {g.shape}")
    if not np.isfinite(g).all():
        raise ValueError(f"{what} contains non-finite angles")
    if (g[:, 0] < 0).any() or (g[:, 0] > np.pi + 1e-12).any():
        raise ValueError(f"{what}: beta (column 0) must lie in [0, pi], got range [{g[:, 0].min()}, {g[:, 0].max()}]")
    return g


class _PointSpectrum(nn.Module):
    def __init__(self, grid, bandwidth: int, space: str):
        super().__init__()
        L = self.bandwidth = check_bandwidth(bandwidth)
        self.space = space
        g = as_grid(grid, 2 if space == "s2" else 3)
        self.n_points = len(g)
        beta, alpha = g[:, 0], g[:, 1]
        gamma = g[:, 2] if space == "so3" else np.zeros_like(beta)
        rings, ring_of = np.unique(beta, return_inverse=True)
        R, width = len(rings), np.bincount(ring_of).max()
        slot = np.zeros(len(g), dtype=np.int64)  # position of each point inside its ring
        for r in range(R):
            members = np.flatnonzero(ring_of == r)
            slot[members] = np.arange(len(members))
        point_index = np.full((R, width), len(g), dtype=np.int64)  # padding -> a zero weight
        point_index[ring_of, slot] = np.arange(len(g))

        if space == "s2":
            m, n, n_sources = np.arange(L), np.zeros(L, dtype=np.int64), L
            source = lambda m, n: np.asarray(m)  # noqa: E731
        else:
            m, n = (a.ravel() for a in np.meshgrid(np.arange(-L + 1, L), np.arange(L), indexing="ij"))
            n_sources = (2 * L - 1) * L
            source = lambda m, n: (np.asarray(m) + L - 1) * L + np.asarray(n)  # noqa: E731
        theta = np.zeros((R, n_sources, width))
        valid = np.zeros((R, width), dtype=bool)
        valid[ring_of, slot] = True
        src = source(m, n)
        theta[ring_of[:, None], src[None, :], slot[:, None]] = m[None, :] * alpha[:, None] + n[None, :] * gamma[:, None]
        # Phases e^{-i theta} as real cos / sin tables; padding slots are zero.
        self.register_buffer("cos", torch.from_numpy(np.cos(theta) * valid[:, None, :]), persistent=False)
        self.register_buffer("sin", torch.from_numpy(-np.sin(theta) * valid[:, None, :]), persistent=False)
        self.register_buffer("point_index", torch.from_numpy(point_index), persistent=False)
        d_rows = (s2_wigner_d_rows if space == "s2" else wigner_d_rows)(rings, L)
        self.step = WignerStep(d_rows, L, space, source, n_sources, d_layout=space)
        self.nspec = self.step.nspec

    def extra_repr(self) -> str:
        return f"n_points={self.n_points}, bandwidth={self.bandwidth}"

    @labelled("kernel_spectrum")
    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        batch_shape = weights.shape[:-1]
        spec = self.step.analysis(self._phases(weights))  # [nspec, N]
        return spec.transpose(0, 1).reshape(*batch_shape, self.nspec)

    @labelled("kernel_spectrum")
    def entries(self, weights: torch.Tensor) -> torch.Tensor:
        """The stored half of the spectra as block entries ``[padded_entries, prod(weights.shape[:-1])]``
        (:meth:`~._wigner.WignerStep.analysis_entries`; what the layers' products read)."""
        return self.step.analysis_entries(self._phases(weights))

    def _phases(self, weights: torch.Tensor) -> torch.Tensor:
        """Ring phase sums ``X[S, rings, N]``, the Wigner step's input."""
        check_floating(weights, "kernel weights")
        if weights.is_complex() or weights.shape[-1:] != (self.n_points,):
            raise ValueError(
                f"kernel weights must be real with shape [..., {self.n_points}] (one per grid point); "
                f"got {tuple(weights.shape)} ({weights.dtype})"
            )
        w = weights.reshape(-1, self.n_points).transpose(0, 1)  # [P, N]
        w = torch.cat([w, w.new_zeros(1, w.shape[1])]).index_select(0, self.point_index.flatten())
        w = w.view(*self.point_index.shape, -1)  # [rings, slots, N]
        dtype = weights.dtype
        X = torch.complex(torch.bmm(self.cos.to(dtype), w), torch.bmm(self.sin.to(dtype), w))  # [rings, S, N]
        return X.permute(1, 0, 2).contiguous()


class S2PointSpectrum(_PointSpectrum):
    r"""Spectrum ``[..., b^2]`` of :math:`\sum_p w_p \delta_{x_p}` for weights ``[..., n_points]`` on an S² grid.

    ``grid`` has shape ``[n_points, 2]``, columns ``(beta, alpha)``; the result is
    :math:`\hat\psi^l_n = \sum_p w_p \overline{D^l_{n0}(\alpha_p, \beta_p, 0)}` for l < ``bandwidth``.
    """

    def __init__(self, grid, bandwidth: int):
        super().__init__(grid, bandwidth, "s2")


class SO3PointSpectrum(_PointSpectrum):
    r"""Spectrum ``[..., b(4b^2-1)/3]`` of :math:`\sum_p w_p \delta_{g_p}` for weights ``[..., n_points]`` on SO(3).

    ``grid`` has shape ``[n_points, 3]``, columns ``(beta, alpha, gamma)``; the result is
    :math:`\hat\psi^l_{mn} = \sum_p w_p \overline{D^l_{mn}(g_p)}` for l < ``bandwidth``.
    """

    def __init__(self, grid, bandwidth: int):
        super().__init__(grid, bandwidth, "so3")
