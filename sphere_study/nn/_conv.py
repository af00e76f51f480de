r"""Spherical correlation layers: ``S2Conv`` (S² → SO(3)), ``SO3Conv`` (SO(3) → SO(3)), ``SO3ToS2`` (SO(3) → S²).

Each layer correlates its input with a learned kernel made of weighted point masses on a small grid
(:mod:`sphere_study.harmonics` kernel grids), computed in the Fourier domain:

.. math::

    \text{S2Conv:}\quad  y_o(R) = \sum_c \int_{S^2} \psi_{co}(R^{-1}x) f_c(x)\, \frac{dx}{4\pi}
                        = \sum_{c,p} w_{cop}\, f_c(R x_p), \qquad
    \hat y^l_{mn} = \sum_c \hat f^l_{c,m}\, \overline{\hat\psi^l_{co,n}},

    \text{SO3Conv:}\quad y_o(R) = \sum_c \int_{SO(3)} \psi_{co}(R^{-1}g) f_c(g)\, dg
                        = \sum_{c,p} w_{cop}\, f_c(R g_p), \qquad \hat y^l = \sum_c \hat f^l_c (\hat\psi^l_{co})^H,

    \text{SO3ToS2:}\quad \hat y^l_m = \sum_n \Big[\sum_c \hat f^l_c (\hat\psi^l_{co})^H\Big]_{mn}
    \quad\text{(Gerken et al. 2022), then the S² inverse transform.}

Every layer adds a per-channel bias and is exactly equivariant on band-limited inputs:
:math:`\Phi(L_Q f) = L_Q \Phi(f)` for all rotations Q (up to floating-point rounding), because a rotation multiplies
the input spectrum by :math:`\overline{D^l(Q)}` from the left and the products above act on the right.

Initialisation: two rules, chosen per layer with ``init``. Either way the weights ``w`` are parameters and a fixed
scale ``s`` multiplies them in ``forward``, :math:`y = s\sum_{c,p} w_{cop} f_c(R g_p)`; keeping ``s`` outside the
parameter keeps Adam's step size meaningful (as in s2cnn). Our transforms are normalised so that the correlation *is*
this point sum at every bandwidth.

* ``init="he"`` (He-style, for ReLU networks): :math:`w \sim N(0, 1)` and

  .. math:: s = \sqrt{\frac{2}{C_{in}\, P}} \qquad (P = \text{number of kernel points}),

  because the output has variance :math:`C_{in} P s^2\, \mathbb{E}[f^2]` over the weights, and a ReLU halves the
  second moment. No bandwidth factor: activations keep their scale through deep stacks.
* ``init="s2cnn"`` (the original s2cnn's effective scale, so that a network trains exactly like the original):
  :math:`w \sim U(-1, 1)` and

  .. math::

      s_{S2Conv} = \frac{2\, b_{in}}{b_{out}\sqrt{C_{in} P}}, \qquad
      s_{SO3Conv} = s_{SO3ToS2} = \frac{(b_{in}/b_{out})^{3/2}}{\sqrt{C_{in} P}}.

  s2cnn multiplies its kernels by ``scaling = 1/sqrt(P C_in b_out^4 / b_in^2)`` (S²) and
  ``1/sqrt(P C_in b_out^3 / b_in^3)`` (SO(3), and SO3ToS2 in Gerken et al.'s fork); its Fourier transforms are
  normalised as ours, but its S² kernel transform ``s2_rft`` carries an extra factor 2 b_out, hence the rule above.
  :mod:`sphere_study.compat.s2cnn` checks it against outputs of the original (and of the fork's ``so3_to_s2.py``):
  relative error below 1e-15 in float64. The bandwidth ratio is an artefact of s2cnn's choice of constants, kept
  here only for fidelity: Cohen et al.'s network, tuned with it, learns faster with it than with the He rule.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..harmonics import (
    S2PointSpectrum,
    SO3PointSpectrum,
    s2_near_identity_grid,
    so3_near_identity_grid,
)
from ..harmonics._azimuthal import analysis_entries, synthesis_entries
from ..harmonics._products import entry_product
from ..harmonics._validation import check_bandwidth
from ..harmonics._wigner import entry_layout

__all__ = [
    "INIT_RULES",
    "S2Conv",
    "SO3Conv",
    "SO3ToS2",
    "SO3Shortcut",
    "check_signal",
    "set_product_recomputation",
    "spectral_precision",
]

#: Weight initialisation rules of the correlation layers (see the module docstring).
INIT_RULES = ("he", "s2cnn")


def check_init(init: str) -> str:
    """The init rule, or a ValueError naming the allowed ones."""
    if init not in INIT_RULES:
        raise ValueError(f"init must be one of {INIT_RULES} (the layers' weight-scale rule), got {init!r}")
    return init


def spectral_precision(forward):
    """Run a layer's transforms in float32 or float64 whatever autocast says.

    It also turns a non-tensor input into a named error and an empty batch ``B = 0`` into an empty output.
    Mixed precision (``bf16-mixed``, ``16-mixed``) would turn the Wigner-step matrix products into bfloat16/half,
    whose complex views and FFTs torch does not support and whose rounding would break equivariance. Under autocast a
    half/bfloat16 input is promoted to float32 and the layer's output stays float32.
    """

    @functools.wraps(forward)
    def wrapper(self, x):
        if not isinstance(x, torch.Tensor):  # a list or numpy array: say so before touching .dtype
            raise ValueError(f"{type(self).__name__} expects a torch.Tensor input, got {type(x).__name__}")
        if x.dim() > 0 and x.shape[0] == 0:  # an empty batch: the FFTs reject it, the answer is an empty batch
            return wrapper(self, x.new_zeros((1, *x.shape[1:])))[:0]
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        with torch.autocast(device_type=x.device.type, enabled=False):
            return forward(self, x)

    return wrapper


def check_signal(x: torch.Tensor, space: str, channels: int, bandwidth: int, layer: str) -> None:
    """ValueError unless ``x`` is ``[B, channels, 2b, 2b]`` (S²) or ``[B, channels, 2b, 2b, 2b]`` (SO(3))."""
    grid = (2 * bandwidth,) * (2 if space == "s2" else 3)
    names = "beta, alpha" if space == "s2" else "beta, alpha, gamma"
    expected = f"[batch, {channels}, {', '.join(map(str, grid))}] ({names} at bandwidth {bandwidth})"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{layer} expects a tensor {expected}, got {type(x).__name__}")
    if x.dim() != 2 + len(grid) or x.shape[1] != channels or tuple(x.shape[2:]) != grid:
        hint = ""
        if x.dim() == 2 + len(grid) and x.shape[1] == channels and len(set(x.shape[2:])) == 1 and x.shape[-1] % 2 == 0:
            hint = f": bandwidth mismatch, the input has bandwidth {x.shape[-1] // 2}, the layer expects {bandwidth}"
        raise ValueError(f"{layer} expects input {expected}, got {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise ValueError(f"{layer} expects a floating-point input, got {x.dtype}")


def set_product_recomputation(module: nn.Module, enabled: bool) -> nn.Module:
    """Turn the recomputation of the spectral products in backward on or off for every correlation layer in
    ``module``.

    A layer's product multiplies gathered copies of its input spectrum and of its kernel's spectrum (whose
    C_in * C_out columns often outnumber the input's B * C_in), and autograd stores both for backward. On, the layer
    stores only its input spectrum and recomputes the kernel's spectrum and the product in backward. The transforms
    need no such switch: they are linear maps with constant tables, which store nothing grid-sized for backward.
    The models choose, and both S2CNNs leave it off: the 204k segmenter at batch 4 grows the process by 1.03 GiB
    without it and by 0.86 GiB with it, for 12% more time per step (``scripts/benchmark_models.py``). Results are
    identical either way.
    """
    for layer in module.modules():
        if isinstance(layer, _Correlation):
            layer.recompute_product = bool(enabled)
    return module


class _Correlation(nn.Module):
    """Shared parameters and bookkeeping of the three correlation layers."""

    input_space: str
    output_space: str

    def __init__(
        self, in_channels: int, out_channels: int, b_in: int, b_out: int, grid, point_spectrum, bias: bool, init: str
    ):
        super().__init__()
        self.init = check_init(init)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.b_in = check_bandwidth(b_in, "b_in")
        self.b_out = check_bandwidth(b_out, "b_out")
        # Degrees l < min(b_in, b_out) pass: the input has no higher ones, the output grid cannot hold them.
        self.bandwidth = min(b_in, b_out)
        self.kernel_spectrum = point_spectrum(grid, self.bandwidth)
        n_points = self.kernel_spectrum.n_points
        if init == "he":
            self.weight = nn.Parameter(torch.randn(in_channels, out_channels, n_points))
            self.scale = math.sqrt(2.0 / (in_channels * n_points))
        else:
            self.weight = nn.Parameter(torch.empty(in_channels, out_channels, n_points).uniform_(-1, 1))
            self.scale = self._s2cnn_bandwidth_factor() / math.sqrt(in_channels * n_points)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        # The block entry holding the output's degree-0 coefficient (spectral index 0), where the bias goes.
        degree0 = int(entry_layout(self.output_space, self.bandwidth).gather_np[0])
        self.register_buffer("_bias_entry", torch.tensor([degree0]), persistent=False)

    def _s2cnn_bandwidth_factor(self) -> float:
        """The bandwidth part of s2cnn's effective scale (module docstring), for layers with SO(3) input."""
        return (self.b_in / self.b_out) ** 1.5

    @property
    def n_points(self) -> int:
        return self.kernel_spectrum.n_points

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, b_in={self.b_in}, b_out={self.b_out}, "
            f"n_points={self.n_points}, bias={self.bias is not None}, init={self.init!r}"
        )

    def scaled_kernel(self, dtype: torch.dtype) -> torch.Tensor:
        r"""The point weights times their fixed scale, :math:`s\,w`, ``[C_in, C_out, P]`` (the one place that reads
        the weight, so that a subclass with other parameters, such as :mod:`sphere_study.compat.s2cnn`, overrides
        only this)."""
        return self.weight.to(dtype) * self.scale

    def kernel_hat(self, dtype: torch.dtype) -> torch.Tensor:
        """Spectrum of the scaled kernel, ``[C_in, C_out, nspec]``."""
        return self.kernel_spectrum(self.scaled_kernel(dtype))

    def _add_bias(self, entries: torch.Tensor, batch: int) -> torch.Tensor:
        r"""Add the bias to the output's spectrum: a constant is its degree-0 coefficient, and the inverse transform
        maps :math:`\hat y^0_{00} = c` to :math:`y \equiv c` (:math:`(2l+1)\,d^0_{00} = 1`). One entry per output
        signal instead of a pass over the grid, and the bias's gradient is that entry's, not a sum over the grid."""
        if self.bias is None:
            return entries
        bias = self.bias.to(entries.real.dtype).reshape(-1).repeat(batch)  # columns (batch, channel), channel inner
        return entries.index_add(0, self._bias_entry, torch.complex(bias, torch.zeros_like(bias))[None])

    #: Recompute the kernel's spectrum and the spectral product in backward instead of storing their operands
    #: (activation checkpointing; see :func:`set_product_recomputation`).
    recompute_product: bool = True

    #: Return ``relu(y)`` instead of y, the ReLU fused into the inverse transform: in place, a one-byte mask kept for
    #: backward, the masked gradient in scratch memory (:class:`~sphere_study.harmonics._chain.Chain`). Networks whose
    #: layer outputs go straight into a ReLU set it (:class:`~sphere_study.models.S2CNNSegmenter`); values and
    #: gradients are those of ``torch.relu(layer(x))``.
    fused_relu: bool = False

    def _product(self, product: str, xe: torch.Tensor, weights: torch.Tensor, batch: int) -> torch.Tensor:
        """Input entries -> output entries: the kernel's spectrum (its entries have C_in * C_out columns, often more
        than the input's B * C_in: recomputed in backward with the product rather than stored) times the input's.
        The point weights come in as an argument, not read from the module, so that a recomputation in backward uses
        the weights of the forward (``torch.func.functional_call`` swaps them only during the call)."""
        kernel = self.kernel_spectrum.entries(weights)  # [entries, C_in * C_out]
        return entry_product(product, xe, kernel, self.bandwidth, batch)

    def _correlate(self, x: torch.Tensor, product: str) -> torch.Tensor:
        """The layer's map on a real input, through block entries (stored halves of Hermitian spectra, no flat
        spectra in between; :func:`~sphere_study.harmonics._products.entry_product`); equal to the flat-spectrum
        formula of the class docstring up to rounding."""
        batch, L = x.shape[0], self.bandwidth
        xe = analysis_entries(x, self.input_space, L)  # [entries, B * C_in]
        weights = self.scaled_kernel(xe.real.dtype)
        if self.recompute_product and torch.is_grad_enabled():
            ze = checkpoint(self._product, product, xe, weights, batch, use_reentrant=False, preserve_rng_state=False)
        else:
            ze = self._product(product, xe, weights, batch)
        ze = self._add_bias(ze, batch)  # [entries out, B * C_out]
        return synthesis_entries(ze, self.output_space, L, self.b_out, (batch, self.out_channels), self.fused_relu)


class S2Conv(_Correlation):
    r"""S² → SO(3) correlation with a kernel on S² points (default: 24 points in 3 rings up to β = π/8).

    ``[B, C_in, 2b_in, 2b_in]`` → ``[B, C_out, 2b_out, 2b_out, 2b_out]``;
    :math:`y_o(R) = s \sum_{c,p} w_{cop} f_c(R x_p) + \text{bias}_o` (band-limited to min(b_in, b_out)).

    Equivariance: :math:`\text{S2Conv}(L_Q f) = L_Q\, \text{S2Conv}(f)`, with :math:`(L_Q f)(x) = f(Q^{-1}x)` on the
    input and :math:`(L_Q y)(R) = y(Q^{-1}R)` on the output; exact for band-limited f.

    Examples
    --------
    >>> conv = S2Conv(1, 4, b_in=8, b_out=4)
    >>> conv(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 4, 8, 8, 8])
    """

    input_space, output_space = "s2", "so3"

    def _s2cnn_bandwidth_factor(self) -> float:
        return 2.0 * self.b_in / self.b_out

    def __init__(
        self, in_channels: int, out_channels: int, b_in: int, b_out: int, grid=None, bias: bool = True, init: str = "he"
    ):
        grid = s2_near_identity_grid() if grid is None else grid
        super().__init__(in_channels, out_channels, b_in, b_out, grid, S2PointSpectrum, bias, init)

    @spectral_precision
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_signal(x, "s2", self.in_channels, self.b_in, "S2Conv")
        return self._correlate(x, "s2")  # s2_fft, s2_mm with kernel_hat, so3_ifft(real=True), bias


class SO3Conv(_Correlation):
    r"""SO(3) → SO(3) correlation with a kernel on SO(3) points (default: 192 points near the identity).

    ``[B, C_in, 2b_in, 2b_in, 2b_in]`` → ``[B, C_out, 2b_out, 2b_out, 2b_out]``;
    :math:`y_o(R) = s \sum_{c,p} w_{cop} f_c(R g_p) + \text{bias}_o`.

    Equivariance: :math:`\text{SO3Conv}(L_Q f) = L_Q\, \text{SO3Conv}(f)`, exact for band-limited f.
    """

    input_space, output_space = "so3", "so3"

    def __init__(
        self, in_channels: int, out_channels: int, b_in: int, b_out: int, grid=None, bias: bool = True, init: str = "he"
    ):
        grid = so3_near_identity_grid() if grid is None else grid
        super().__init__(in_channels, out_channels, b_in, b_out, grid, SO3PointSpectrum, bias, init)

    @spectral_precision
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_signal(x, "so3", self.in_channels, self.b_in, "SO3Conv")
        return self._correlate(x, "so3")  # so3_fft, so3_mm with kernel_hat, so3_ifft(real=True), bias


class SO3ToS2(_Correlation):
    r"""SO(3) → S² projection layer of Gerken et al. (2022): SO(3) correlation, then the sum over the kernel's index n.

    ``[B, C_in, 2b_in, 2b_in, 2b_in]`` → ``[B, C_out, 2b_out, 2b_out]``;
    :math:`\hat y^l_m = \sum_n \big[\sum_c \hat f^l_c (\hat\psi^l_{co})^H\big]_{mn}`, then the S² inverse transform,
    plus bias. The sum over n (the index that comes from the kernel) keeps equivariance; summing over m would not.

    Equivariance: :math:`\text{SO3ToS2}(L_Q f) = L_Q\, \text{SO3ToS2}(f)`, with :math:`(L_Q y)(x) = y(Q^{-1}x)` on the
    S² output; exact for band-limited f.
    """

    input_space, output_space = "so3", "s2"

    def __init__(
        self, in_channels: int, out_channels: int, b_in: int, b_out: int, grid=None, bias: bool = True, init: str = "he"
    ):
        grid = so3_near_identity_grid() if grid is None else grid
        super().__init__(in_channels, out_channels, b_in, b_out, grid, SO3PointSpectrum, bias, init)

    @spectral_precision
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_signal(x, "so3", self.in_channels, self.b_in, "SO3ToS2")
        return self._correlate(x, "so3_to_s2")  # so3_fft, so3_to_s2_mm with kernel_hat, s2_ifft(real=True), bias


class SO3Shortcut(nn.Module):
    r"""Skip connection between SO(3) feature maps that may differ in channels and bandwidth.

    Identity when channels and bandwidth agree; otherwise an :class:`SO3Conv` whose kernel is a single point at the
    identity rotation, :math:`y_o(R) = s\sum_c w_{co} f_c(R)` band-limited to min(b_in, b_out): a 1×1 channel mix
    that also resamples to the new bandwidth. Equivariant like SO3Conv.
    """

    input_space, output_space = "so3", "so3"

    def __init__(self, in_channels: int, out_channels: int, b_in: int, b_out: int, init: str = "he"):
        super().__init__()
        self.in_channels, self.out_channels, self.b_in, self.b_out = in_channels, out_channels, b_in, b_out
        identity = in_channels == out_channels and b_in == b_out
        self.conv = (
            None if identity else SO3Conv(in_channels, out_channels, b_in, b_out, grid=[[0.0, 0.0, 0.0]], init=init)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            check_signal(x, "so3", self.in_channels, self.b_in, "SO3Shortcut")
            return x
        return self.conv(x)
