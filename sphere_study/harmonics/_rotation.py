r"""Rotations: Haar-random sampling, ZYZ Euler angles, and rotating S² / SO(3) signals.

The angles :math:`(\alpha, \beta, \gamma)` name :math:`R = R_z(\alpha) R_y(\beta) R_z(\gamma)`. A rotation Q acts on
signals from the left,

.. math:: (L_Q f)(x) = f(Q^{-1} x) \text{ on } S^2, \qquad (L_Q f)(R) = f(Q^{-1} R) \text{ on } SO(3),

which on the spectra is :math:`\hat f^l \mapsto \overline{D^l(Q)}\, \hat f^l` (the first index m of an SO(3)
coefficient; see :func:`s2_rotate_spectrum`).
"""

from __future__ import annotations

import torch

from ._fft import s2_fft, s2_ifft, so3_fft, so3_ifft
from ._validation import s2_bandwidth_of_spectrum, so3_bandwidth_of_spectrum
from ._wigner import so3_index, wigner_d_rows

__all__ = [
    "rotation_matrix",
    "euler_angles",
    "random_rotation",
    "random_euler_angles",
    "wigner_D",
    "s2_rotate_spectrum",
    "so3_rotate_spectrum",
    "s2_rotate",
    "so3_rotate",
]


def _rz(t: torch.Tensor) -> torch.Tensor:
    c, s = t.cos(), t.sin()
    z, o = torch.zeros_like(t), torch.ones_like(t)
    return torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)], -2)


def _ry(t: torch.Tensor) -> torch.Tensor:
    c, s = t.cos(), t.sin()
    z, o = torch.zeros_like(t), torch.ones_like(t)
    return torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1), torch.stack([-s, z, c], -1)], -2)


def rotation_matrix(alpha, beta, gamma, dtype=None, device=None) -> torch.Tensor:
    r"""Rotation matrices :math:`R_z(\alpha) R_y(\beta) R_z(\gamma)`, shape ``(..., 3, 3)`` (angles broadcast).

    Examples
    --------
    >>> R = rotation_matrix(0.3, 1.1, -0.4)
    >>> bool(torch.allclose(R @ R.T, torch.eye(3, dtype=R.dtype), atol=1e-12))
    True
    """
    dtype = dtype or torch.float64
    alpha, beta, gamma = torch.broadcast_tensors(
        *(torch.as_tensor(a, dtype=dtype, device=device) for a in (alpha, beta, gamma))
    )
    return _rz(alpha) @ _ry(beta) @ _rz(gamma)


def euler_angles(R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""ZYZ Euler angles ``(alpha, beta, gamma)`` of rotation matrices ``(..., 3, 3)``; inverse of
    :func:`rotation_matrix`.

    β in [0, π], α and γ in (-π, π]. At the poles (sin β = 0) only α ± γ is defined; there γ = 0.

    Examples
    --------
    >>> a, b, g = euler_angles(rotation_matrix(0.3, 1.1, -0.4))
    >>> [round(float(v), 12) for v in (a, b, g)]
    [0.3, 1.1, -0.4]
    """
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must have shape [..., 3, 3], got {tuple(R.shape)}")
    sin_beta = torch.hypot(R[..., 0, 2], R[..., 1, 2])
    beta = torch.atan2(sin_beta, R[..., 2, 2])
    alpha = torch.atan2(R[..., 1, 2], R[..., 0, 2])
    gamma = torch.atan2(R[..., 2, 1], -R[..., 2, 0])
    # Gimbal lock: β = 0 gives R = Rz(α + γ), β = π gives R = Rz(α) Ry(π) Rz(γ); put all of it into α.
    eps = 1e-6 if R.dtype == torch.float64 else 1e-3
    pole = sin_beta < eps
    north = R[..., 2, 2] > 0
    alpha_pole = torch.where(north, torch.atan2(R[..., 1, 0], R[..., 0, 0]), torch.atan2(-R[..., 1, 0], -R[..., 0, 0]))
    alpha = torch.where(pole, alpha_pole, alpha)
    gamma = torch.where(pole, torch.zeros_like(gamma), gamma)
    return alpha, beta, gamma


def random_rotation(
    n: int | None = None, generator: torch.Generator | None = None, dtype=torch.float64, device=None
) -> torch.Tensor:
    r"""Rotation matrices drawn independently from the Haar (uniform) measure on SO(3).

    A unit quaternion with i.i.d. Gaussian components is uniform on S³, and S³ → SO(3) maps the uniform measure
    to the Haar measure. Shape ``(n, 3, 3)``, or ``(3, 3)`` when ``n`` is None. Reproducible from ``generator``.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> R = random_rotation(5, generator=g)
    >>> bool(torch.allclose(torch.linalg.det(R), torch.ones(5, dtype=R.dtype)))
    True
    """
    shape = () if n is None else (int(n),)
    if n is not None and n < 0:
        raise ValueError(f"number of rotations must be >= 0, got {n}")
    gen_device = generator.device if generator is not None else device
    q = torch.randn(*shape, 4, generator=generator, dtype=torch.float64, device=gen_device)
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    R = torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )
    return R.to(dtype=dtype, device=device)


def random_euler_angles(
    n: int | None = None, generator: torch.Generator | None = None, dtype=torch.float64, device=None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ZYZ Euler angles of Haar-random rotations (see :func:`random_rotation`)."""
    a, b, g = euler_angles(random_rotation(n, generator, torch.float64, device))
    return a.to(dtype), b.to(dtype), g.to(dtype)


def _as_rotation(R) -> torch.Tensor:
    R = torch.as_tensor(R, dtype=torch.float64)
    if R.shape != (3, 3):
        raise ValueError(f"expected one rotation matrix of shape [3, 3], got {tuple(R.shape)}")
    if not torch.allclose(R @ R.T, torch.eye(3, dtype=R.dtype), atol=1e-6) or torch.linalg.det(R) < 0:
        raise ValueError("expected a rotation matrix (orthogonal, det +1)")
    return R


def wigner_D(b: int, R, dtype=torch.complex128, device=None) -> list[torch.Tensor]:
    r"""Wigner-D matrices :math:`D^l(R)`, ``(2l+1, 2l+1)`` for l < b, with
    :math:`D^l_{mn}(\alpha,\beta,\gamma) = e^{im\alpha} d^l_{mn}(\beta) e^{in\gamma}` (rows m, columns n, -l..l).

    Examples
    --------
    >>> R1, R2 = random_rotation(2, generator=torch.Generator().manual_seed(1))
    >>> D = wigner_D(3, R1 @ R2)[2]
    >>> bool(torch.allclose(D, wigner_D(3, R1)[2] @ wigner_D(3, R2)[2], atol=1e-12))  # a representation
    True
    """

    alpha, beta, gamma = (float(a) for a in euler_angles(_as_rotation(R)))
    d = wigner_d_rows([beta], b)[0]
    out = []
    for l in range(b):
        m = torch.arange(-l, l + 1, dtype=torch.float64)
        dl = torch.from_numpy(d[so3_index(l, -l, -l) : so3_index(l, -l, -l) + (2 * l + 1) ** 2].reshape(2 * l + 1, -1))
        phase_a, phase_g = torch.polar(torch.ones_like(m), m * alpha), torch.polar(torch.ones_like(m), m * gamma)
        out.append((phase_a[:, None] * dl * phase_g[None, :]).to(dtype=dtype, device=device))
    return out


def s2_rotate_spectrum(xhat: torch.Tensor, R) -> torch.Tensor:
    r"""Spectrum of the rotated S² signal :math:`L_R f = f(R^{-1}\,\cdot)`: :math:`\hat f^l \mapsto \overline{D^l(R)}
    \hat f^l`. ``xhat [..., b^2]``; exact for every rotation (not only grid rotations)."""

    b = s2_bandwidth_of_spectrum(xhat)
    xhat = xhat if xhat.is_complex() else xhat.to(torch.complex128 if xhat.dtype == torch.float64 else torch.complex64)
    Ds = wigner_D(b, R, xhat.dtype, xhat.device)
    parts = [xhat[..., l * l : (l + 1) ** 2] @ Ds[l].conj().T for l in range(b)]
    return torch.cat(parts, dim=-1)


def so3_rotate_spectrum(xhat: torch.Tensor, R) -> torch.Tensor:
    r"""Spectrum of the rotated SO(3) signal :math:`L_R f = f(R^{-1}\,\cdot)`: :math:`\hat f^l_{mn} \mapsto
    \sum_k \overline{D^l_{mk}(R)} \hat f^l_{kn}` (acts on the first index). ``xhat [..., nspec]``."""

    b = so3_bandwidth_of_spectrum(xhat)
    xhat = xhat if xhat.is_complex() else xhat.to(torch.complex128 if xhat.dtype == torch.float64 else torch.complex64)
    Ds = wigner_D(b, R, xhat.dtype, xhat.device)
    parts, start = [], 0
    for l in range(b):
        size = 2 * l + 1
        block = xhat[..., start : start + size * size].unflatten(-1, (size, size))
        parts.append((Ds[l].conj() @ block).flatten(-2))
        start += size * size
    return torch.cat(parts, dim=-1)


def s2_rotate(x: torch.Tensor, R) -> torch.Tensor:
    r"""Rotate a band-limited S² signal ``[..., 2b, 2b]``: :math:`(L_R f)(x) = f(R^{-1}x)`, via its spectrum."""

    return s2_ifft(s2_rotate_spectrum(s2_fft(x), R), real=not x.is_complex())


def so3_rotate(x: torch.Tensor, R) -> torch.Tensor:
    r"""Rotate a band-limited SO(3) signal ``[..., 2b, 2b, 2b]``: :math:`(L_R f)(g) = f(R^{-1}g)`, via its spectrum."""

    return so3_ifft(so3_rotate_spectrum(so3_fft(x), R), real=not x.is_complex())
