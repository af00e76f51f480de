r"""Analytic FLOPs of the correlation layers, per operation, from the formulas of :mod:`sphere_study.harmonics._flops`.

For one forward pass of a layer (:class:`S2Conv`, :class:`SO3Conv`, :class:`SO3ToS2`) on B signals of C_in channels
(N_in = B C_in input and N_out = B C_out output signals, L = the layer's bandwidth):

.. math::

    \text{fft} &= A_{in}(b_{in}, L, N_{in}) + A_{out}(b_{out}, L, N_{out}) \quad
        \text{(azimuthal DFTs as matrix products, :func:`~sphere_study.harmonics.azimuthal_flops`)}\\
    \text{wigner\_analysis} &= W_{in}(N_{in}), \qquad \text{wigner\_synthesis} = W_{out}(N_{out}) \quad
        \text{(the padded Wigner steps)}\\
    \text{product} &= P(L, B, C_{in}, C_{out}) \quad
        \text{(:func:`~sphere_study.harmonics.spectral_product_flops`)}\\
    \text{kernel\_spectrum} &= 2 \cdot 2 R S W \cdot C_{in} C_{out} + W_{kernel}(C_{in} C_{out})
        \quad \text{(ring phases, two real products, then the kernel's Wigner step)}

and for its backward pass the same operations again, the product twice (both operands' gradients), except that
without an input gradient (the first layer of a network: images need none) the input transforms have no backward
and the product computes only the kernel's gradient. The transforms are linear maps with constant tables, so each
backward costs its forward.

Not included: the recomputation of checkpointed spectral products in the backward pass
(:func:`~sphere_study.nn.set_product_recomputation`; how much torch recomputes depends on its early-stopping rule, so
it is measured, not modelled: :func:`sphere_study.models.count_training_flops` counts it),
bias and other elementwise work. These are the numbers that the profiler script (``scripts/_profile.py``) divides by
time, and the reference against which the measured counts are tested.
"""

from __future__ import annotations

import torch

from ..harmonics import azimuthal_flops, spectral_product_flops
from ..harmonics._fft import soft_wigner_step
from ..harmonics._flops import wigner_step_flops
from ._conv import S2Conv, SO3Conv, SO3ToS2

__all__ = ["correlation_flops"]

_PRODUCT = {S2Conv: "s2_mm", SO3Conv: "so3_mm", SO3ToS2: "so3_to_s2_mm"}


def _kernel_spectrum_flops(layer) -> float:
    spectrum = layer.kernel_spectrum
    rings, sources, width = spectrum.cos.shape
    n = layer.in_channels * layer.out_channels
    return 2.0 * (2 * rings * sources * width * n) + float(spectrum.step.flops(n))


def correlation_flops(layer, batch: int, *, input_requires_grad: bool = True) -> dict[str, dict[str, float]]:
    r"""``{"fwd": {operation: flops}, "bwd": {...}}`` of one pass of ``layer`` on ``batch`` signals (see above).

    Operations: ``fft``, ``wigner_analysis``, ``wigner_synthesis``, the product (``s2_mm``, ``so3_mm`` or
    ``so3_to_s2_mm``) and ``kernel_spectrum``.
    """
    kind = next((name for cls, name in _PRODUCT.items() if isinstance(layer, cls)), None)
    if kind is None:
        raise TypeError(f"correlation_flops takes S2Conv, SO3Conv or SO3ToS2, got {type(layer).__name__}")
    n_in, n_out, L = batch * layer.in_channels, batch * layer.out_channels, layer.bandwidth
    space_in, space_out = layer.input_space, layer.output_space
    # The tables' sizes do not depend on the dtype: float64 steps, as cached for every other use.
    f_in = azimuthal_flops(space_in, layer.b_in, L, n_in)
    f_out = azimuthal_flops(space_out, layer.b_out, L, n_out)
    a_in = wigner_step_flops(soft_wigner_step(space_in, layer.b_in, L, torch.float64, torch.device("cpu")), n_in)
    s_out = wigner_step_flops(soft_wigner_step(space_out, layer.b_out, L, torch.float64, torch.device("cpu")), n_out)
    product = spectral_product_flops(kind, L, batch, layer.in_channels, layer.out_channels)
    kernel = _kernel_spectrum_flops(layer)
    forward = {"fft": f_in + f_out, "wigner_analysis": a_in, "wigner_synthesis": s_out, kind: product}
    forward["kernel_spectrum"] = kernel
    backward = {
        "fft": f_out + (f_in if input_requires_grad else 0.0),
        "wigner_analysis": a_in if input_requires_grad else 0.0,
        "wigner_synthesis": s_out,
        kind: product * (2 if input_requires_grad else 1),
        "kernel_spectrum": kernel,
    }
    return {"fwd": forward, "bwd": backward}
