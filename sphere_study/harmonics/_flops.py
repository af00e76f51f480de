r"""Floating-point operation counts of the S2CNN operations (real flops: a complex multiply-add is 8, a real one 2).

These are the counts of what the implementation executes (padding included), the numerators of the achieved rates
that ``scripts/benchmark_models.py --profile`` prints. Backward passes: the transforms are linear maps with constant
tables, so their backward costs the same as their forward; a spectral product's backward computes the gradient of
both operands, twice its forward.
"""

from __future__ import annotations

import math

from ._wigner import WignerStep

__all__ = ["azimuthal_flops", "azimuthal_fft_flops", "fft_flops", "wigner_step_flops", "spectral_product_flops"]


def azimuthal_flops(space: str, b: int, L: int, n_signals: int) -> float:
    r"""The layers' azimuthal DFTs as matrix products (:mod:`._azimuthal`), one analysis or synthesis:

    .. math:: \text{S}^2:\ 2N (2b)^2\, 2L, \qquad \text{SO(3)}:\ 2N\big((2b)^3\, 2L + (2b)^2\, 2L \cdot 2L\big)

    (SO(3): the γ step, then cosine and sine sums over α of each order's real and imaginary part; the butterfly
    that combines them into the orders ±m is additions, not counted, like other elementwise work).
    """
    g = 2 * b
    if space == "s2":
        return 2.0 * n_signals * g * g * 2 * L
    return 2.0 * n_signals * (g**3 * 2 * L + g * g * 2 * L * 2 * L)


def fft_flops(n_points: int, n_transforms: int = 1, real: bool = True) -> float:
    r"""The conventional flop count of ``n_transforms`` FFTs of ``n_points`` points each (a multi-dimensional transform
    counts as one of ``n_points`` = the product of its sizes):

    .. math:: \text{complex:}\ 5\, n \log_2 n, \qquad \text{real (forward or inverse):}\ \tfrac52\, n \log_2 n

    per transform (the radix-2 count; torch's FFT libraries execute about this for the sizes used here). A transform
    of one point costs nothing.

    Examples
    --------
    >>> fft_flops(8, n_transforms=3, real=False)  # 3 x 5 * 8 * 3
    360.0
    >>> fft_flops(8, real=True)
    60.0
    """
    if n_points <= 1 or n_transforms <= 0:
        return 0.0
    per_transform = (2.5 if real else 5.0) * n_points * math.log2(n_points)
    return float(n_transforms) * per_transform


def azimuthal_fft_flops(space: str, b: int, n_signals: int) -> float:
    r"""Real FFTs over the azimuthal axes of ``n_signals`` signals on the bandwidth-b grid (forward or inverse), as
    ``s2_fft``/``so3_fft`` and their inverses run them (``torch.fft.rfftn``/``irfftn``, one transform per β row).

    With the usual :math:`\tfrac52 n\log_2 n` for a real transform of n points (half the complex
    :math:`5 n \log_2 n`, :func:`fft_flops`):

    .. math:: \text{S}^2:\ N \cdot 2b \cdot \tfrac52 (2b)\log_2(2b), \qquad
              \text{SO(3)}:\ N \cdot 2b \cdot \tfrac52 (2b)^2 \log_2 (2b)^2 .
    """
    n = 2 * b if space == "s2" else (2 * b) ** 2
    return fft_flops(max(n, 2), n_transforms=n_signals * 2 * b, real=True)


def wigner_step_flops(step: WignerStep, n_signals: int) -> float:
    r"""One analysis or synthesis of ``n_signals`` signals: real tables times complex data,
    :math:`4 \cdot E \cdot J \cdot N` for E (padded) table entries per β and J β values (see
    :meth:`WignerStep.flops`)."""
    return float(step.flops(n_signals))


def spectral_product_flops(kind: str, b: int, n: int, c_in: int, c_out: int) -> float:
    r"""Useful flops of the layers' products (:func:`~._products.entry_product`, which computes only the stored half
    of the output of a real signal) for N spectra of C_in channels and C_out outputs:

    .. math:: \texttt{s2\_mm}:\ 8 N C_{in} C_{out} \sum_{l<b} (2l+1)(l+1), \qquad
              \texttt{so3\_mm}:\ 8 N C_{in} C_{out} \sum_{l<b} (2l+1)^2 (l+1),

              \texttt{so3\_to\_s2\_mm}:\ 8 N C_{in} C_{out} \sum_{l<b} (l+1)(2l+1)

    (output orders n >= 0 of (2l+1) x (2l+1) products per degree; SO3ToS2 rows m >= 0 of a (2l+1)-long contraction).
    The flat ``s2_mm``/``so3_mm`` on whole spectra do twice that.
    """
    per_degree = {
        "s2_mm": lambda l: (2 * l + 1) * (l + 1),
        "so3_mm": lambda l: (2 * l + 1) ** 2 * (l + 1),
        "so3_to_s2_mm": lambda l: (l + 1) * (2 * l + 1),
    }[kind]
    return 8.0 * n * c_in * c_out * sum(per_degree(l) for l in range(b))
