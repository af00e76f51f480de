r"""The layers' transforms: azimuthal DFTs as matrix products, fused with the Wigner step's block entries.

A layer's transforms need only the orders :math:`|m|, n < L` (L = the layer's bandwidth, often below the grid's b)
of real signals, and their grids have 2b <= 100 points per axis. For those sizes a DFT written as a matrix product
runs at the machine's GEMM rate, many times faster than ``torch.fft`` on these short, strided axes, and it computes
only the orders it keeps. For a signal :math:`f[N, \beta, \alpha, \gamma]` (SO(3); S² has no γ):

.. math::

    A_n(\beta, \alpha) = \sum_t f(\beta, \alpha, \gamma_t)\, e^{-in\gamma_t} \quad (0 \le n < L),
    \qquad X_{mn}(\beta) = \sum_k A_n(\beta, \alpha_k)\, e^{-im\alpha_k} \quad (|m| < L),

as real matrix products. The α step takes cosine and sine sums :math:`C_m, S_m` (0 <= m < L) of the real and of
the imaginary part of each :math:`A_n`, half the multiply-adds of computing every order's sum, and a butterfly of
additions gives :math:`X_{\pm m,n} = C_m \mp iS_m` (:func:`~._chain.butterfly`). Memory layout: SO(3) signals between
layers are stored angles-outermost, ``[gamma, alpha, N, beta]`` in memory (a permuted view of the logical
``[N, beta, alpha, gamma]``), so that the γ step is one GEMM contracting the outermost axis, and the α step one
batched GEMM over (n, re/im) with large matrices (its shared DFT operand has batch stride 0: no copies); the inverse
transform writes that same layout. After the butterfly there is one row per pair (n, m) (orders m >= 0, then -1,
-2, ...), holding real and imaginary parts of all N signals with β innermost: the Wigner step
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
            # alpha, on complex A_n, as cosine and sine sums of its real and imaginary parts (orders 0 <= m < L; the
            # butterfly turns them into the orders +-m): rows (cos/sin, m), columns alpha. Inverse: its transpose.
            ma = order[:, None] * angle[None, :]  # [m, alpha]
            cos_sin = np.concatenate([np.cos(ma), np.sin(ma)])  # [(cos/sin, m), alpha]; the sin row m = 0 is zero
            self.alpha_fwd, self.alpha_inv = t(cos_sin), t(cos_sin.T)

            # Rows of the Wigner step's input: (n, m) with the orders m = 0..L-1 first, then -1, -2, ..., -(L-1).
            def source(mm, nn):
                mm = np.asarray(mm)
                return np.asarray(nn) * M + np.where(mm >= 0, mm, L - 1 - mm)

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
            alpha_fwd, alpha_inv = Stage("bmm", self.alpha_fwd, batch=2 * L), Stage("bmm", self.alpha_inv, batch=2 * L)
            self.analysis = (Stage("mm", self.gamma_fwd), alpha_fwd, Stage("butterfly", L), to_entries)
            self.synthesis = (to_rows, Stage("butterfly_t", L), alpha_inv, Stage("mm", self.gamma_inv))
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


def synthesis_entries(
    entries: torch.Tensor, space: str, L: int, b_out: int, batch_shape, relu: bool = False
) -> torch.Tensor:
    r"""Block entries ``[padded_entries, N]`` of Hermitian spectra (degrees l < L) -> the real signals
    ``[*batch_shape, 2b_out, 2b_out(, 2b_out)]``, each a tensor of its own laid out as the module docstring says;
    with ``relu`` their ReLU, fused into the transform (:class:`~._chain.Chain`)."""
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
    return Chain.apply(split, plan.synthesis, adjoint(plan.synthesis), (shape, order), relu)
