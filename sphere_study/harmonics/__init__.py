r"""Harmonic analysis on S² and SO(3): grids, quadrature, Wigner tables, Fourier transforms, rotations.

Math only: no learnable parameters, nothing from Lightning.

Conventions (fixed here once; every module and test follows them)
----------------------------------------------------------------
**Bandwidth.** A bandwidth ``b`` means degrees :math:`0 \le l < b` (exclusive) and the SOFT grid of
:math:`2b` points per angle,

.. math:: \beta_j = \frac{\pi(2j+1)}{4b}, \quad \alpha_k = \gamma_k = \frac{2\pi k}{2b}, \quad j,k = 0..2b-1.

**Signals.** S² signals are tensors ``[..., 2b, 2b]`` indexed ``(beta, alpha)``; SO(3) signals ``[..., 2b, 2b, 2b]``
indexed ``(beta, alpha, gamma)``. Any leading batch/channel dimensions are allowed.

**Rotations.** ``(alpha, beta, gamma)`` names :math:`R = R_z(\alpha) R_y(\beta) R_z(\gamma)`; the point
:math:`(\beta, \alpha)` of S² is :math:`R e_z`. Q acts by :math:`(L_Q f)(x) = f(Q^{-1}x)` and
:math:`(L_Q f)(R) = f(Q^{-1}R)`.

**Wigner functions.** :math:`D^l_{mn}(\alpha,\beta,\gamma) = e^{im\alpha} d^l_{mn}(\beta) e^{in\gamma}` with
:math:`d^l` from lie_learn (complex field, quantum normalisation, centred order, Condon–Shortley phase). With this
convention :math:`D^l` is a unitary representation, :math:`D^l(R_1 R_2) = D^l(R_1) D^l(R_2)`.

**Spectra.** Complex tensors whose *last* axis is spectral, ``[..., nspec]``:

* S²: :math:`\hat f^l_m = \frac{1}{4\pi}\int f(x)\, \overline{D^l_{m0}(\alpha,\beta,0)}\, dx`, at index
  :math:`l^2 + (m + l)`, ``nspec = b**2``; inverse :math:`f = \sum_l (2l+1) \sum_m \hat f^l_m D^l_{m0}`.
* SO(3): :math:`\hat f^l_{mn} = \int f(g)\, \overline{D^l_{mn}(g)}\, dg` (Haar, :math:`\int 1 = 1`), at index
  :math:`l(4l^2-1)/3 + (m+l)(2l+1) + (n+l)`, ``nspec = b(4b^2-1)/3``; inverse
  :math:`f = \sum_l (2l+1) \sum_{mn} \hat f^l_{mn} D^l_{mn}`.

.. seealso:: ``DESIGN.md`` (the conventions and the layer definitions built on them).
"""

from ._evaluate import s2_evaluate, so3_evaluate
from ._fft import s2_fft, s2_ifft, so3_fft, so3_ifft
from ._flops import azimuthal_fft_flops, azimuthal_flops, fft_flops, spectral_product_flops
from ._grids import (
    s2_equatorial_grid,
    s2_grid_points,
    s2_near_identity_grid,
    s2_quadrature_weights,
    s2_soft_grid,
    so3_equatorial_grid,
    so3_near_identity_grid,
    so3_quadrature_weights,
    so3_soft_grid,
)
from ._point_spectra import S2PointSpectrum, SO3PointSpectrum
from ._products import s2_mm, so3_mm, so3_sum_n, so3_to_s2_mm
from ._rotation import (
    euler_angles,
    random_euler_angles,
    random_rotation,
    rotation_matrix,
    s2_rotate,
    s2_rotate_spectrum,
    so3_rotate,
    so3_rotate_spectrum,
    wigner_D,
)
from ._validation import MAX_BANDWIDTH, s2_nspec, so3_nspec
from ._wigner import soft_wigner_d_table, wigner_d_rows

__all__ = [
    "s2_fft",
    "s2_ifft",
    "so3_fft",
    "so3_ifft",
    "fft_flops",
    "azimuthal_fft_flops",
    "azimuthal_flops",
    "spectral_product_flops",
    "s2_evaluate",
    "so3_evaluate",
    "MAX_BANDWIDTH",
    "s2_nspec",
    "so3_nspec",
    "s2_soft_grid",
    "so3_soft_grid",
    "s2_grid_points",
    "s2_quadrature_weights",
    "so3_quadrature_weights",
    "s2_near_identity_grid",
    "s2_equatorial_grid",
    "so3_near_identity_grid",
    "so3_equatorial_grid",
    "rotation_matrix",
    "euler_angles",
    "random_rotation",
    "random_euler_angles",
    "wigner_D",
    "s2_rotate_spectrum",
    "so3_rotate_spectrum",
    "s2_rotate",
    "so3_rotate",
    "s2_mm",
    "so3_mm",
    "so3_sum_n",
    "so3_to_s2_mm",
    "S2PointSpectrum",
    "SO3PointSpectrum",
    "wigner_d_rows",
    "soft_wigner_d_table",
]
