r"""Wigner-d tables and the batched "Wigner step" shared by every transform.

Tables
------
:func:`wigner_d_rows` evaluates :math:`d^l_{mn}(\beta)` (lie_learn, DESIGN.md convention) at arbitrary β for all
:math:`l < b`, flattened with the SO(3) spectral index :math:`l(4l^2-1)/3 + (m+l)(2l+1) + (n+l)`.
:func:`soft_wigner_d_table` does so on the 2b β-values of the SOFT grid; it is built once per bandwidth, kept in
memory, and cached on disk under ``$XDG_CACHE_HOME/sphere_study/wigner/`` (written atomically, validated on load by
shape, dtype, format version and a CRC32 of its contents; a bad file is rebuilt, never used).

The Wigner step
---------------
After an FFT over the azimuthal angles, a transform is, for each order pair (m, n), a small matrix product over β:

.. math:: \hat f^l_{mn} = \sum_j d^l_{mn}(\beta_j)\, X_{mn}(\beta_j) \quad (l \ge \max(|m|, |n|)),
          \qquad Y_{mn}(\beta_j) = \sum_l d^l_{mn}(\beta_j)\, \hat f^l_{mn}.

:class:`WignerStep` groups the pairs by :math:`k = \max(|m|,|n|)` into a few blocks, pads each block's degree axis to
a common length, and runs one ``bmm`` per block: a fixed handful of kernels instead of a Python loop over l
(the block boundaries minimise the padded work; six blocks waste about 20%).
Real signals have Hermitian spectra, :math:`\hat f^l_{-m,-n} = (-1)^{m-n}\overline{\hat f^l_{mn}}`, so the step only
handles pairs with n ≥ 0 (S²: m ≥ 0) and fills the other half by that symmetry: half the work.
"""

from __future__ import annotations

import logging
import zlib
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .._io import atomic_path, cache_root
from ._chain import Chain, Stage
from ._lie_learn import wigner_d_matrix
from ._validation import check_bandwidth, s2_nspec, so3_nspec

log = logging.getLogger(__name__)

__all__ = [
    "wigner_d_rows",
    "s2_wigner_d_rows",
    "soft_wigner_d_table",
    "WignerStep",
    "so3_index",
    "s2_index",
    "partition_blocks",
    "entry_layout",
]

_FORMAT_VERSION = 2
#: Number of degree blocks of the Wigner step and the per-degree products.
N_BLOCKS = 6


def so3_index(l, m, n):
    """Flat SO(3) spectral index of (l, m, n)."""
    return l * (4 * l * l - 1) // 3 + (m + l) * (2 * l + 1) + (n + l)


def s2_index(l, m):
    """Flat S² spectral index of (l, m)."""
    return l * l + m + l


def wigner_d_rows(betas, b: int) -> np.ndarray:
    r""":math:`d^l_{mn}(\beta_i)` for l < b, shape ``(len(betas), so3_nspec(b))``, float64 (flat SO(3) index)."""
    check_bandwidth(b)
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    unique, inverse = np.unique(betas, return_inverse=True)
    rows = np.empty((len(unique), so3_nspec(b)))
    for l in range(b):
        start = so3_index(l, -l, -l)
        for i, beta in enumerate(unique):
            rows[i, start : start + (2 * l + 1) ** 2] = wigner_d_matrix(l, beta).ravel()
    return rows[inverse]


def s2_wigner_d_rows(betas, b: int) -> np.ndarray:
    r""":math:`d^l_{m0}(\beta_i)` for l < b, shape ``(len(betas), b**2)``, float64, at the flat S² index l² + m + l:
    the n = 0 columns of :func:`wigner_d_rows`, all an S² transform needs."""
    check_bandwidth(b)
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    unique, inverse = np.unique(betas, return_inverse=True)
    rows = np.empty((len(unique), s2_nspec(b)))
    for l in range(b):
        for i, beta in enumerate(unique):
            rows[i, l * l : (l + 1) * (l + 1)] = wigner_d_matrix(l, beta)[:, l]  # column n = 0 (centered order)
    return rows[inverse]


def _table_path(b: int, space: str = "so3", spec_b: int | None = None):
    spec_b = b if spec_b is None else spec_b
    return cache_root() / "wigner" / f"soft_d_{space}_b{b}_l{spec_b}_v{_FORMAT_VERSION}.npz"


def _table_shape(b: int, space: str, spec_b: int) -> tuple[int, int]:
    return (2 * b, s2_nspec(spec_b) if space == "s2" else so3_nspec(spec_b))


def _crc(table: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(table).view(np.uint8))


def _load_table(path, b: int, space: str = "so3", spec_b: int | None = None) -> np.ndarray | None:
    """The cached table, or None (with a warning) if the file is missing, truncated, or not what it claims to be."""
    spec_b = b if spec_b is None else spec_b
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            table, version, bandwidth, crc = f["table"], int(f["version"]), int(f["b"]), int(f["crc32"])
            stored_space, stored_spec_b = str(f["space"]), int(f["spec_b"])
        expected = _table_shape(b, space, spec_b)
        if (version, bandwidth, stored_space, stored_spec_b) != (_FORMAT_VERSION, b, space, spec_b) or (
            table.shape != expected or table.dtype != np.float64
        ):
            raise ValueError(
                f"header says version={version}, b={bandwidth}, space={stored_space}, spec_b={stored_spec_b}, "
                f"shape={table.shape}, dtype={table.dtype}"
            )
        if _crc(table) != crc:
            raise ValueError("checksum mismatch")
        return table
    except Exception as e:  # any unreadable cache is rebuilt, never used
        log.warning("Wigner-d cache %s is invalid (%s); rebuilding it", path, e)
        return None


@lru_cache(maxsize=16)
def soft_wigner_d_table(b: int, space: str = "so3", spec_b: int | None = None) -> np.ndarray:
    r"""Wigner-d values on the SOFT grid of bandwidth b for degrees l < ``spec_b`` (default b): a read-only float64
    array ``(2b, so3_nspec(spec_b))`` of :math:`d^l_{mn}(\beta_j)` (``space="so3"``, flat SO(3) index), or
    ``(2b, spec_b**2)`` of :math:`d^l_{m0}(\beta_j)` (``space="s2"``, flat S² index): only what a transform between
    that grid and those degrees reads.

    Built once per (b, space, spec_b) (seconds at b = 64), then served from memory and from the disk cache.

    Examples
    --------
    >>> soft_wigner_d_table(2).shape
    (4, 10)
    >>> soft_wigner_d_table(128, "s2", 8).shape  # an S² layer at b = 128 keeping degrees < 8: 128 KiB
    (256, 64)
    """
    check_bandwidth(b)
    if space not in ("s2", "so3"):
        raise ValueError(f"space must be 's2' or 'so3', got {space!r}")
    spec_b = b if spec_b is None else check_bandwidth(spec_b, "spec_b")
    if spec_b > b:
        raise ValueError(f"spectral bandwidth {spec_b} exceeds grid bandwidth {b}")
    path = _table_path(b, space, spec_b)
    table = _load_table(path, b, space, spec_b)
    if table is None:
        if b >= 24:
            log.info("building the Wigner-d table for b=%d (once; cached in %s)", b, path.parent)
        betas = np.pi * (2 * np.arange(2 * b) + 1) / (4 * b)
        table = (s2_wigner_d_rows if space == "s2" else wigner_d_rows)(betas, spec_b)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, table=table, version=_FORMAT_VERSION, b=b, space=space, spec_b=spec_b, crc32=_crc(table))
    table.setflags(write=False)  # shared between callers: hand out a read-only view, not a copy
    return table


def partition_blocks(n_items: int, block_cost, n_blocks: int = N_BLOCKS) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into at most ``n_blocks`` contiguous blocks minimising ``sum(block_cost(a, e))``."""
    n_blocks = max(1, min(n_blocks, n_items))
    inf = float("inf")
    best = np.full((n_blocks + 1, n_items + 1), inf)
    arg = np.zeros((n_blocks + 1, n_items + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for g in range(1, n_blocks + 1):
        for e in range(1, n_items + 1):
            for a in range(e):
                v = best[g - 1, a] + block_cost(a, e)
                if v < best[g, e]:
                    best[g, e], arg[g, e] = v, a
    g = int(np.argmin(best[:, n_items]))
    blocks, e = [], n_items
    while e > 0:
        a = int(arg[g, e])
        blocks.append((a, e))
        e, g = a, g - 1
    return blocks[::-1]


class WignerStep(nn.Module):
    r"""The β-step of S² or SO(3) transforms for Hermitian spectra, as a few padded ``bmm`` calls.

    Parameters
    ----------
    d_rows : array ``(J, so3_nspec(L'))`` or, for ``space="s2"``, ``(J, L'^2)``; L' >= L
        :math:`d^l_{mn}(\beta_j)` at the J sample values of β (rows of :func:`wigner_d_rows`), or for S² just the
        columns n = 0, :math:`d^l_{m0}(\beta_j)` at the S² index (rows of :func:`s2_wigner_d_rows`; told apart by
        ``d_layout="s2"``).
    bandwidth : int
        Spectral bandwidth L (degrees l < L).
    space : {"s2", "so3"}
        S² spectra use pairs (m, 0) with m >= 0; SO(3) spectra pairs (m, n) with n >= 0.
    source_index : callable (m, n) -> int array
        Where pair (m, n) lives along the first axis of the caller's array ``X[S, J, N]``.
    n_sources : int
        S, the length of that axis.
    weights : array ``(J,)``, optional
        Quadrature weights folded into the analysis tables (cheaper than weighting the grid signal).
    d_layout : {"so3", "s2"}
        Column layout of ``d_rows``.

    ``analysis(X)`` maps ``X[S, J, N]`` (complex) to the full spectrum ``[nspec, N]``:
    :math:`\hat f^l_{mn} = \sum_j d^l_{mn}(\beta_j) X_{mn}(\beta_j)` for the stored half, the other half by symmetry.
    ``synthesis(F, real)`` maps a spectrum ``[nspec, N]`` to ``Y[S, J, N]``,
    :math:`Y_{mn}(\beta_j) = \sum_l (2l+1) d^l_{mn}(\beta_j) H^l_{mn}`, where H is the Hermitian part of F; zero at
    sources that are not pairs.

    The tables are float64 buffers (non-persistent), cast to the input's precision in ``forward``-time calls.
    """

    def __init__(
        self,
        d_rows: np.ndarray,
        bandwidth: int,
        space: str,
        source_index,
        n_sources: int,
        weights=None,
        d_layout: str = "so3",
    ):
        super().__init__()
        if space not in ("s2", "so3"):
            raise ValueError(f"space must be 's2' or 'so3', got {space!r}")
        L = self.bandwidth = check_bandwidth(bandwidth)
        self.space, self.n_sources = space, n_sources
        self.nspec = s2_nspec(L) if space == "s2" else so3_nspec(L)
        if d_layout not in ("s2", "so3") or (d_layout == "s2" and space != "s2"):
            raise ValueError(f"d_layout must be 'so3', or 's2' for an S² step; got {d_layout!r} for {space!r}")
        s2_layout = d_layout == "s2"  # an S² step reads only n = 0: a table of just those columns will do
        need = s2_nspec(L) if s2_layout else so3_nspec(L)
        if d_rows.shape[1] < need:
            raise ValueError(f"d_rows has {d_rows.shape[1]} columns, need {need} for bandwidth {L}")
        column = (lambda l, m, n: s2_index(l, m)) if s2_layout else so3_index
        J = d_rows.shape[0]

        # Pairs handled explicitly (the non-redundant half) and k = max(|m|, |n|), the lowest degree they occur at.
        if space == "s2":
            m = np.arange(L)
            n = np.zeros(L, dtype=np.int64)
        else:
            m, n = (a.ravel() for a in np.meshgrid(np.arange(-L + 1, L), np.arange(L), indexing="ij"))
        k = np.maximum(np.abs(m), np.abs(n))
        order = np.argsort(k, kind="stable")
        m, n, k = m[order], n[order], k[order]
        count = np.bincount(k, minlength=L)
        prefix = np.concatenate([[0], np.cumsum(count)])
        blocks = partition_blocks(L, lambda a, e: (prefix[e] - prefix[a]) * (L - a))

        entry_of_spec = np.full(self.nspec, -1, dtype=np.int64)  # spec index -> row of the concatenated block outputs
        self._n_blocks = len(blocks)
        entry_spec, offset = [], 0
        for g, (a, e) in enumerate(blocks):
            sel = slice(prefix[a], prefix[e])
            mg, ng, kg = m[sel], n[sel], k[sel]
            degrees = np.arange(a, L)  # padded degree axis of this block
            valid = degrees[None, :] >= kg[:, None]  # [P, Lg]
            l_grid = np.broadcast_to(degrees[None, :], valid.shape)
            col = np.where(valid, column(l_grid, mg[:, None], ng[:, None]), 0)
            table = np.where(valid[:, :, None], d_rows[:, col].transpose(1, 2, 0), 0.0)  # [P, Lg, J]
            spec = np.where(valid, self._spec_index(l_grid, mg[:, None], ng[:, None]), self.nspec)  # pad -> zero row
            entry_of_spec[spec[valid]] = offset + np.flatnonzero(valid.ravel())
            entry_spec.append(spec.ravel())
            offset += valid.size
            self.register_buffer(f"table{g}", torch.from_numpy(np.ascontiguousarray(table)), persistent=False)
            # The inverse transform's factor (2l + 1), folded into its tables.
            synth = np.ascontiguousarray(table * (2 * degrees + 1)[None, :, None])
            self.register_buffer(f"synthesis_table{g}", torch.from_numpy(synth), persistent=False)
            if weights is not None:
                weighted = np.ascontiguousarray(table * np.asarray(weights, dtype=np.float64))
                self.register_buffer(f"weighted_table{g}", torch.from_numpy(weighted), persistent=False)
            self.register_buffer(
                f"source{g}", torch.from_numpy(np.asarray(source_index(mg, ng), dtype=np.int64)), persistent=False
            )
        self.register_buffer("entry_spec", torch.from_numpy(np.concatenate(entry_spec)), persistent=False)
        # One gather for all blocks, then a split: the backward of a split is one concatenation, whereas per-block
        # gathers or slices would each scatter into a zero tensor of the whole input.
        sources = [getattr(self, f"source{g}") for g in range(len(blocks))]
        self.register_buffer("source_all", torch.cat(sources), persistent=False)
        self.block_pairs = [len(src) for src in sources]
        # Where each source's pair sits in block order, when the sources are exactly the stored pairs (row layout).
        inverse = np.full(n_sources, -1, dtype=np.int64)
        inverse[self.source_all.numpy()] = np.arange(len(self.source_all))
        self.register_buffer("source_inverse", torch.from_numpy(inverse), persistent=False)
        self.block_entries = [len(src) * (L - a) for src, (a, _) in zip(sources, blocks, strict=True)]

        # The other half: f^l_{mn} = sign * conj(f^l_{-m,-n}) (SO(3)), f^l_{m} = (-1)^m conj(f^l_{-m}) (S²).
        l_all, m_all, n_all = self._spec_lmn()
        stored = (n_all > 0) | ((n_all == 0) & (m_all >= 0)) if space == "so3" else m_all >= 0
        mirror = self._spec_index(l_all, -m_all, -n_all)
        sign = np.where((m_all - n_all) % 2 == 0, 1.0, -1.0)
        gather = np.where(stored, entry_of_spec, entry_of_spec[mirror])
        assert (gather >= 0).all(), "every coefficient must come from a block entry"
        self.register_buffer("gather", torch.from_numpy(gather), persistent=False)
        self.register_buffer("mirrored", torch.from_numpy(~stored), persistent=False)
        self.register_buffer("sign", torch.from_numpy(sign), persistent=False)
        # Per block entry: its mirror coefficient (l, -m, -n) and the sign (-1)^(m-n), for the Hermitian part.
        entries = self.entry_spec.numpy()
        padded = entries == self.nspec
        safe = np.where(padded, 0, entries)
        self.register_buffer(
            "entry_mirror", torch.from_numpy(np.where(padded, self.nspec, mirror[safe])), persistent=False
        )
        self.register_buffer("entry_sign", torch.from_numpy(np.where(padded, 0.0, sign[safe])), persistent=False)
        self.padded_entries = offset
        self.n_beta = J
        # The maps as arrays, for index maps built on top of this layout (spectral products).
        self.gather_np, self.mirrored_np, self.sign_np = gather, ~stored, sign
        self._weighted = weights is not None

    def _spec_index(self, l, m, n):
        return s2_index(l, m) if self.space == "s2" else so3_index(l, m, n)

    def _spec_lmn(self):
        L = self.bandwidth
        if self.space == "s2":
            l = np.repeat(np.arange(L), 2 * np.arange(L) + 1)
            m = np.concatenate([np.arange(-d, d + 1) for d in range(L)])
            return l, m, np.zeros_like(m)
        l = np.repeat(np.arange(L), (2 * np.arange(L) + 1) ** 2)
        mn = [np.meshgrid(np.arange(-d, d + 1), np.arange(-d, d + 1), indexing="ij") for d in range(L)]
        return l, np.concatenate([a.ravel() for a, _ in mn]), np.concatenate([b.ravel() for _, b in mn])

    def flops(self, n_signals: int) -> int:
        """Real floating-point operations of one analysis or synthesis (the bmm calls) for ``n_signals`` signals."""
        return 2 * self.padded_entries * self.n_beta * 2 * n_signals  # multiply-add, real and imaginary part

    def _tables(self, real_dtype, kind: str = "table"):
        if kind == "weighted_table" and not self._weighted:
            kind = "table"
        return [getattr(self, f"{kind}{g}").to(real_dtype) for g in range(self._n_blocks)]

    def analysis_entries(self, X: torch.Tensor) -> torch.Tensor:
        r"""``X[S, J, N]`` complex -> the stored half of the spectrum as block entries ``[padded_entries, N]``:
        per stored pair (m, n) the degrees of its block, :math:`\hat f^l_{mn}` (zero at padding). Every step of
        the same space and bandwidth L orders its entries alike (:func:`entry_layout`), whatever its grid."""
        S, J, N = X.shape
        return self.analysis_pairs(torch.view_as_real(X.index_select(0, self.source_all)).reshape(-1, J, 2 * N))

    def analysis_pairs(self, pairs: torch.Tensor) -> torch.Tensor:
        """:meth:`analysis_entries` from the stored pairs' data already gathered, in ``source_all`` order, as a real
        ``[pairs, J, 2N]`` (real and imaginary parts interleaved, the layout of ``view_as_real``)."""
        stage, adjoint = self._pair_stages("weighted_table", "pairs_to_entries")
        out = Chain.apply(pairs, (stage,), (adjoint,), None)  # [entries, (N, re/im)]
        return torch.view_as_complex(out.view(out.shape[0], -1, 2))

    def pairs_to_entries(self, pairs: torch.Tensor, kind: str, out: torch.Tensor) -> None:
        """Per block ``table @ pairs`` into ``out``: pairs ``[P, J, 2N]`` -> entries ``out [padded_entries, 2N]``."""
        p0 = e0 = 0
        for table, n_pairs, n_entries in zip(
            self._tables(pairs.dtype, kind), self.block_pairs, self.block_entries, strict=True
        ):
            torch.bmm(table, pairs[p0 : p0 + n_pairs], out=out[e0 : e0 + n_entries].view(n_pairs, table.shape[1], -1))
            p0, e0 = p0 + n_pairs, e0 + n_entries

    def entries_to_pairs(self, entries: torch.Tensor, kind: str, out: torch.Tensor) -> None:
        """The adjoint of :meth:`pairs_to_entries`: entries ``[padded_entries, 2N]`` -> pairs ``out [P, J, 2N]``."""
        p0 = e0 = 0
        for table, n_pairs, n_entries in zip(
            self._tables(entries.dtype, kind), self.block_pairs, self.block_entries, strict=True
        ):
            block = entries[e0 : e0 + n_entries].view(n_pairs, table.shape[1], -1)
            torch.bmm(table.transpose(1, 2), block, out=out[p0 : p0 + n_pairs])
            p0, e0 = p0 + n_pairs, e0 + n_entries

    def _pair_stages(self, table: str, kind: str):
        stage = Stage(kind, self, table, label=None)  # profiled under the caller's range
        return stage, stage.adjoint()

    def rows_to_entries(self, rows: torch.Tensor, kind: str, out: torch.Tensor, scratch: torch.Tensor) -> None:
        r"""The layers' analysis step, into ``out``: real rows ``[S, 2N, J]`` -> block entries ``out [padded_entries,
        2N]`` with table ``kind`` (``"weighted_table"`` for analysis, ``"synthesis_table"`` for the adjoint of
        synthesis). ``scratch``: a flat tensor of at least ``rows.numel()`` elements, overwritten.

        Row s holds source s's :math:`X_{mn}(\beta_j)` for N signals, real parts then imaginary parts, β innermost
        (what the azimuthal matrix products write); an entry row holds :math:`\hat f^l_{mn}` the same way. The
        sources must be exactly the stored pairs (``source_all`` a permutation of ``range(S)``). One gather of whole
        rows into block order, then per block one ``bmm`` that reads its rows transposed in place and writes its slice
        of the output. Not differentiable by itself: :mod:`._azimuthal` wraps it with its adjoint,
        :meth:`entries_to_rows` with the same table."""
        self._check_rows(rows.shape[0])
        pairs = torch.index_select(rows, 0, self.source_all, out=scratch[: rows.numel()].view(rows.shape))
        p0 = e0 = 0
        for table, n_pairs, n_entries in zip(
            self._tables(rows.dtype, kind), self.block_pairs, self.block_entries, strict=True
        ):
            block = pairs[p0 : p0 + n_pairs].transpose(1, 2)  # [P, J, 2N], a transposed view
            torch.bmm(table, block, out=out[e0 : e0 + n_entries].view(n_pairs, table.shape[1], -1))
            p0, e0 = p0 + n_pairs, e0 + n_entries

    def entries_to_rows(self, entries: torch.Tensor, kind: str, out: torch.Tensor, scratch: torch.Tensor) -> None:
        r"""The layers' synthesis step (``kind="synthesis_table"``: :math:`Y_{mn}(\beta_j) = \sum_l (2l+1)
        d^l_{mn}(\beta_j) H^l_{mn}`), or the adjoint of analysis (``"weighted_table"``), into ``out``: block entries
        ``[padded_entries, 2N]`` -> rows ``out [S, 2N, J]`` (the layout of :meth:`rows_to_entries`). ``scratch``: a
        flat tensor of at least ``out.numel()`` elements, overwritten."""
        self._check_rows(out.shape[0])
        width = entries.shape[1]
        pairs = scratch[: out.numel()].view(out.shape)
        p0 = e0 = 0
        for table, n_pairs, n_entries in zip(
            self._tables(entries.dtype, kind), self.block_pairs, self.block_entries, strict=True
        ):
            block = entries[e0 : e0 + n_entries].view(n_pairs, table.shape[1], width).transpose(1, 2)  # [P, 2N, Lg]
            torch.bmm(block, table, out=pairs[p0 : p0 + n_pairs])
            p0, e0 = p0 + n_pairs, e0 + n_entries
        torch.index_select(pairs, 0, self.source_inverse, out=out)

    def _check_rows(self, n_rows: int) -> None:
        if n_rows != self.n_sources or sum(self.block_pairs) != self.n_sources:
            raise ValueError(
                f"row-layout Wigner step needs one row per stored pair: {sum(self.block_pairs)} pairs, "
                f"{self.n_sources} sources, {n_rows} rows"
            )

    def analysis(self, X: torch.Tensor) -> torch.Tensor:
        """``X[S, J, N]`` complex -> spectrum ``[nspec, N]`` complex (quadrature weights applied if given)."""
        entries = self.analysis_entries(X)
        spec = entries.index_select(0, self.gather)
        return torch.where(self.mirrored[:, None], spec.conj() * self.sign.to(entries.real.dtype)[:, None], spec)

    def synthesis_entries(self, H: torch.Tensor) -> torch.Tensor:
        r"""Block entries ``[padded_entries, N]`` (the layout of :meth:`analysis_entries`) -> ``Y[S, J, N]``,
        :math:`Y_{mn}(\beta_j) = \sum_l (2l+1) d^l_{mn}(\beta_j) H^l_{mn}` over the stored pairs (zero at other
        sources). For a real result H must be the stored half of a Hermitian spectrum (the azimuthal inverse FFT
        reads the pairs n >= 0 as that half)."""
        Y = self.synthesis_pairs(H)
        out = Y.new_zeros(self.n_sources, self.n_beta, Y.shape[2])
        return out.index_copy(0, self.source_all, Y)

    def synthesis_pairs(self, H: torch.Tensor) -> torch.Tensor:
        """:meth:`synthesis_entries` before the scatter to the sources: ``[pairs, J, N]`` complex, the stored pairs in
        ``source_all`` order."""
        stage, adjoint = self._pair_stages("synthesis_table", "entries_to_pairs")
        entries = torch.view_as_real(H).reshape(H.shape[0], -1)  # [entries, (N, re/im)]
        out = Chain.apply(entries, (stage,), (adjoint,), None)  # [pairs, J, (N, re/im)]
        return torch.view_as_complex(out.view(*out.shape[:2], -1, 2))

    def synthesis(self, F: torch.Tensor, real: bool) -> torch.Tensor:
        r"""Spectrum ``[nspec, N]`` -> ``Y[S, J, N']`` with :math:`Y_{mn}(\beta_j) = \sum_l (2l+1) d^l_{mn}(\beta_j)
        H^l_{mn}` over the stored pairs (zero at other sources), where H is the Hermitian part
        :math:`(F + F^*)/2`, :math:`F^{*l}_{mn} = (-1)^{m-n}\overline{F^l_{-m,-n}}` (the spectrum of Re f).
        With ``real=False`` also the Hermitian part of :math:`-iF` (the spectrum of Im f): ``N' = 2N``, real part
        first."""
        nspec, N = F.shape
        real_dtype = F.real.dtype
        F = torch.cat([F, F.new_zeros(1, N)])  # the padding entries point at this zero row
        A = F.index_select(0, self.entry_spec)
        B = F.index_select(0, self.entry_mirror).conj() * self.entry_sign.to(real_dtype)[:, None]
        H = 0.5 * (A + B) if real else torch.cat([0.5 * (A + B), -0.5j * (A - B)], dim=1)
        return self.synthesis_entries(H)


@lru_cache(maxsize=64)
def entry_layout(space: str, bandwidth: int) -> WignerStep:
    """The block-entry layout of every :class:`WignerStep` of this space and spectral bandwidth (a step without
    tables of its own): ``gather_np``, ``mirrored_np``, ``sign_np`` map each coefficient of the full flat spectrum
    to its entry (conjugated and signed where it is the mirror of a stored one), ``padded_entries`` is their count."""
    need = s2_nspec(bandwidth) if space == "s2" else so3_nspec(bandwidth)
    return WignerStep(np.zeros((1, need)), bandwidth, space, lambda m, n: np.zeros_like(m), 1, d_layout=space)
