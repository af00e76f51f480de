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
transform writes that same layout, and ReLU and bias keep it. The pairs go to the Wigner step
(:class:`~._wigner.WignerStep`) in one gather that also moves N innermost, and come back in one gather. The
inverse: :math:`f = \mathrm{Re}\sum_{|m|<L}\sum_{0 \le n<L} w_n\, Y_{mn}(\beta)\, e^{i(m\alpha + n\gamma)}` with
:math:`w_0 = 1, w_n = 2` (the Hermitian half, as ``irfft2``). S² signals: analysis reads ``[N, beta, alpha]``
(α innermost, one GEMM); synthesis writes ``[alpha, N, beta]`` in memory.

FLOPs: :func:`~._flops.azimuthal_flops`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ._grids import s2_quadrature_weights, so3_quadrature_weights
from ._profiling import op_range
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
            source = lambda mm, nn: (np.asarray(mm) + L - 1) * L + np.asarray(nn)  # noqa: E731
            n_sources, weights = M * L, so3_quadrature_weights(b).numpy()
        else:
            ma = order[None, :] * angle[:, None]  # [alpha, m]
            self.alpha_fwd = t(np.stack([np.cos(ma), -np.sin(ma)], axis=1).reshape(g, 2 * L))  # [alpha, (re/im, m)]
            inv = np.stack([np.cos(ma), -np.sin(ma)], axis=2) * weight[None, :, None]  # [alpha, m, re/im]
            self.alpha_inv = t(inv.reshape(g, 2 * L))
            source = lambda mm, nn: np.asarray(mm)  # noqa: E731
            n_sources, weights = L, s2_quadrature_weights(b).numpy()
        table = soft_wigner_d_table(b, space, L)
        self.step = WignerStep(table, L, space, source, n_sources, weights, d_layout=space).to(device, dtype)
        # The step's pairs, in its order, as rows of [(n, m)] (SO(3)) or [m] (S²); each (n, m)'s position there.
        pairs = self.step.source_all.cpu().numpy()  # (m + L - 1) * L + n, or m
        if space == "so3":
            pairs = (pairs % L) * (2 * L - 1) + pairs // L
        self.pairs = torch.as_tensor(pairs, device=device)
        self.source_position = torch.as_tensor(np.argsort(pairs), device=device)


@lru_cache(maxsize=64)
def _plan(space: str, b: int, L: int, dtype: torch.dtype, device: torch.device) -> _AzimuthalPlan:
    return _AzimuthalPlan(space, b, L, dtype, device)


def analysis_entries(x: torch.Tensor, space: str, L: int) -> torch.Tensor:
    r"""Real grid signals ``[..., 2b, 2b(, 2b)]`` -> block entries ``[padded_entries, prod(...)]`` of their
    spectra's stored half for degrees l < L (:meth:`~._wigner.WignerStep.analysis_entries`)."""
    is_s2 = space == "s2"
    b = s2_bandwidth_of_signal(x) if is_s2 else so3_bandwidth_of_signal(x)
    plan = _plan(space, b, L, x.dtype, x.device)
    g = 2 * b
    with op_range("fft"):
        if is_s2:
            x = x.reshape(-1, g, g)
            N = x.shape[0]
            X = (x.reshape(-1, g) @ plan.alpha_fwd).view(N, g, 2, L)  # [N, beta, re/im, m]
            pairs = X.permute(3, 1, 0, 2).index_select(0, plan.pairs)  # [pairs, beta, N, re/im]
        else:
            x = x.reshape(-1, g, g, g)
            N = x.shape[0]
            grid = x.permute(3, 2, 0, 1).reshape(g, -1)  # [gamma, (alpha, N, beta)]: a view in the layers' layout
            A = (plan.gamma_fwd @ grid).view(L, 2 * g, N * g)  # [n, (re/im, alpha), (N, beta)]
            X = torch.bmm(plan.alpha_fwd.expand(L, -1, -1), A)  # [n, (m, re/im), (N, beta)]
            X = X.view(L * (2 * L - 1), 2, N, g).permute(0, 3, 2, 1)  # [(n, m), beta, N, re/im]
            pairs = X.index_select(0, plan.pairs)  # [pairs, beta, N, re/im]: N innermost
    with op_range("wigner_analysis"):
        return plan.step.analysis_pairs(pairs.view(-1, g, 2 * N))


def synthesis_entries(entries: torch.Tensor, space: str, L: int, b_out: int, batch_shape) -> torch.Tensor:
    r"""Block entries ``[padded_entries, N]`` of Hermitian spectra (degrees l < L) -> the real signals
    ``[*batch_shape, 2b_out, 2b_out(, 2b_out)]`` (permuted views of the memory layouts in the module docstring)."""
    plan = _plan(space, b_out, L, entries.real.dtype, entries.device)
    g = 2 * b_out
    with op_range("wigner_synthesis"):
        Y = torch.view_as_real(plan.step.synthesis_pairs(entries))  # [pairs, beta, N, re/im]
    N = Y.shape[2]
    with op_range("fft"):
        Y = Y.permute(0, 3, 2, 1)  # [pairs, re/im, N, beta]
        if space == "s2":
            Y = Y.index_select(0, plan.source_position).view(2 * L, N * g)  # [(m, re/im), (N, beta)]
            x = (plan.alpha_inv @ Y).view(g, N, g).permute(1, 2, 0)  # [N, beta, alpha]
        else:
            Y = Y.index_select(0, plan.source_position).view(L, 2 * (2 * L - 1), N * g)  # [n, (m, re/im), (N, beta)]
            V = torch.bmm(plan.alpha_inv.expand(L, -1, -1), Y)  # [n, (re/im, alpha), (N, beta)]
            x = (plan.gamma_inv @ V.view(2 * L, -1)).view(g, g, N, g)  # [gamma, alpha, N, beta]
            x = x.permute(2, 3, 1, 0)  # [N, beta, alpha, gamma]
    return x.view(*batch_shape, *x.shape[1:])
