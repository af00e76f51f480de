r"""Training FLOPs of a model: one training step (forward and backward of one batch), counted by running it once.

:func:`count_training_flops` runs one forward and one backward pass of a *deep copy* of the network, on a batch of
zeros of the training shape, under :class:`torch.utils.flop_counter.FlopCounterMode`, and returns the real
floating-point operations of each pass (a real multiply-add is 2, a complex one 8). The copy, the zero input and a
forked RNG leave the network, its gradients, its batch-norm statistics and every random stream as they were, so a
count at the start of a fit changes nothing in the fit (resumes stay bit-identical).

What is counted, per executed op
--------------------------------
* matrix products ``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``addbmm``, ``mv``, ``addmv``, ``dot``, ``vdot``:
  :math:`2\,mnk` for real operands (torch's count), :math:`8\,mnk` for complex ones (torch's formulas see only shapes
  and would count a complex product as a real one, a quarter of its cost);
* convolutions and their backward: torch's formulas (:math:`2\times` the multiply-adds of each output and of each
  gradient that is needed);
* FFTs (``torch.fft``, the aten ops ``_fft_r2c``, ``_fft_c2r``, ``_fft_c2c``), which FlopCounterMode does not count:
  :func:`~sphere_study.harmonics.fft_flops`, :math:`\tfrac52 n\log_2 n` per real and :math:`5 n \log_2 n` per complex
  transform of n points (n = the product of the transformed sizes).

Counts are of what the ops execute on the code path that runs: the S2CNN layers compute their azimuthal DFTs as
matrix products (:mod:`sphere_study.harmonics._azimuthal`: no ``torch.fft`` on that path, so those are counted as the
matrix products they are, :func:`~sphere_study.harmonics.azimuthal_flops`), their Wigner steps include the zero
padding of their block tables, and their backward recomputes the checkpointed spectral products
(:func:`~sphere_study.nn.set_product_recomputation`), which counts in the backward pass. ``torch.fft`` runs where a
model calls :func:`~sphere_study.harmonics.s2_fft` and relatives (the s2cnn drop-in's transforms, for instance).

The loss is a plain sum of the outputs: its gradient has the output's shape, so the backward pass executes the same
counted ops as under the task's loss (cross-entropy and its weighting are elementwise ops, not counted either way).
What is not counted is :data:`FLOPS_OMIT`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..harmonics import fft_flops

__all__ = ["FLOPS_COUNTED_BY", "FLOPS_OMIT", "TrainingFlops", "count_training_flops"]

#: How the counts of :func:`count_training_flops` are made (recorded beside them in results.json).
FLOPS_COUNTED_BY = (
    "sphere_study.models.count_training_flops: torch.utils.flop_counter.FlopCounterMode over one forward and one "
    "backward pass of one training batch (a deep copy of the network, zero input, sum loss); matrix products at "
    "2 flops per real and 8 per complex multiply-add, convolutions by torch's formulas, torch.fft transforms at "
    "2.5 n log2 n (real) / 5 n log2 n (complex) per n-point transform"
)
#: What :func:`count_training_flops` leaves out.
FLOPS_OMIT = (
    "elementwise and reduction ops (activations, bias, batch norm, the loss, sums such as the alpha/gamma sums of "
    "the Haar integral, the elementwise parts of gradients), gathers, copies, concatenations and padding fills, the "
    "optimizer update, and all validation and testing"
)

_aten = torch.ops.aten


def _raw(formula):
    """Mark a formula for FlopCounterMode as taking the op's tensors (not only their shapes): complex matters."""
    formula._get_raw = True
    return formula


def _complex_factor(*tensors) -> int:
    # A complex multiply-add is 4 real multiplies and 4 real adds (8 flops) against a real one's 2.
    return 4 if any(isinstance(t, torch.Tensor) and t.is_complex() for t in tensors) else 1


@_raw
def _mm(a, b, *args, out_val=None, **kwargs) -> int:
    (m, k), n = a.shape, b.shape[-1]
    return 2 * m * n * k * _complex_factor(a, b)


@_raw
def _addmm(bias, a, b, *args, out_val=None, **kwargs) -> int:
    return _mm(a, b)


@_raw
def _bmm(a, b, *args, out_val=None, **kwargs) -> int:
    (batch, m, k), n = a.shape, b.shape[-1]
    return 2 * batch * m * n * k * _complex_factor(a, b)


@_raw
def _baddbmm(bias, a, b, *args, out_val=None, **kwargs) -> int:
    return _bmm(a, b)


@_raw
def _mv(a, v, *args, out_val=None, **kwargs) -> int:
    m, k = a.shape
    return 2 * m * k * _complex_factor(a, v)


@_raw
def _addmv(bias, a, v, *args, out_val=None, **kwargs) -> int:
    return _mv(a, v)


@_raw
def _dot(a, b, *args, out_val=None, **kwargs) -> int:
    return 2 * a.numel() * _complex_factor(a, b)


def _transform_points(shape, dims) -> int:
    return math.prod(shape[d] for d in dims) if dims else 1


@_raw
def _fft_r2c(x, dim, *args, out_val=None, **kwargs) -> int:
    n = _transform_points(x.shape, dim)
    return round(fft_flops(n, x.numel() // max(n, 1), real=True))


@_raw
def _fft_c2r(x, dim, normalization, last_dim_size, *args, out_val=None, **kwargs) -> int:
    # The real side is the output: its transformed sizes are the input's, with the last one given explicitly.
    n = _transform_points(out_val.shape, dim)
    return round(fft_flops(n, out_val.numel() // max(n, 1), real=True))


@_raw
def _fft_c2c(x, dim, *args, out_val=None, **kwargs) -> int:
    n = _transform_points(x.shape, dim)
    return round(fft_flops(n, x.numel() // max(n, 1), real=False))


#: Our formulas, replacing or extending FlopCounterMode's registry (convolutions keep torch's).
_FORMULAS = {
    _aten.mm: _mm,
    _aten.addmm: _addmm,
    _aten.bmm: _bmm,
    _aten.baddbmm: _baddbmm,
    _aten.addbmm: _baddbmm,
    _aten.mv: _mv,
    _aten.addmv: _addmv,
    _aten.dot: _dot,
    _aten.vdot: _dot,
    _aten._fft_r2c: _fft_r2c,
    _aten._fft_c2r: _fft_c2r,
    _aten._fft_c2c: _fft_c2c,
}


@dataclass(frozen=True)
class TrainingFlops:
    r"""FLOPs of one training step of one batch (see the module docstring for what is counted).

    Attributes
    ----------
    forward, backward : int
        Real flops of the forward pass and of the backward pass (recomputations included).
    input_shape : tuple of int
        The batch the step was counted on.
    forward_by_op, backward_by_op : dict
        The same, per aten op (``"aten.bmm"``, ``"aten._fft_r2c"``, ...).
    """

    forward: int
    backward: int
    input_shape: tuple[int, ...]
    forward_by_op: Mapping[str, int] = field(default_factory=dict)
    backward_by_op: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Forward + backward: the flops of one training step of this batch."""
        return self.forward + self.backward


def _by_op(counter: FlopCounterMode) -> dict[str, int]:
    return {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}


def _sum_loss(output) -> torch.Tensor:
    """The sum of every floating-point tensor in ``output`` (a tensor, or a tuple/list/dict of them)."""
    if isinstance(output, torch.Tensor):
        return output.real.sum() if output.is_complex() else output.sum()
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        parts = [_sum_loss(o) for o in output if isinstance(o, (torch.Tensor, tuple, list, Mapping))]
        if parts:
            return torch.stack([p.to(parts[0].dtype) for p in parts]).sum()
    raise ValueError(f"count_training_flops: the network returned {type(output).__name__}, not tensors to sum")


def count_training_flops(
    network: nn.Module,
    input_shape=None,
    *,
    example: torch.Tensor | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    loss: Callable[[object], torch.Tensor] | None = None,
) -> TrainingFlops:
    r"""Count the FLOPs of one training step (forward + backward) of ``network`` on a batch of shape ``input_shape``.

    Parameters
    ----------
    network : nn.Module
        Left untouched: a deep copy runs, in the network's own mode (``train()`` for a training step).
    input_shape : sequence of int
        The training batch, e.g. ``(batch_size, in_channels, 2b, 2b)``. The input is zeros: the counted ops do not
        depend on the values.
    example : Tensor, optional
        A batch to run instead (``input_shape`` is then its shape).
    dtype, device : optional
        Of the zero input; default those of the network's first floating-point parameter (float32 on the CPU without
        one).
    loss : callable, optional
        Maps the output to the scalar to differentiate; default the sum of the outputs (see the module docstring).

    Returns
    -------
    TrainingFlops

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    >>> flops = count_training_flops(net, (4, 3, 2, 2))
    >>> (flops.forward, flops.backward)  # 2*4*12*5 forward; the weight's gradient the same (the input needs none)
    (480, 480)
    """
    if (input_shape is None) == (example is None):
        raise ValueError("count_training_flops: give either input_shape or example")
    params = [p for p in network.parameters() if p.is_floating_point()]
    if example is not None:
        input_shape, dtype, device = example.shape, example.dtype, example.device
    input_shape = tuple(int(s) for s in input_shape)
    dtype = dtype or (params[0].dtype if params else torch.get_default_dtype())
    device = torch.device(device) if device is not None else (params[0].device if params else torch.device("cpu"))
    replica = copy.deepcopy(network)  # batch-norm statistics, gradients and parameters of the network stay as they are
    for p in replica.parameters():
        p.grad = None
    x = example.detach() if example is not None else torch.zeros(input_shape, dtype=dtype, device=device)
    # Dropout and other random layers draw from the global generators: fork them, so that the fit's streams (and a
    # resumed fit's) are the same as without the count.
    rng_devices = []
    if device.type == "cuda":
        rng_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=rng_devices), torch.enable_grad():
        with FlopCounterMode(display=False, custom_mapping=_FORMULAS) as forward:
            value = (loss or _sum_loss)(replica(x))
        with FlopCounterMode(display=False, custom_mapping=_FORMULAS) as backward:
            if value.requires_grad:
                value.backward()
    forward_by_op, backward_by_op = _by_op(forward), _by_op(backward)
    return TrainingFlops(
        forward=sum(forward_by_op.values()),
        backward=sum(backward_by_op.values()),
        input_shape=input_shape,
        forward_by_op=forward_by_op,
        backward_by_op=backward_by_op,
    )
