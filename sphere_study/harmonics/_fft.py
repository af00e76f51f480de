r"""Fourier transforms on S² and SO(3): ``s2_fft``, ``s2_ifft``, ``so3_fft``, ``so3_ifft``.

Definitions (see :mod:`sphere_study.harmonics` for the conventions):

.. math::

    \hat f^l_m = \sum_{j,k} q_j\, f(\beta_j, \alpha_k)\, e^{-im\alpha_k} d^l_{m0}(\beta_j), \qquad
    f(\beta_j, \alpha_k) = \sum_{l<b} (2l+1) \sum_m \hat f^l_m\, e^{im\alpha_k} d^l_{m0}(\beta_j),

    \hat f^l_{mn} = \sum_{j,k,t} w_j\, f(\beta_j, \alpha_k, \gamma_t)\, e^{-im\alpha_k} d^l_{mn}(\beta_j)
    e^{-in\gamma_t}, \qquad
    f(\beta_j, \alpha_k, \gamma_t) = \sum_{l<b} (2l+1) \sum_{m,n} \hat f^l_{mn}\, e^{im\alpha_k} d^l_{mn}(\beta_j)
    e^{in\gamma_t},

with the SOFT quadrature weights :math:`w_j` (:math:`q_j = 2b\,w_j`); quadrature is exact for band-limited signals,
so ``ifft(fft(f)) == f`` to rounding.

Algorithm: ``torch.fft.rfft``/``rfft2`` over the azimuthal axes, then the :class:`~._wigner.WignerStep` (batched
matrix products over β, a fixed handful of them). Real signals only need the orders n >= 0; a complex signal is
transformed as its real and imaginary parts stacked along the batch, which costs the same as a complex transform.

Spectra are complex tensors ``[..., nspec]`` (spectral axis last).

Memory layout: the results are permuted views, not contiguous tensors. Spectra have the spectral axis outermost in
memory (what the spectral products read). Grid signals come out of the inverse FFT over the leading axes of
``[m, (n,) beta, N]``; torch's CPU FFT stores that result with the transformed axes innermost, ``[beta, N, alpha(,
gamma)]`` in memory. The forward transforms read any layout (and skip a transposition when the batch axis is
innermost). The views behave like any tensor; call ``.contiguous()`` when a contiguous standard layout is needed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ._grids import s2_quadrature_weights, so3_quadrature_weights
from ._profiling import op_range
from ._validation import (
    check_bandwidth,
    s2_bandwidth_of_signal,
    s2_bandwidth_of_spectrum,
    s2_nspec,
    so3_bandwidth_of_signal,
    so3_bandwidth_of_spectrum,
    so3_nspec,
)
from ._wigner import WignerStep, soft_wigner_d_table

__all__ = ["s2_fft", "s2_ifft", "so3_fft", "so3_ifft", "soft_wigner_step"]


def _fft_source_index(space: str, grid_b: int):
    """Where pair (m, n) sits in the flattened rfft output: [m] (S², m >= 0) or [m mod 2b, n] (SO(3), n >= 0)."""
    if space == "s2":
        return lambda m, n: np.asarray(m)  # 0 <= m < b
    return lambda m, n: np.mod(m, 2 * grid_b) * (grid_b + 1) + n


@lru_cache(maxsize=64)
def soft_wigner_step(space: str, grid_b: int, spec_b: int, dtype: torch.dtype, device: torch.device) -> WignerStep:
    """The Wigner step between the SOFT grid of bandwidth ``grid_b`` and degrees l < ``spec_b`` (<= grid_b).

    Cached per (space, bandwidths, dtype, device): every transform at these sizes shares one set of tables.
    """
    if spec_b > grid_b:
        raise ValueError(f"spectral bandwidth {spec_b} exceeds grid bandwidth {grid_b}")
    n_sources = grid_b + 1 if space == "s2" else 2 * grid_b * (grid_b + 1)
    quadrature = (s2_quadrature_weights if space == "s2" else so3_quadrature_weights)(grid_b).numpy()
    table = soft_wigner_d_table(grid_b, space, spec_b)  # only the columns this step reads
    step = WignerStep(table, spec_b, space, _fft_source_index(space, grid_b), n_sources, quadrature, d_layout=space)
    return step.to(device=device, dtype=dtype)


class _AzimuthalFFT(torch.autograd.Function):
    r"""Real FFT over the azimuthal axes of ``x`` ``[N, beta, alpha(, gamma)]``, as the Wigner step's input
    ``[pairs, beta, N]`` (pairs: m >= 0 on S²; (m mod 2b, n >= 0) on SO(3)), contiguous.

    Backward: for :math:`y_k = \sum_j x_j e^{-2\pi i jk/n}` (k = 0..n/2 on the halved axis) the gradient is
    :math:`\partial L/\partial x_j = \mathrm{Re}\sum_k g_k e^{2\pi ijk/n}`, which ``irfftn(g', norm="forward")``
    computes when :math:`g'_k = g_k/2` for the orders that stand for a conjugate pair (all but k = 0 and n/2). It
    runs over the leading axes of the contiguous gradient, so nothing is transposed. torch's own backward of
    ``rfftn`` zero-pads the gradient to the full spectrum and runs a complex transform on it, then transposes: twice
    the work, a zero fill and two copies of the grid. The backward is made of differentiable ops (double backward
    works).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        N, two_b = x.shape[0], x.shape[1]
        azimuthal = tuple(range(x.dim() - 2))  # [alpha(, gamma)] leading in the batch-inner order
        ctx.sizes = x.shape[2:]
        batch_inner = x.permute(2, 1, 0) if x.dim() == 3 else x.permute(2, 3, 1, 0)  # [alpha(, gamma), beta, N]
        if batch_inner.is_contiguous():  # stored angles-first, batch innermost: transform in place, no transposition
            X = torch.fft.rfftn(batch_inner, dim=azimuthal)
        else:
            X = torch.fft.rfftn(x, dim=tuple(range(2, x.dim())))  # [N, beta, m(, n)]
            X = X.permute(2, 1, 0) if x.dim() == 3 else X.permute(2, 3, 1, 0)
        return X.reshape(-1, two_b, N).contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        sizes = tuple(ctx.sizes)
        half = sizes[-1] // 2 + 1
        grad = grad.reshape(*sizes[:-1], half, *grad.shape[1:])  # [m(, n), beta, N]
        weight = torch.full((half,), 0.5, dtype=grad.real.dtype, device=grad.device)
        weight[0] = 1.0
        if sizes[-1] % 2 == 0:
            weight[-1] = 1.0
        last = len(sizes) - 1
        weight = weight.view(-1, *([1] * (grad.dim() - 1 - last)))
        x = torch.fft.irfftn(grad * weight, s=sizes, dim=tuple(range(len(sizes))), norm="forward")
        return x.permute(2, 1, 0) if len(sizes) == 1 else x.permute(3, 2, 0, 1)  # [N, beta, alpha(, gamma)]


def _real_dtype(x: torch.Tensor) -> torch.dtype:
    return x.real.dtype if x.is_complex() else x.dtype


def _stack_real_imag(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """A complex signal as [2, ...] real (real part, imaginary part); a real one unchanged."""
    if x.is_complex():
        return torch.stack([x.real, x.imag]), True
    return x, False


def _resize_spectrum(xhat: torch.Tensor, nspec_out: int) -> torch.Tensor:
    """Truncate (a prefix: spectra are ordered by degree) or zero-fill the last axis to ``nspec_out``."""
    n = xhat.shape[-1]
    if nspec_out <= n:
        return xhat[..., :nspec_out]
    return torch.nn.functional.pad(xhat, (0, nspec_out - n))


def _analysis(x: torch.Tensor, space: str, b_out: int | None) -> torch.Tensor:
    """Shared body of s2_fft / so3_fft."""
    is_s2 = space == "s2"
    b = s2_bandwidth_of_signal(x) if is_s2 else so3_bandwidth_of_signal(x)
    b_out = b if b_out is None else check_bandwidth(b_out, "b_out")
    L = min(b, b_out)
    x, was_complex = _stack_real_imag(x)
    dtype = _real_dtype(x)
    ndim_grid = 2 if is_s2 else 3
    batch_shape = x.shape[:-ndim_grid]
    x = x.reshape(-1, *x.shape[-ndim_grid:])  # [N, 2b (beta), 2b (alpha) (, 2b (gamma))]
    with op_range("fft"):
        X = _AzimuthalFFT.apply(x)  # [pairs, beta, N], N innermost: what the Wigner step multiplies
    step = soft_wigner_step(space, b, L, dtype, x.device)
    with op_range("wigner_analysis"):
        spec = step.analysis(X)  # [nspec(L), N]
        spec = spec.transpose(0, 1).reshape(*batch_shape, -1)
    if was_complex:
        spec = spec[0] + 1j * spec[1]
    nspec_out = s2_nspec(b_out) if is_s2 else so3_nspec(b_out)
    return _resize_spectrum(spec, nspec_out)


def _synthesis(xhat: torch.Tensor, space: str, b_out: int | None, real: bool) -> torch.Tensor:
    """Shared body of s2_ifft / so3_ifft."""
    is_s2 = space == "s2"
    b_in = s2_bandwidth_of_spectrum(xhat) if is_s2 else so3_bandwidth_of_spectrum(xhat)
    b = b_in if b_out is None else check_bandwidth(b_out, "b_out")
    L = min(b_in, b)
    if not xhat.is_complex():
        xhat = torch.complex(xhat, torch.zeros_like(xhat))
    xhat = _resize_spectrum(xhat, s2_nspec(L) if is_s2 else so3_nspec(L))
    dtype = xhat.real.dtype
    batch_shape = xhat.shape[:-1]
    F = xhat.reshape(-1, xhat.shape[-1]).transpose(0, 1)  # [nspec, N]
    N = F.shape[1]
    step = soft_wigner_step(space, b, L, dtype, xhat.device)
    with op_range("wigner_synthesis"):
        Y = step.synthesis(F, real)  # [sources, beta, N'] (N' = 2N: real and imaginary parts when not real)
    # Transform over the leading axes of the Wigner step's output, and return a permuted view [N', beta, alpha(,
    # gamma)] of whatever layout torch's FFT chose: no transposition of the whole grid here (a third of the time).
    with op_range("fft"):
        if is_s2:
            x = torch.fft.irfft(Y, n=2 * b, dim=0, norm="forward").permute(2, 1, 0)  # [N', beta, alpha]
        else:
            Y = Y.reshape(2 * b, b + 1, 2 * b, -1)  # [m, n >= 0, beta, N']
            x = torch.fft.irfft2(Y, s=(2 * b, 2 * b), dim=(0, 1), norm="forward").permute(3, 2, 0, 1)
    if not real:
        x = torch.complex(x[:N], x[N:])
    return x.reshape(*batch_shape, *x.shape[1:])


def s2_fft(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
    r"""Fourier transform on S²: grid ``[..., 2b, 2b]`` (real or complex) -> spectrum ``[..., b_out**2]`` (complex).

    .. math:: \hat f^l_m = \frac{1}{4\pi} \int_{S^2} f(x)\, \overline{D^l_{m0}(\alpha, \beta, 0)}\, dx

    ``b_out`` defaults to the input bandwidth; a smaller one truncates the spectrum, a larger one zero-fills it.
    Differentiable; float32/float64 (complex64/complex128); CPU and CUDA.

    Examples
    --------
    >>> x = torch.ones(3, 8, 8, dtype=torch.float64)
    >>> xhat = s2_fft(x)
    >>> xhat.shape
    torch.Size([3, 16])
    >>> bool(torch.allclose(xhat[:, 0].real, torch.ones(3, dtype=torch.float64)))  # the mean of f is its l=0 part
    True
    """
    return _analysis(x, "s2", b_out)


def s2_ifft(xhat: torch.Tensor, b_out: int | None = None, *, real: bool = False) -> torch.Tensor:
    r"""Inverse Fourier transform on S²: spectrum ``[..., b**2]`` -> grid ``[..., 2b_out, 2b_out]``.

    .. math:: f(x) = \sum_{l<b} (2l+1) \sum_{m=-l}^{l} \hat f^l_m\, D^l_{m0}(\alpha, \beta, 0)

    Returns a complex signal, or with ``real=True`` its real part at half the cost (for the spectrum of a real
    signal that *is* the signal). ``b_out`` defaults to the spectrum's bandwidth; a larger one samples the same
    band-limited function on a finer grid, a smaller one drops the degrees l >= b_out first.

    Examples
    --------
    >>> x = torch.randn(2, 8, 8, dtype=torch.float64)
    >>> y = s2_ifft(s2_fft(x, b_out=2), real=True)  # low-pass: keep degrees l < 2
    >>> y.shape
    torch.Size([2, 4, 4])
    """
    return _synthesis(xhat, "s2", b_out, real)


def so3_fft(x: torch.Tensor, b_out: int | None = None) -> torch.Tensor:
    r"""Fourier transform on SO(3): grid ``[..., 2b, 2b, 2b]`` -> spectrum ``[..., b_out(4 b_out^2 - 1)/3]``.

    .. math:: \hat f^l_{mn} = \int_{SO(3)} f(g)\, \overline{D^l_{mn}(g)}\, dg \quad (\text{Haar}, \textstyle\int 1 = 1)

    ``b_out`` defaults to the input bandwidth; a smaller one truncates, a larger one zero-fills.

    Examples
    --------
    >>> x = torch.randn(4, 6, 6, 6, dtype=torch.float64)
    >>> xhat = so3_fft(x)
    >>> xhat.shape
    torch.Size([4, 35])
    """
    return _analysis(x, "so3", b_out)


def so3_ifft(xhat: torch.Tensor, b_out: int | None = None, *, real: bool = False) -> torch.Tensor:
    r"""Inverse Fourier transform on SO(3): spectrum ``[..., b(4b^2-1)/3]`` -> grid ``[..., 2b_out, 2b_out, 2b_out]``.

    .. math:: f(g) = \sum_{l<b} (2l+1) \sum_{m,n=-l}^{l} \hat f^l_{mn}\, D^l_{mn}(g)

    Complex output, or its real part with ``real=True`` (half the cost).

    Examples
    --------
    >>> xhat = so3_fft(torch.randn(2, 6, 6, 6, dtype=torch.float64), b_out=2)
    >>> x = so3_ifft(xhat, b_out=3, real=True)  # a degree-<2 signal sampled at b = 3
    >>> bool(torch.allclose(so3_fft(x, b_out=2), xhat, atol=1e-12))
    True
    """
    return _synthesis(xhat, "so3", b_out, real)
