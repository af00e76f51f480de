r"""Shape, dtype and bandwidth checks shared by the transforms and the layers.

Every check raises ``ValueError`` with the expected and the actual value, so that a user sees what is wrong with the
tensor they passed rather than a shape error from inside an FFT.
"""

from __future__ import annotations

import math

import torch

from ._lie_learn import MAX_DEGREE

#: Largest bandwidth whose Wigner tables lie_learn can build (degrees l < b <= MAX_BANDWIDTH).
MAX_BANDWIDTH = MAX_DEGREE + 1


def check_bandwidth(b, name: str = "bandwidth") -> int:
    if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= MAX_BANDWIDTH:
        raise ValueError(f"{name} must be an integer in [1, {MAX_BANDWIDTH}], got {b!r}")
    return b


def s2_nspec(b: int) -> int:
    r"""Number of S² coefficients of degree l < b: :math:`b^2`."""
    return b * b


def so3_nspec(b: int) -> int:
    r"""Number of SO(3) coefficients of degree l < b: :math:`\sum_{l<b} (2l+1)^2 = b(4b^2-1)/3`."""
    return b * (4 * b * b - 1) // 3


def check_floating(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise ValueError(f"{what} must have a floating or complex dtype, got {x.dtype}")
    if x.dtype in (torch.float16, torch.bfloat16, torch.complex32):
        raise ValueError(
            f"{what} has dtype {x.dtype}; the transforms need float32/float64 (or complex64/complex128) "
            "for accuracy: cast with .float() first"
        )


def s2_bandwidth_of_signal(x: torch.Tensor, what: str = "S2 signal") -> int:
    """Bandwidth b of an S² grid signal ``[..., 2b, 2b]``; ValueError unless the last two axes are equal and even."""
    check_floating(x, what)
    if x.dim() < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] % 2 or x.shape[-1] == 0:
        raise ValueError(
            f"{what} must have shape [..., 2b, 2b] (beta, alpha) with equal, even last two axes; "
            f"got shape {tuple(x.shape)}"
        )
    return check_bandwidth(x.shape[-1] // 2, f"bandwidth of {what}")


def so3_bandwidth_of_signal(x: torch.Tensor, what: str = "SO(3) signal") -> int:
    """Bandwidth b of an SO(3) grid signal ``[..., 2b, 2b, 2b]``; ValueError unless the last three axes are equal
    and even."""
    check_floating(x, what)
    if x.dim() < 3 or not (x.shape[-1] == x.shape[-2] == x.shape[-3]) or x.shape[-1] % 2 or x.shape[-1] == 0:
        raise ValueError(
            f"{what} must have shape [..., 2b, 2b, 2b] (beta, alpha, gamma) with equal, even last three axes; "
            f"got shape {tuple(x.shape)}"
        )
    return check_bandwidth(x.shape[-1] // 2, f"bandwidth of {what}")


def s2_bandwidth_of_spectrum(xhat: torch.Tensor, what: str = "S2 spectrum") -> int:
    """Bandwidth b of an S² spectrum ``[..., b^2]``; ValueError unless its length is a square."""
    check_floating(xhat, what)
    n = xhat.shape[-1] if xhat.dim() else -1
    b = math.isqrt(n) if n > 0 else 0
    if n <= 0 or b * b != n:
        raise ValueError(f"{what} must have shape [..., b^2] (b^2 = 1, 4, 9, ...); got shape {tuple(xhat.shape)}")
    return check_bandwidth(b, f"bandwidth of {what}")


def so3_bandwidth_of_spectrum(xhat: torch.Tensor, what: str = "SO(3) spectrum") -> int:
    """Bandwidth b of an SO(3) spectrum ``[..., b(4b^2-1)/3]``; ValueError unless its length is of that form."""
    check_floating(xhat, what)
    n = xhat.shape[-1] if xhat.dim() else -1
    b = max(1, round((3 * max(n, 0) / 4) ** (1 / 3)))
    if n <= 0 or so3_nspec(b) != n:
        raise ValueError(
            f"{what} must have shape [..., b(4b^2-1)/3] (= 1, 10, 35, 84, ...); got shape {tuple(xhat.shape)}"
        )
    return check_bandwidth(b, f"bandwidth of {what}")
