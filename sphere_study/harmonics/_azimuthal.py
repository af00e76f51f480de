r"""The layers' transforms: azimuthal DFTs as matrix products, fused with the Wigner step's block entries.

A layer's transforms need only the orders :math:`|m|, n < L` (L = the layer's bandwidth, often below the grid's b)
of real signals, and their grids have 2b <= 100 points per axis. For those sizes a DFT written as a matrix product
runs at the machine's GEMM rate, many times faster than ``torch.fft`` on these short, strided axes, and it computes
only the orders it keeps. For a signal :math:`f[N, \beta, \alpha, \gamma]` (SO(3); S² has no γ):

.. math::

    A_n(\beta, \alpha) = \sum_t f(\beta, \alpha, \gamma_t)\, e^{-in\gamma_t} \quad (0 \le n < L),
    \qquad X_{mn}(\beta) = \sum_k A_n(\beta, \alpha_k)\, e^{-im\alpha_k} \quad (|m| < L),

two real matrix products with real and imaginary parts stacked in the contraction. Memory layout: SO(3) signals
between layers are stored angles-outermost, ``[gamma, alpha, N, beta]`` in memory (a permuted view of the logical
``[N, beta, alpha, gamma]``), so that the γ step is one GEMM contracting the outermost axis, and the α step one
batched GEMM per order n with large matrices (its shared DFT operand has batch stride 0: no copies); the inverse
transform writes that same layout, and ReLU and bias keep it. The α step's output is already one row per pair
(n, m), holding real and imaginary parts of all N signals with β innermost: the Wigner step
(:meth:`~._wigner.WignerStep.rows_to_entries`) multiplies those rows as they are (a transposed operand, not a
transposed copy) and its inverse writes them back in that layout; only whole rows move. The
inverse: :math:`f = \mathrm{Re}\sum_{|m|<L}\sum_{0 \le n<L} w_n\, Y_{mn}(\beta)\, e^{i(m\alpha + n\gamma)}` with
:math:`w_0 = 1, w_n = 2` (the Hermitian half, as ``irfft2``). S² signals: analysis reads ``[N, beta, alpha]``
(α innermost, one GEMM, rows m); synthesis writes ``[alpha, N, beta]`` in memory.

Each transform is one autograd function over its chain of products (:class:`~._chain.Chain`): the intermediate results,
as large as the grid, go to reusable scratch memory (:mod:`._workspace`) instead of fresh allocations, and the
backward is the adjoint chain (transposed matrices, the Wigner step the other way), so a gradient costs what the
forward costs and nothing grid-sized is stored. A synthesis returns its grid as a tensor of its own (not a view),
so that an in-place ReLU on it is cheap for autograd.

FLOPs: :func:`~._flops.azimuthal_flops`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ._chain import Chain, Stage, adjoint, complex_entries, split_entries
from ._grids import s2_quadrature_weights, so3_quadrature_weights
from ._validation import s2_bandwidth_of_signal, so3_bandwidth_of_signal
from ._wigner import WignerStep, soft_wigner_d_table

__all__ = ["analysis_entries", "synthesis_entries"]


class _AzimuthalPlan:
    """DFT matrices and the Wigner step of one (space, grid bandwidth b, spectral bandwidth L, dtype, device)."""

    def __init__(self, space: str, b: int, L: int, dtype: torch.dtype, device):
        self.space, self.b, self.L = space, b, L
        g = 2 * b
        angle = 2 * np.pi * np.arange(g) / g  # alpha_k = gamma_k
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        order = np.arange(L)
        weight = np.where(order == 0, 1.0, 2.0)  # the inverse's w_n (SO(3)) / w_m (S²): the Hermitian half
        if space == "so3":
            m = np.arange(-L + 1, L)
            M = len(m)
            ng = order[:, None] * angle[None, :]  # [n, gamma]
            # gamma, forward: rows (n, re/im), columns gamma: (cos, -sin)(n gamma).
            self.gamma_fwd = t(np.stack([np.cos(ng), -np.sin(ng)], axis=1).reshape(2 * L, g))
            # gamma, inverse: rows gamma, columns (n, re/im): w_n (cos, -sin)(n gamma), the real part of the sum.
            inv = np.stack([np.cos(ng), -np.sin(ng)], axis=1) * weight[:, None, None]  # [n, re/im, gamma]
            self.gamma_inv = t(inv.reshape(2 * L, g).T)
            ma = m[:, None] * angle[None, :]  # [m, alpha]
            c, s = np.cos(ma), np.sin(ma)
            # alpha, forward, on complex A_n: rows (m, re/im out), columns (re/im in, alpha).
            fa = np.zeros((M, 2, 2, g))
            fa[:, 0, 0], fa[:, 0, 1] = c, s  # Re: cos A_re + sin A_im
            fa[:, 1, 0], fa[:, 1, 1] = -s, c  # Im: cos A_im - sin A_re
            self.alpha_fwd = t(fa.reshape(2 * M, 2 * g))
            # alpha, inverse: rows (re/im out, alpha), columns (m, re/im in).
            ia = np.zeros((2, g, M, 2))
            ia[0, :, :, 0], ia[0, :, :, 1] = c.T, -s.T  # Re: cos Y_re - sin Y_im
            ia[1, :, :, 0], ia[1, :, :, 1] = s.T, c.T  # Im: sin Y_re + cos Y_im
            self.alpha_inv = t(ia.reshape(2 * g, 2 * M))
            source = lambda mm, nn: np.asarray(nn) * M + np.asarray(mm) + L - 1  # noqa: E731  row (n, m)
            n_sources, weights = M * L, so3_quadrature_weights(b).numpy()
        else:
            ma = order[None, :] * angle[:, None]  # [alpha, m]
            # forward: rows (m, re/im), columns alpha: (cos, -sin)(m alpha).
            self.alpha_fwd = t(np.stack([np.cos(ma), -np.sin(ma)], axis=2).reshape(g, 2 * L).T)
            inv = np.stack([np.cos(ma), -np.sin(ma)], axis=2) * weight[None, :, None]  # [alpha, m, re/im]
            self.alpha_inv = t(inv.reshape(g, 2 * L))
            source = lambda mm, nn: np.asarray(mm)  # noqa: E731  row m
            n_sources, weights = L, s2_quadrature_weights(b).numpy()
        table = soft_wigner_d_table(b, space, L)
        self.step = WignerStep(table, L, space, source, n_sources, weights, d_layout=space).to(device, dtype)
        to_entries = Stage("to_entries", self.step, "weighted_table", label="wigner_analysis")
        to_rows = Stage("to_rows", self.step, "synthesis_table", label="wigner_synthesis")
        if space == "so3":
            self.analysis = (Stage("mm", self.gamma_fwd), Stage("bmm", self.alpha_fwd, batch=L), to_entries)
            self.synthesis = (to_rows, Stage("bmm", self.alpha_inv, batch=L), Stage("mm", self.gamma_inv))
        else:
            self.analysis = (Stage("mm", self.alpha_fwd), to_entries)
            self.synthesis = (to_rows, Stage("mm", self.alpha_inv))


@lru_cache(maxsize=64)
def _plan(space: str, b: int, L: int, dtype: torch.dtype, device: torch.device) -> _AzimuthalPlan:
    return _AzimuthalPlan(space, b, L, dtype, device)


def analysis_entries(x: torch.Tensor, space: str, L: int) -> torch.Tensor:
    r"""Real grid signals ``[..., 2b, 2b(, 2b)]`` -> block entries ``[padded_entries, prod(...)]`` of their
    spectra's stored half for degrees l < L (the layout of :meth:`~._wigner.WignerStep.analysis_entries`)."""
    is_s2 = space == "s2"
    b = s2_bandwidth_of_signal(x) if is_s2 else so3_bandwidth_of_signal(x)
    plan = _plan(space, b, L, x.dtype, x.device)
    g = 2 * b
    if is_s2:
        x = x.reshape(-1, g, g)
        N = x.shape[0]
        matrix = x.reshape(N * g, g).t()  # [alpha, (N, beta)]: a transposed view
    else:
        x = x.reshape(-1, g, g, g)
        N = x.shape[0]
        matrix = x.permute(3, 2, 0, 1).reshape(g, -1)  # [gamma, (alpha, N, beta)]: a view in the layers' layout
    return complex_entries(Chain.apply(matrix, plan.analysis, adjoint(plan.analysis), None))


def synthesis_entries(entries: torch.Tensor, space: str, L: int, b_out: int, batch_shape) -> torch.Tensor:
    r"""Block entries ``[padded_entries, N]`` of Hermitian spectra (degrees l < L) -> the real signals
    ``[*batch_shape, 2b_out, 2b_out(, 2b_out)]``, each a tensor of its own laid out as the module docstring says."""
    plan = _plan(space, b_out, L, entries.real.dtype, entries.device)
    g = 2 * b_out
    N = entries.shape[1]
    split = split_entries(entries)  # [entries, (re/im, N)]
    batch_shape = tuple(batch_shape)
    if int(np.prod(batch_shape)) != N:
        raise ValueError(f"batch shape {batch_shape} does not hold the {N} signals of the entries")
    k = len(batch_shape)
    if space == "s2":  # [*batch, beta, alpha] stored [alpha, *batch, beta]
        shape, order = (*batch_shape, g, g), (k + 1, *range(k), k)
    else:  # [*batch, beta, alpha, gamma] stored [gamma, alpha, *batch, beta]
        shape, order = (*batch_shape, g, g, g), (k + 2, k + 1, *range(k), k)
    return Chain.apply(split, plan.synthesis, adjoint(plan.synthesis), (shape, order))
