r"""Measuring equivariance: one helper for every test and for the training callback.

For a map :math:`\Phi` from S² (or SO(3)) signals to S² / SO(3) signals or to invariant outputs, and a rotation Q,

.. math:: \varepsilon(\Phi, f, Q) = \frac{\lVert \Phi(L_Q f) - L_Q \Phi(f) \rVert}{\lVert L_Q \Phi(f) \rVert}
          \qquad (\text{invariant outputs: } L_Q \text{ acts trivially}),

the relative error over the whole batch (Frobenius norms). Rotations are applied in one of two exact ways:

* a 3×3 rotation matrix: through the spectrum (:func:`~sphere_study.harmonics.s2_rotate` / ``so3_rotate``), exact for
  band-limited signals and for any rotation, on or off the grid;
* a float angle: a rotation about z by that angle, applied as a shift of the α axis, exact for *any* grid signal;
  the angle must be a multiple of the grid step 2π/(2b) of every grid involved.

The spaces are read from the module: layers declare ``input_space`` / ``output_space`` (``"s2"``, ``"so3"``); models
declare ``output_kind`` (``"logits"``: invariant, ``"s2_logits"``: S² maps) and take S² input.

.. warning:: Networks with pointwise nonlinearities on the grid are only approximately equivariant: a ReLU creates
   frequencies above the band limit, which alias. The error depends on the bandwidths, the nonlinearity and the
   smoothness of the input; it vanishes for grid rotations (α shifts), which commute with every step.
"""

from __future__ import annotations

import math

import torch

from .harmonics import s2_rotate, so3_rotate

__all__ = ["equivariance_error", "assert_equivariant", "module_spaces", "default_tolerance"]


def module_spaces(module: torch.nn.Module) -> tuple[str, str]:
    """``(input_space, output_space)`` of a layer or model; output ``"invariant"`` for class logits."""
    if hasattr(module, "input_space") and hasattr(module, "output_space"):
        return module.input_space, module.output_space
    kind = getattr(module, "output_kind", None)
    if kind == "logits":
        return "s2", "invariant"
    if kind == "s2_logits":
        return "s2", "s2"
    raise ValueError(
        f"{type(module).__name__} declares neither input_space/output_space nor output_kind; "
        "pass input_space= and output_space= explicitly"
    )


def _rotate(x: torch.Tensor, space: str, rotation) -> torch.Tensor:
    if space == "invariant":
        return x
    if isinstance(rotation, (int, float)) and not isinstance(rotation, bool):
        b = x.shape[-1] // 2
        steps = rotation / (2 * math.pi / (2 * b))
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"angle {rotation} is not a multiple of the grid step 2π/{2 * b} of a bandwidth-{b} grid; "
                "pass a rotation matrix for off-grid rotations"
            )
        # (L_Q f)(beta, alpha, ...) = f(beta, alpha - angle, ...): shift the alpha axis forward.
        alpha_dim = -1 if space == "s2" else -2
        return torch.roll(x, shifts=int(round(steps)), dims=alpha_dim)
    if space == "s2":
        return s2_rotate(x, rotation)
    if space == "so3":
        return so3_rotate(x, rotation)
    raise ValueError(f"unknown space {space!r}: expected 's2', 'so3' or 'invariant'")


@torch.no_grad()
def equivariance_error(
    module: torch.nn.Module,
    x: torch.Tensor,
    rotation,
    input_space: str | None = None,
    output_space: str | None = None,
) -> float:
    r"""Relative equivariance error :math:`\lVert \Phi(L_Q x) - L_Q\Phi(x)\rVert / \lVert L_Q\Phi(x)\rVert`.

    Parameters
    ----------
    module : the map Φ (evaluated as is: call ``.eval()`` first for batch-norm models).
    x : input batch (S² ``[..., 2b, 2b]`` or SO(3) ``[..., 2b, 2b, 2b]``).
    rotation : ``[3, 3]`` rotation matrix (spectral rotation) or float angle about z (exact grid shift).
    input_space, output_space : override what the module declares.
    """
    spaces = module_spaces(module) if input_space is None or output_space is None else None
    input_space = input_space or spaces[0]
    output_space = output_space or spaces[1]
    y = module(x)
    target = _rotate(y, output_space, rotation)
    y_rot = module(_rotate(x, input_space, rotation))
    return float((y_rot - target).norm() / target.norm().clamp_min(torch.finfo(target.dtype).tiny))


def default_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance for exactly equivariant maps: 1e-4 in float64, 1e-3 in float32 (DESIGN targets)."""
    return 1e-4 if dtype in (torch.float64, torch.complex128) else 1e-3


def assert_equivariant(module, x, rotation, tolerance: float | None = None, **spaces) -> float:
    """Assert ``equivariance_error(...) <= tolerance`` (default :func:`default_tolerance`); returns the error."""
    tolerance = default_tolerance(x.dtype) if tolerance is None else tolerance
    error = equivariance_error(module, x, rotation, **spaces)
    assert error <= tolerance, f"{type(module).__name__}: relative equivariance error {error:.3e} > {tolerance:.1e}"
    return error
