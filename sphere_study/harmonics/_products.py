r"""Spectral products of the S2CNN layers: per-degree matrix products of spectra with kernel spectra.

With x a signal spectrum ``[..., C_in, nspec]`` and y a kernel spectrum ``[C_in, C_out, nspec]``:

.. math::

    \texttt{s2\_mm}:\quad z^l_{mn} = \sum_c x^l_m[c]\, \overline{y^l_n[c]}
    \qquad (S^2 \times S^2 \to SO(3)),

    \texttt{so3\_mm}:\quad z^l_{mn} = \sum_c \sum_k x^l_{mk}[c]\, \overline{y^l_{nk}[c]}
    \quad\text{i.e. } z^l = x^l (y^l)^H \qquad (SO(3) \times SO(3) \to SO(3)),

    \texttt{so3\_to\_s2\_mm}:\quad z^l_m = \sum_n \big[x^l (y^l)^H\big]_{mn}
    = \sum_c \sum_k x^l_{mk}[c]\, \overline{\textstyle\sum_n y^l_{nk}[c]} \qquad (SO(3) \times SO(3) \to S^2).

These are the Fourier images of the correlations :math:`\int \psi(R^{-1}x) f(x)\,dx` and
:math:`\int \psi(R^{-1}g) f(g)\,dg` (see :mod:`sphere_study.nn`). A rotation of the input acts on the index m only,
so the outputs rotate with the input.

Degrees are grouped into a few contiguous blocks; within a block each degree's matrices are zero-padded to the
block's largest size and one ``bmm`` handles the block. Internally spectra are laid out spectral-axis-first
(``[nspec, batch, channel]``, the layout the transforms return), so the batched products need no transposes of the
batch.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch

from ._profiling import labelled, op_range
from ._validation import s2_bandwidth_of_spectrum, s2_nspec, so3_bandwidth_of_spectrum, so3_nspec
from ._wigner import entry_layout, partition_blocks, s2_index, so3_index

__all__ = ["s2_mm", "so3_mm", "so3_to_s2_mm", "so3_sum_n"]


class _DegreeBlock:
    """Index maps of one block of degrees [l0, l1) padded to M = 2 l1 - 1 orders per axis."""

    def __init__(self, l0: int, l1: int, b: int, device):
        M = 2 * l1 - 1
        l = np.arange(l0, l1)[:, None, None]
        m = np.arange(-(l1 - 1), l1)[None, :, None]
        k = np.arange(-(l1 - 1), l1)[None, None, :]
        valid3 = (np.abs(m) <= l) & (np.abs(k) <= l)  # [nl, M, M]
        valid2 = np.abs(m[:, :, 0]) <= l[:, :, 0]  # [nl, M]
        self.M, self.n_degrees = M, l1 - l0
        t = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)  # noqa: E731
        # Gather maps into the whole spectrum (bandwidth b) extended by one zero entry, index nspec(b), for padding.
        self.so3_gather = t(np.where(valid3, so3_index(l, m, k), so3_nspec(b)).ravel())
        self.s2_gather = t(np.where(valid2, s2_index(l[:, :, 0], m[:, :, 0]), s2_nspec(b)).ravel())
        # Positions of the valid outputs inside the flattened padded block, in spectral order.
        self.so3_valid = t(np.flatnonzero(valid3.ravel()))
        self.s2_valid = t(np.flatnonzero(valid2.ravel()))


class _DegreeBlocks(list):
    """All blocks of bandwidth b, with their gather maps concatenated: one gather per operand, then a split (the
    backward of a split is one concatenation; per-block gathers would each scatter into a zero copy of the input)."""

    def __init__(self, blocks: list[_DegreeBlock]):
        super().__init__(blocks)
        self.so3_gather = torch.cat([blk.so3_gather for blk in blocks])
        self.s2_gather = torch.cat([blk.s2_gather for blk in blocks])
        self.so3_sizes = [len(blk.so3_gather) for blk in blocks]
        self.s2_sizes = [len(blk.s2_gather) for blk in blocks]


@lru_cache(maxsize=32)
def _degree_blocks(b: int, device: torch.device) -> _DegreeBlocks:
    blocks = partition_blocks(b, lambda a, e: (e - a) * (2 * e - 1) ** 3)
    return _DegreeBlocks([_DegreeBlock(a, e, b, device) for a, e in blocks])


def _spectral_first(x: torch.Tensor) -> torch.Tensor:
    """``[..., C, nspec]`` -> ``[nspec + 1, prod(...), C]`` with a trailing zero entry (for padded gathers)."""
    x = x.reshape(-1, x.shape[-2], x.shape[-1]).permute(2, 0, 1)
    return torch.cat([x, x.new_zeros(1, *x.shape[1:])])


def _check_pair(x: torch.Tensor, y: torch.Tensor, bandwidth_of, what_x: str, what_y: str) -> int:
    bx, by = bandwidth_of(x, what_x), bandwidth_of(y, what_y)
    if bx != by:
        raise ValueError(f"bandwidth mismatch: {what_x} has b={bx} ({x.shape[-1]} coefficients), {what_y} has b={by}")
    if x.dim() < 2 or y.dim() != 3 or x.shape[-2] != y.shape[0]:
        raise ValueError(
            f"expected {what_x} [..., C_in, nspec] and {what_y} [C_in, C_out, nspec] with equal C_in; "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return bx


def _finish(z: torch.Tensor, batch_shape, c_out: int) -> torch.Tensor:
    """``[nspec, N, C_out]`` -> ``[..., C_out, nspec]`` (a view; memory stays spectral-first)."""
    return z.permute(1, 2, 0).reshape(*batch_shape, c_out, z.shape[0])


@labelled("s2_mm")
def s2_mm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""S² spectra ``x [..., C_in, b^2]`` and kernel spectra ``y [C_in, C_out, b^2]`` -> SO(3) spectra
    ``[..., C_out, b(4b^2-1)/3]`` with :math:`z^l_{mn} = \sum_c x^l_m[c]\, \overline{y^l_n[c]}`.
    """
    b = _check_pair(x, y, s2_bandwidth_of_spectrum, "S2 spectrum x", "kernel spectrum y")
    batch_shape, c_out = x.shape[:-2], y.shape[1]
    xs, ys = _spectral_first(x), torch.cat([y.permute(2, 0, 1), y.new_zeros(1, *y.shape[:2])])
    N, c_in = xs.shape[1], xs.shape[2]
    blocks = _degree_blocks(b, x.device)
    xparts = xs.index_select(0, blocks.s2_gather).split(blocks.s2_sizes)
    yparts = ys.index_select(0, blocks.s2_gather).split(blocks.s2_sizes)
    out = []
    for blk, xg, yg in zip(blocks, xparts, yparts, strict=True):
        nl, M = blk.n_degrees, blk.M
        xg = xg.reshape(nl, M * N, c_in)
        yg = yg.view(nl, M, c_in, c_out).permute(0, 2, 1, 3)
        z = torch.bmm(xg, yg.reshape(nl, c_in, M * c_out).conj())  # [nl, (m, N), (n, C_out)]
        z = z.view(nl, M, N, M, c_out).permute(0, 1, 3, 2, 4).reshape(nl * M * M, N, c_out)
        out.append(z.index_select(0, blk.so3_valid))
    return _finish(torch.cat(out), batch_shape, c_out)


def _so3_blocks_x(xs: torch.Tensor, blocks: _DegreeBlocks) -> list[torch.Tensor]:
    """Padded per-degree matrices ``[nl, (m, N), (k, C)]`` of spectral-first SO(3) spectra, one per block."""
    N, c = xs.shape[1], xs.shape[2]
    parts = xs.index_select(0, blocks.so3_gather).split(blocks.so3_sizes)
    return [
        xg.view(blk.n_degrees, blk.M, blk.M, N, c).permute(0, 1, 3, 2, 4).reshape(blk.n_degrees, blk.M * N, blk.M * c)
        for blk, xg in zip(blocks, parts, strict=True)
    ]


@labelled("so3_mm")
def so3_mm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""SO(3) spectra ``x [..., C_in, nspec]`` and kernel spectra ``y [C_in, C_out, nspec]`` -> ``[..., C_out, nspec]``
    with :math:`z^l = \sum_c x^l[c]\, (y^l[c])^H` per degree.
    """
    b = _check_pair(x, y, so3_bandwidth_of_spectrum, "SO(3) spectrum x", "kernel spectrum y")
    batch_shape, c_out = x.shape[:-2], y.shape[1]
    xs, ys = _spectral_first(x), torch.cat([y.permute(2, 0, 1), y.new_zeros(1, *y.shape[:2])])
    N, c_in = xs.shape[1], xs.shape[2]
    blocks = _degree_blocks(b, x.device)
    yparts = ys.index_select(0, blocks.so3_gather).split(blocks.so3_sizes)
    out = []
    for blk, xg, yg in zip(blocks, _so3_blocks_x(xs, blocks), yparts, strict=True):
        nl, M = blk.n_degrees, blk.M
        # y^l_{nk}[c, o] -> [(k, c), (n, o)], conjugated: (y^l)^H per channel pair.
        yg = yg.view(nl, M, M, c_in, c_out).permute(0, 2, 3, 1, 4)
        z = torch.bmm(xg, yg.reshape(nl, M * c_in, M * c_out).conj())  # [nl, (m, N), (n, C_out)]
        z = z.view(nl, M, N, M, c_out).permute(0, 1, 3, 2, 4).reshape(nl * M * M, N, c_out)
        out.append(z.index_select(0, blk.so3_valid))
    return _finish(torch.cat(out), batch_shape, c_out)


@lru_cache(maxsize=32)
def _sum_n_index(b: int, device: torch.device) -> torch.Tensor:
    """For each SO(3) coefficient (l, m, n): the S² index of (l, m)."""
    l = np.repeat(np.arange(b), (2 * np.arange(b) + 1) ** 2)
    m = np.concatenate([np.repeat(np.arange(-d, d + 1), 2 * d + 1) for d in range(b)])
    return torch.as_tensor(s2_index(l, m), dtype=torch.long, device=device)


def so3_sum_n(xhat: torch.Tensor) -> torch.Tensor:
    r"""SO(3) spectrum ``[..., nspec]`` -> S² spectrum ``[..., b^2]``, :math:`z^l_m = \sum_n \hat x^l_{mn}`."""
    b = so3_bandwidth_of_spectrum(xhat, "SO(3) spectrum")
    flat = xhat.reshape(-1, xhat.shape[-1]).transpose(0, 1)
    z = flat.new_zeros(s2_nspec(b), flat.shape[1]).index_add(0, _sum_n_index(b, xhat.device), flat)
    return z.transpose(0, 1).reshape(*xhat.shape[:-1], s2_nspec(b))


@labelled("so3_to_s2_mm")
def so3_to_s2_mm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""``so3_sum_n(so3_mm(x, y))`` computed as one matrix-vector product per degree (the sum over the kernel's
    index n moves inside): :math:`z^l_m = \sum_{c,k} x^l_{mk}[c]\, \overline{\textstyle\sum_n y^l_{nk}[c]}`.

    ``x [..., C_in, nspec]``, ``y [C_in, C_out, nspec]`` -> S² spectra ``[..., C_out, b^2]``.
    """
    b = _check_pair(x, y, so3_bandwidth_of_spectrum, "SO(3) spectrum x", "kernel spectrum y")
    batch_shape, c_out = x.shape[:-2], y.shape[1]
    c_in = y.shape[0]
    # sum_n y^l_{nk}: the kernel's "transposed" sum lands on the S² index (l, k).
    l = np.repeat(np.arange(b), (2 * np.arange(b) + 1) ** 2)
    k = np.concatenate([np.tile(np.arange(-d, d + 1), 2 * d + 1) for d in range(b)])
    target = torch.as_tensor(s2_index(l, k), dtype=torch.long, device=y.device)
    ysum = y.new_zeros(s2_nspec(b) + 1, c_in, c_out).index_add(0, target, y.permute(2, 0, 1))
    xs = _spectral_first(x)
    N = xs.shape[1]
    blocks = _degree_blocks(b, x.device)
    yparts = ysum.index_select(0, blocks.s2_gather).split(blocks.s2_sizes)
    out = []
    for blk, xg, yg in zip(blocks, _so3_blocks_x(xs, blocks), yparts, strict=True):
        nl, M = blk.n_degrees, blk.M
        yg = yg.view(nl, M * c_in, c_out)  # [(k, c), o]
        z = torch.bmm(xg, yg.conj()).view(nl * M, N, c_out)  # [(l, m), N, C_out]
        out.append(z.index_select(0, blk.s2_valid))
    return _finish(torch.cat(out), batch_shape, c_out)


# ---------------------------------------------------------------------------------------------------------------
# The layers' path: products between block entries (:meth:`WignerStep.analysis_entries`) of real signals.
#
# A real signal's spectrum is Hermitian, so the transforms keep only the pairs with n >= 0 (S²: m >= 0), as block
# entries. The products below read those entries directly into padded per-degree matrices (one gather per operand,
# the mirrored half conjugated and signed on the way) and compute only the output's stored half: so3_mm the columns
# n >= 0 of z^l = x^l (y^l)^H (half the multiply-adds), so3_to_s2_mm the rows m >= 0. The results are block entries
# that the inverse transform reads as they are: no flat spectra, no Hermitian averaging in between.
# ---------------------------------------------------------------------------------------------------------------


def _entry_maps(space: str, L: int, l, a, b, conj: bool):
    """Entry of coefficient (l, a, b) (SO(3); S²: (l, a)) of the entries of bandwidth L and the real/imaginary
    factors that turn the entry into the coefficient (1, 1; conjugated and signed for a mirrored one; 0, 0 where the
    coefficient does not exist, which reads entry 0), broadcast over the shapes of l, a, b."""
    layout = entry_layout(space, L)
    if space == "so3":
        valid = (np.abs(a) <= l) & (np.abs(b) <= l)
        spec = np.where(valid, so3_index(l, a, b), 0)
    else:
        valid = np.abs(a) <= l
        spec = np.where(valid, s2_index(l, a), 0)
    index = np.where(valid, layout.gather_np[spec], 0)
    mirrored, sign = layout.mirrored_np[spec], layout.sign_np[spec]
    re = np.where(valid, np.where(mirrored, sign, 1.0), 0.0)
    im = np.where(mirrored, -re, re) * (-1.0 if conj else 1.0)
    return index, np.stack([re, im], axis=-1)


def _entry_positions(space: str, L: int, l0: int, l1: int):
    """Entries of bandwidth L with degree in [l0, l1): their rows and (l - l0, m, n) (S²: (l - l0, m, 0))."""
    layout = entry_layout(space, L)
    spec = layout.entry_spec.numpy()
    l_all = np.floor(np.sqrt(np.arange(s2_nspec(L)))).astype(np.int64) if space == "s2" else None
    if space == "s2":
        valid = spec < s2_nspec(L)
        safe = np.where(valid, spec, 0)
        l, m = l_all[safe], safe - l_all[safe] ** 2 - l_all[safe]
        n = np.zeros_like(m)
    else:
        valid = spec < so3_nspec(L)
        safe = np.where(valid, spec, 0)
        l = np.searchsorted(so3_index(np.arange(L + 1), -np.arange(L + 1), -np.arange(L + 1)), safe, side="right") - 1
        rem = safe - so3_index(l, -l, -l)
        m, n = rem // (2 * l + 1) - l, rem % (2 * l + 1) - l
    rows = np.flatnonzero(valid & (l >= l0) & (l < l1))
    return rows, l[rows] - l0, m[rows], n[rows]


class _EntryProduct:
    """Index maps of one entry product at bandwidth L: the operands' entries and factors for all degree blocks (one
    gather each), per block the output positions, and the permutation from the blocks' concatenated outputs to the
    output's entry order."""

    def __init__(self, kind: str, L: int, device):
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long, device=device)  # noqa: E731
        blocks = partition_blocks(L, lambda a, e: (e - a) * (2 * e - 1) ** 3)
        out_space = "s2" if kind == "so3_to_s2" else "so3"
        self.blocks, rows_all, offset = [], [], 0
        ix_all, iy_all, fx_all, fy_all = [], [], [], []
        for l0, l1 in blocks:
            M, Mh = 2 * l1 - 1, l1
            l = np.arange(l0, l1)[:, None, None]
            full, half = np.arange(-(l1 - 1), l1), np.arange(l1)
            if kind == "s2":  # x^l_m [l, m], y^l_n [l, n >= 0] (S² entries)
                ix, fx = _entry_maps("s2", L, l[:, :, 0], full[None, :], None, conj=False)
                iy, fy = _entry_maps("s2", L, l[:, :, 0], half[None, :], None, conj=True)
            elif kind == "so3":  # x^l_{mk} [l, m, k], conj y^l_{nk} as [l, k, n >= 0]
                ix, fx = _entry_maps("so3", L, l, full[None, :, None], full[None, None, :], conj=False)
                iy, fy = _entry_maps("so3", L, l, half[None, None, :], full[None, :, None], conj=True)
            else:  # x^l_{mk} [l, m >= 0, k], conj y^l_{nk} as [l, k, n even]
                ix, fx = _entry_maps("so3", L, l, half[None, :, None], full[None, None, :], conj=False)
                # z^l_m = sum_n [x^l (y^l)^H]_{mn} is not Hermitian: z^l_{-m} = (-1)^m conj(sum_n (-1)^n [...]_{mn}).
                # The layer keeps the real part of its output, whose spectrum, (z_m + (-1)^m conj(z_{-m})) / 2, is the
                # sum over even n alone: Hermitian, so its rows m >= 0 are all the inverse transform needs.
                even = full[full % 2 == 0]
                iy, fy = _entry_maps("so3", L, l, even[None, None, :], full[None, :, None], conj=True)
            rows, dl, m, n = _entry_positions(out_space, L, l0, l1)
            # Output positions in the block's product: ((l, m), n >= 0) of [(l, m), B, n, O] (SO(3)), or (l, m >= 0) of
            # [(l, m), B, O] (S²).
            pos = (t(dl * M + m + (l1 - 1)), t(n)) if out_space == "so3" else (t(dl * Mh + m),)
            self.blocks.append({"M": M, "Mh": Mh, "nl": l1 - l0, "n_y": iy.shape[-1], "pos": pos})
            ix_all.append(ix)
            iy_all.append(iy)
            fx_all.append(fx)
            fy_all.append(fy)
            rows_all.append(rows)
            offset += len(rows)
        self.maps = {"x": (ix_all, fx_all), "y": (iy_all, fy_all)}
        if kind == "so3_to_s2":
            self._kernel_sum_maps(iy_all, fy_all, entry_layout("so3", L).padded_entries)
        # Where the operand's column group (x: batch, y: input channel) goes among the gathered axes: innermost, or
        # before the last index axis, so that each block's gather is already its matrix ([l, m, B, k] and
        # [l, k, C, n]: (m, B) rows and (k, C) columns), with no transposition.
        self.group_axis = {
            "x": "last" if kind == "s2" else "before_last",
            "y": "last" if kind == "so3_to_s2" else "before_last",
        }
        self.x_sizes, self.y_sizes = [i.size for i in ix_all], [i.size for i in iy_all]
        n_out = entry_layout(out_space, L).padded_entries
        perm = np.full(n_out, offset, dtype=np.int64)  # padding entries -> the zero row after the blocks' outputs
        perm[np.concatenate(rows_all)] = np.arange(offset)
        self.perm = t(perm)
        self.device = device
        self._flat = {}

    def _kernel_sum_maps(self, iy_all, fy_all, n_entries: int) -> None:
        r"""so3_to_s2's kernel operand :math:`\sum_{n\ even} \overline{y^l_{nk}}` for every block row (l, k), as
        two sparse matrices [rows, entries] (the factors of the real and of the imaginary parts): a sum of a few
        entries per row, where a gather of every (l, k, n) before summing would move ~l/2 times the data."""
        rows, cols, re, im, offset = [], [], [], [], 0
        for index, factor in zip(iy_all, fy_all, strict=True):  # [l, k, n even], [l, k, n even, 2]
            r = offset + np.arange(index.shape[0] * index.shape[1]).reshape(index.shape[:2])
            keep = factor[..., 0] != 0
            rows.append(np.broadcast_to(r[..., None], index.shape)[keep])
            cols.append(index[keep])
            re.append(factor[..., 0][keep])
            im.append(factor[..., 1][keep])
            offset += r.size
        self.kernel_sum = (np.concatenate(rows), np.concatenate(cols), np.concatenate(re), np.concatenate(im))
        self.kernel_sum_shape = (offset, n_entries)

    def kernel_sum_matrices(self, dtype: torch.dtype):
        """``[S_re; S_im]`` stacked ([2 rows, entries]) and its transpose, as CSR tensors of ``dtype``."""
        key = ("kernel_sum", dtype)
        if key not in self._flat:
            rows, cols, re, im = self.kernel_sum
            n_rows, n_entries = self.kernel_sum_shape
            r, c = np.concatenate([rows, rows + n_rows]), np.concatenate([cols, cols])
            values = torch.as_tensor(np.concatenate([re, im]), dtype=dtype)
            mats = []
            for index, shape in (((r, c), (2 * n_rows, n_entries)), ((c, r), (n_entries, 2 * n_rows))):
                index = torch.as_tensor(np.stack(index), dtype=torch.long)
                coo = torch.sparse_coo_tensor(index, values, shape, check_invariants=True).coalesce()
                with warnings.catch_warnings():  # torch calls its CSR support beta; sparse.mm with it is what we use
                    warnings.simplefilter("ignore", UserWarning)
                    mats.append(coo.to_sparse_csr().to(self.device))
            self._flat[key] = tuple(mats)
        return self._flat[key]

    def flat_gather(self, operand: str, width: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """An operand's gather from its entries viewed as rows ``[E * width, K / width]`` (entry e, column group c ->
        row ``e * width + c``; c = batch index for x, input channel for y) for all blocks, the column group placed
        as ``group_axis`` says, and the factors per gathered row, ``[rows, 1, 2]`` (real, imaginary)."""
        key = (operand, width, dtype)
        if key not in self._flat:
            flat, factors = [], []
            c = np.arange(width)
            for index, factor in zip(*self.maps[operand], strict=True):
                if self.group_axis[operand] == "last":
                    flat.append(index[..., None] * width + c)
                    factors.append(np.broadcast_to(factor[..., None, :], (*index.shape, width, 2)))
                else:
                    flat.append(index[..., None, :] * width + c[:, None])
                    factors.append(
                        np.broadcast_to(factor[..., None, :, :], (*index.shape[:-1], width, index.shape[-1], 2))
                    )
            flat = np.concatenate([f.ravel() for f in flat])
            factors = np.concatenate([f.reshape(-1, 2) for f in factors])[:, None, :]
            self._flat[key] = (
                torch.as_tensor(flat.ravel(), dtype=torch.long, device=self.device),
                torch.as_tensor(factors, dtype=dtype, device=self.device),
            )
        return self._flat[key]


@lru_cache(maxsize=64)
def _entry_product(kind: str, L: int, device: torch.device) -> _EntryProduct:
    return _EntryProduct(kind, L, device)


def entry_product(kind: str, x: torch.Tensor, y: torch.Tensor, L: int, batch: int) -> torch.Tensor:
    r"""The correlation products between block entries of real signals and kernels (the layers' fast path).

    ``kind`` ``"s2"`` (``s2_mm``), ``"so3"`` (``so3_mm``), ``"so3_to_s2"`` (``so3_to_s2_mm``); ``x`` the input
    entries ``[E_in, batch * C_in]`` (S² entries for ``"s2"``, SO(3) otherwise), ``y`` the kernel entries
    ``[E_in, C_in * C_out]`` of the same layout. Returns the output's entries ``[E_out, batch * C_out]`` (SO(3), or
    S² for ``"so3_to_s2"``), equal to the stored half of the flat products of the module docstring.
    """
    with op_range({"s2": "s2_mm", "so3": "so3_mm", "so3_to_s2": "so3_to_s2_mm"}[kind]):
        return _entry_product_body(kind, x, y, L, batch)


class _SparseLinear(torch.autograd.Function):
    """``S @ x`` for a constant sparse ``S`` (its transpose given too); backward ``S^T @ grad``, itself a
    ``_SparseLinear``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, S: torch.Tensor, S_t: torch.Tensor) -> torch.Tensor:
        ctx.S, ctx.S_t = S, S_t
        return torch.sparse.mm(S, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _SparseLinear.apply(grad.contiguous(), ctx.S_t, ctx.S), None, None


def _kernel_sum(y: torch.Tensor, matrices) -> torch.Tensor:
    """Kernel entries ``[E, K]`` complex -> ``[rows, K]`` complex: per row the signed, conjugated sum of a few entries
    (real parts weighted by ``S_re``, imaginary parts by ``S_im``; one sparse product with both stacked)."""
    S, S_t = matrices
    flat = torch.view_as_real(y).reshape(y.shape[0], -1)  # [E, (K, re/im)]
    both = _SparseLinear.apply(flat, S, S_t).view(2, -1, y.shape[1], 2)
    return torch.complex(both[0, ..., 0], both[1, ..., 1])


def _gather_with_factors(e: torch.Tensor, width: int, rows: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Entries ``[E, width * K]`` complex -> ``[len(rows), K]`` complex: the gathered rows, real and imaginary parts
    times ``factors``."""
    real = torch.view_as_real(e).view(e.shape[0] * width, -1, 2)
    return torch.view_as_complex(real.index_select(0, rows).mul_(factors))  # in place: the gather is ours


def _entry_product_body(kind: str, x: torch.Tensor, y: torch.Tensor, L: int, batch: int) -> torch.Tensor:
    plan = _entry_product(kind, L, x.device)
    c_in = x.shape[1] // batch
    c_out = y.shape[1] // c_in
    # One gather per operand for all blocks (a split's backward is one concatenation, per-block gathers would each
    # scatter into a zero copy of the whole operand), from rows [(entry, batch), channel] / [(entry, c_in), c_out],
    # times the factors that conjugate, sign and zero what the gathered coefficient needs.
    xs = _gather_with_factors(x, batch, *plan.flat_gather("x", batch, x.real.dtype))
    x_parts = xs.split([n * batch for n in plan.x_sizes])
    if kind == "so3_to_s2":
        ys = _kernel_sum(y, plan.kernel_sum_matrices(y.real.dtype))  # [(block, l, k), C * O]
        y_parts = ys.split([blk["nl"] * blk["M"] for blk in plan.blocks])
    else:
        ys = _gather_with_factors(y, c_in, *plan.flat_gather("y", c_in, y.real.dtype))
        y_parts = ys.split([n * c_in for n in plan.y_sizes])
    parts = []
    for blk, xg, yg in zip(plan.blocks, x_parts, y_parts, strict=True):
        nl, M, Mh = blk["nl"], blk["M"], blk["Mh"]
        if kind == "s2":  # xg [l, m, B, C], yg [l, C, n, O]
            z = torch.bmm(xg.view(nl, M * batch, c_in), yg.view(nl, c_in, Mh * c_out))  # [l, (m, B), (n, O)]
        elif kind == "so3":  # xg [l, m, B, k, C], yg [l, k, C, n, O]
            z = torch.bmm(xg.view(nl, M * batch, M * c_in), yg.view(nl, M * c_in, Mh * c_out))  # [l, (m, B), (n, O)]
        else:  # xg [l, m >= 0, B, k, C]; yg [l, k, (C, O)], already summed over n
            xg = xg.view(nl, Mh * batch, M * c_in)
            z = torch.bmm(xg, yg.view(nl, M * c_in, c_out))  # [l, (m, B), O]
        if kind == "so3_to_s2":
            parts.append(z.view(-1, batch, c_out).index_select(0, blk["pos"][0]))  # [entries, B, O]
        else:
            lm, n = blk["pos"]
            parts.append(z.view(nl * M, batch, Mh, c_out)[lm, :, n])  # [entries, B, O]
    parts.append(parts[0].new_zeros(1, batch, c_out))
    return torch.cat(parts).index_select(0, plan.perm).reshape(-1, batch * c_out)
