r"""Chains of linear products as single autograd functions: the layers' transforms.

A transform between a grid and block entries is a fixed sequence of products with constant tables (azimuthal DFTs as
``mm``/``bmm``, then the Wigner step; or the reverse). :class:`Chain` runs such a sequence with every intermediate in
scratch memory (:mod:`._workspace`: the intermediates are as large as the grid, and fresh 100 MB allocations cost
more in page faults than the products cost in arithmetic) and stores nothing for backward: the gradient is the
adjoint chain (the products reversed, matrices transposed, the Wigner step run the other way with the same tables),
itself a :class:`Chain`, so double backward works and a gradient costs what the forward costs.
"""

from __future__ import annotations

import contextlib
import math

import torch

from ._profiling import op_range
from ._workspace import workspace

__all__ = ["Chain", "Stage", "adjoint", "complex_entries", "split_entries"]


class Stage:
    """One product of a transform chain: ``mm`` (a matrix times the input's leading axis), ``bmm`` (the same matrix
    for each of ``batch`` slabs), ``butterfly`` / ``butterfly_t`` (:func:`butterfly`, operand L), ``to_entries`` /
    ``to_rows`` (the Wigner step on the layers' rows,
    :meth:`~._wigner.WignerStep.rows_to_entries`), ``pairs_to_entries`` / ``entries_to_pairs`` (the Wigner step on
    gathered pairs ``[P, J, 2N]``, :meth:`~._wigner.WignerStep.pairs_to_entries`)."""

    def __init__(self, kind: str, operand, table: str | None = None, batch: int = 1, label: str | None = "fft"):
        self.kind, self.operand, self.table, self.batch, self.label = kind, operand, table, batch, label

    _ADJOINT_KIND = {
        "butterfly": "butterfly_t",
        "butterfly_t": "butterfly",
        "to_entries": "to_rows",
        "to_rows": "to_entries",
        "pairs_to_entries": "entries_to_pairs",
        "entries_to_pairs": "pairs_to_entries",
    }

    def adjoint(self) -> Stage:
        if self.kind in ("mm", "bmm"):
            return Stage(self.kind, self.operand.t(), batch=self.batch, label=self.label)
        return Stage(self._ADJOINT_KIND[self.kind], self.operand, self.table, label=self.label)

    def out_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        """The natural shape of this product of ``x``: ``[rows, columns]`` (mm), ``[batch, rows, columns]`` (bmm),
        ``[entries, 2N]`` (to_entries), ``[sources, 2N, J]`` (to_rows)."""
        if self.kind == "mm":
            return (self.operand.shape[0], x.numel() // self.operand.shape[1])
        if self.kind == "bmm":
            return (self.batch, self.operand.shape[0], x.numel() // (self.batch * self.operand.shape[1]))
        if self.kind == "butterfly":
            L = self.operand
            return (L, 2 * L - 1, 2, x.numel() // (4 * L * L))
        if self.kind == "butterfly_t":
            L = self.operand
            return (L, 2, 2, L, x.numel() // (2 * L * (2 * L - 1)))
        step = self.operand
        n_pairs = sum(step.block_pairs)
        if self.kind == "to_entries":
            return (step.padded_entries, x.numel() // (step.n_sources * step.n_beta))
        if self.kind == "to_rows":
            return (step.n_sources, x.numel() // step.padded_entries, step.n_beta)
        if self.kind == "pairs_to_entries":
            return (step.padded_entries, x.numel() // (n_pairs * step.n_beta))
        return (n_pairs, step.n_beta, x.numel() // step.padded_entries)

    def run(self, x: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor | None) -> torch.Tensor:
        """Write this product of ``x`` into the flat ``out``; ``scratch`` for the Wigner step's gather."""
        M = self.operand
        with op_range(self.label) if self.label else contextlib.nullcontext():
            if self.kind == "mm":
                return torch.mm(M, x.reshape(M.shape[1], -1), out=out.view(M.shape[0], -1))
            if self.kind == "bmm":
                slabs = x.reshape(self.batch, M.shape[1], -1)
                return torch.bmm(M.expand(self.batch, -1, -1), slabs, out=out.view(self.batch, M.shape[0], -1))
            if self.kind == "butterfly":
                return butterfly(x.reshape(M, 2, 2, M, -1), out.view(M, 2 * M - 1, 2, -1))
            if self.kind == "butterfly_t":
                return butterfly_t(x.reshape(M, 2 * M - 1, 2, -1), out.view(M, 2, 2, M, -1))
            if self.kind == "to_entries":
                rows = x.reshape(M.n_sources, -1, M.n_beta)
                M.rows_to_entries(rows, self.table, out.view(M.padded_entries, -1), scratch)
                return out
            if self.kind == "pairs_to_entries":
                pairs = x.reshape(sum(M.block_pairs), M.n_beta, -1)
                M.pairs_to_entries(pairs, self.table, out.view(M.padded_entries, -1))
                return out
            entries = x.reshape(M.padded_entries, -1)
            if self.kind == "entries_to_pairs":
                M.entries_to_pairs(entries, self.table, out.view(sum(M.block_pairs), M.n_beta, -1))
                return out
            M.entries_to_rows(entries, self.table, out.view(M.n_sources, -1, M.n_beta), scratch)
            return out


def butterfly(B: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    r"""The α step's cosine and sine sums -> the orders ±m, into ``out``.

    ``B [n, re/im, cos/sin, m, K]`` holds :math:`C_m = \sum_k A(\alpha_k)\cos m\alpha_k` and
    :math:`S_m = \sum_k A(\alpha_k)\sin m\alpha_k` (0 <= m < L) of a complex :math:`A_n`; ``out [n, 2L-1, re/im, K]``
    gets :math:`X_{\pm m} = \sum_k A(\alpha_k) e^{\mp im\alpha_k} = C_m \mp iS_m` at rows m (0 <= m < L) and L-1+m
    (the orders -m, 1 <= m < L): re = C_re ± S_im, im = C_im ∓ S_re. Half the multiply-adds of computing each
    order's sum separately, for one pass of additions."""
    L = B.shape[0]
    Cr, Ci, Sr, Si = B[:, 0, 0], B[:, 1, 0], B[:, 0, 1], B[:, 1, 1]  # [n, m, K]
    pos, neg = out[:, :L], out[:, L:]
    torch.add(Cr, Si, out=pos[:, :, 0])
    torch.sub(Ci, Sr, out=pos[:, :, 1])
    torch.sub(Cr[:, 1:], Si[:, 1:], out=neg[:, :, 0])
    torch.add(Ci[:, 1:], Sr[:, 1:], out=neg[:, :, 1])
    return out


def butterfly_t(R: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    r"""The adjoint of :func:`butterfly`, into ``out``: rows ``R [n, 2L-1, re/im, K]`` of the orders ±m ->
    ``[n, re/im, cos/sin, m, K]``, cos slots :math:`X_m + X_{-m}`, sin slots :math:`i(X_m - X_{-m})` (for m = 0: X_0
    and :math:`iX_0`). The inverse α step reads the same sums: :math:`\sum_{|m|<L} X_m e^{im\alpha} = \sum_{0 \le
    m<L} (X_m + X_{-m})\cos m\alpha + i(X_m - X_{-m})\sin m\alpha`."""
    L = R.shape[0]
    Xr, Xi, Yr, Yi = R[:, :L, 0], R[:, :L, 1], R[:, L:, 0], R[:, L:, 1]  # X: orders m >= 0, Y: -1, -2, ...
    Cr, Ci, Sr, Si = out[:, 0, 0], out[:, 1, 0], out[:, 0, 1], out[:, 1, 1]
    Cr[:, 0].copy_(Xr[:, 0])
    Ci[:, 0].copy_(Xi[:, 0])
    Si[:, 0].copy_(Xr[:, 0])
    torch.neg(Xi[:, 0], out=Sr[:, 0])
    torch.add(Xr[:, 1:], Yr, out=Cr[:, 1:])
    torch.add(Xi[:, 1:], Yi, out=Ci[:, 1:])
    torch.sub(Xr[:, 1:], Yr, out=Si[:, 1:])
    torch.sub(Yi, Xi[:, 1:], out=Sr[:, 1:])
    return out


def _strided_empty(shape, memory_order, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``shape`` whose axes lie in memory in ``memory_order`` (outermost first); a tensor
    of its own, not a view."""
    strides, step = [0] * len(shape), 1
    for axis in reversed(memory_order):
        strides[axis], step = step, step * shape[axis]
    return torch.empty_strided(tuple(shape), tuple(strides), dtype=like.dtype, device=like.device)


class Chain(torch.autograd.Function):
    r"""``x`` through a chain of products (:class:`Stage`), intermediates in scratch memory.

    ``x`` is a matrix whose leading axis the first product contracts (any strides the first product can read). The
    result is a new contiguous tensor of the last product's natural shape (:meth:`Stage.out_shape`), or, with
    ``out_spec = (shape, memory_order)``, a tensor of that logical shape laid out in that memory order (the last
    product writes it in place). Backward: the adjoint chain on the gradient, returned in ``x``'s shape; it is itself
    a ``Chain``, so double backward works.

    ``relu=True`` applies :math:`\max(y, 0)` to the result in place and keeps only the one-byte mask :math:`[y > 0]`
    (as :func:`~sphere_study.nn.mask_relu`); its backward masks the gradient in scratch memory, where a separate ReLU
    would allocate a fresh grid-sized gradient.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, stages: tuple, adjoint: tuple, out_spec, relu: bool = False) -> torch.Tensor:
        ctx.adjoint, ctx.stages, ctx.in_shape = adjoint, stages, x.shape
        ctx.memory_order = None if out_spec is None else out_spec[1]
        result = _run_chain(stages, x, out_spec)
        ctx.relu = relu
        if relu:
            with op_range("relu"):
                ctx.save_for_backward(result > 0)
                result.relu_()
        return result

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        mask = ctx.saved_tensors[0] if ctx.relu else None
        if ctx.memory_order is not None:  # the first adjoint product reads the gradient in the result's memory order
            grad = grad.permute(*ctx.memory_order)
            mask = None if mask is None else mask.permute(*ctx.memory_order)
        if mask is not None:
            with op_range("relu"):
                if grad.requires_grad:  # double backward: stay differentiable
                    grad = grad * mask.to(grad.dtype)
                else:  # slot 1: the adjoint chain's first product reads it and writes slot 0
                    masked = workspace(1, grad.numel(), grad.dtype, grad.device).view(grad.shape)
                    grad = masked.copy_(mask).mul_(grad)
        grad_in = Chain.apply(grad, ctx.adjoint, ctx.stages, None)
        return grad_in.view(ctx.in_shape), None, None, None, None


def _run_chain(stages: tuple, x: torch.Tensor, out_spec) -> torch.Tensor:
    # Two scratch slots: each product writes the slot its input is not in. The Wigner step's gather needs a third
    # buffer; it takes the slot that neither its input nor its output uses, which exists because the step comes
    # first (input: the chain's own) or last (output: the result) in every chain.
    in_slot = None
    for i, stage in enumerate(stages):
        last = i == len(stages) - 1
        shape = stage.out_shape(x)
        n_out = math.prod(shape)
        if last:
            result = x.new_empty(shape) if out_spec is None else _strided_empty(*out_spec, like=x)  # autograd owns it
            out = result.view(-1) if out_spec is None else result.permute(*out_spec[1]).view(-1)
            out_slot = None
        else:
            out_slot = 0 if in_slot != 0 else 1
            out = workspace(out_slot, n_out, x.dtype, x.device)
        scratch = None
        if stage.kind in ("to_entries", "to_rows"):
            free = ({0, 1} - {in_slot, out_slot}).pop()
            scratch = workspace(free, max(x.numel(), n_out), x.dtype, x.device)
        stage.run(x, out, scratch)
        x, in_slot = out, out_slot
    return result


def adjoint(stages: tuple) -> tuple:
    return tuple(stage.adjoint() for stage in reversed(stages))


def complex_entries(split: torch.Tensor) -> torch.Tensor:
    """Entries ``[E, (re/im, N)]`` real, as a chain writes them -> ``[E, N]`` complex."""
    return torch.view_as_complex(split.view(split.shape[0], 2, -1).transpose(1, 2).contiguous())


def split_entries(entries: torch.Tensor) -> torch.Tensor:
    """Entries ``[E, N]`` complex -> ``[E, (re/im, N)]`` real, as a chain reads them."""
    return torch.view_as_real(entries).transpose(1, 2).reshape(entries.shape[0], -1)
