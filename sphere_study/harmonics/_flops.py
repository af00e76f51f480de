r"""Floating-point operation counts of the S2CNN operations (real flops: a complex multiply-add is 8, a real one 2).

These are the counts of what the implementation executes (padding included), the numerators of the achieved rates
that ``scripts/benchmark_models.py --profile`` prints. Backward passes: the transforms are linear maps with constant
tables, so their backward costs the same as their forward; a spectral product's backward computes the gradient of
both operands, twice its forward.
"""

from __future__ import annotations

import math

from ._wigner import WignerStep

__all__ = ["azimuthal_fft_flops", "wigner_step_flops", "spectral_product_flops"]


def azimuthal_fft_flops(space: str, b: int, n_signals: int) -> float:
    r"""Real FFTs over the azimuthal axes of ``n_signals`` signals on the bandwidth-b grid (forward or inverse).

    With the usual :math:`\tfrac52 n\log_2 n` for a real transform of n points (half the complex
    :math:`5 n \log_2 n`):

    .. math:: \text{S}^2:\ N \cdot 2b \cdot \tfrac52 (2b)\log_2(2b), \qquad
              \text{SO(3)}:\ N \cdot 2b \cdot \tfrac52 (2b)^2 \log_2 (2b)^2 .
    """
    n = 2 * b if space == "s2" else (2 * b) ** 2
    return n_signals * 2 * b * 2.5 * n * math.log2(max(n, 2))


def wigner_step_flops(step: WignerStep, n_signals: int) -> float:
    r"""One analysis or synthesis of ``n_signals`` signals: real tables times complex data,
    :math:`4 \cdot E \cdot J \cdot N` for E (padded) table entries per β and J β values (see
    :meth:`WignerStep.flops`)."""
    return float(step.flops(n_signals))


def spectral_product_flops(kind: str, b: int, n: int, c_in: int, c_out: int) -> float:
    r"""Useful flops of ``s2_mm`` / ``so3_mm`` / ``so3_to_s2_mm`` for N spectra of C_in channels, C_out outputs:

    .. math:: \texttt{s2\_mm}, \texttt{so3\_to\_s2\_mm}:\ 8 N C_{in} C_{out} \sum_{l<b} (2l+1)^2, \qquad
              \texttt{so3\_mm}:\ 8 N C_{in} C_{out} \sum_{l<b} (2l+1)^3 .
    """
    power = {"s2_mm": 2, "so3_to_s2_mm": 2, "so3_mm": 3}[kind]
    return 8.0 * n * c_in * c_out * sum((2 * l + 1) ** power for l in range(b))
