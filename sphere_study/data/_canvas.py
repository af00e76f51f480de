r"""Multi-digit canvases for segmentation: seeded non-overlapping placement and batched composition.

A canvas of side :math:`C` pixels is divided into :math:`g \times g` cells, :math:`g = \lfloor C / 28 \rfloor`; cell
:math:`(i, j)` spans rows :math:`[\lfloor iC/g \rfloor, \lfloor (i+1)C/g \rfloor)` and likewise columns. The
:math:`k` digits of a canvas go into :math:`k` distinct cells chosen uniformly at random, each at a uniformly random
offset inside its cell, so their 28×28 boxes never overlap (``k`` fits iff :math:`k \le g^2`). The default canvas
(:func:`default_canvas_size`) has cells of 36 pixels, i.e. 8 pixels of play per digit in each direction.

Canvas ``m`` is *led* by digit ``m`` of the set (its first member); its other :math:`k - 1` members are distinct
digits drawn uniformly from the rest of the same set. Next to the intensity canvas, composition writes a *region*
map: ``label + 1`` over each digit's whole 28×28 box, 0 elsewhere. The segmentation mask on the sphere is the region
map projected by nearest neighbour and kept where the projected intensity reaches the threshold (see
:mod:`sphere_study.data._generate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._sources import DIGIT_SIZE
from ._validation import check_int

__all__ = ["CanvasLayout", "default_canvas_size", "max_digits_per_canvas", "random_layout", "compose_canvases"]

_DEFAULT_CELL = 36


def default_canvas_size(digits_per_sphere: int) -> int:
    r"""Default canvas side: 36-pixel cells in the smallest square grid of k cells, :math:`36\lceil\sqrt k\rceil`."""
    k = check_int(digits_per_sphere, "digits_per_sphere", 1)
    return _DEFAULT_CELL * (math.isqrt(k - 1) + 1)


def max_digits_per_canvas(canvas_size: int) -> int:
    r"""How many 28×28 digits a canvas of this side holds without overlap: :math:`\lfloor C/28 \rfloor^2`."""
    return (check_int(canvas_size, "canvas_size", DIGIT_SIZE) // DIGIT_SIZE) ** 2


def check_fits(digits_per_sphere: int, canvas_size: int) -> None:
    capacity = max_digits_per_canvas(canvas_size)
    if digits_per_sphere > capacity:
        raise ValueError(
            f"digits_per_sphere={digits_per_sphere} cannot fit on a canvas of canvas_size={canvas_size} pixels, which "
            f"holds at most {capacity} non-overlapping 28x28 digits; use a canvas of at least "
            f"{DIGIT_SIZE * (math.isqrt(digits_per_sphere - 1) + 1)} pixels or fewer digits"
        )


@dataclass(frozen=True, eq=False)
class CanvasLayout:
    """Which digits go on each canvas and where.

    Attributes
    ----------
    members : torch.Tensor
        int64 ``(M, k)``: positions (in the digit set) of each canvas's digits; column 0 is the lead digit.
    offsets : torch.Tensor
        int64 ``(M, k, 2)``: (row, column) of each digit's top-left pixel on the canvas.
    canvas_size : int
    """

    members: torch.Tensor
    offsets: torch.Tensor
    canvas_size: int

    def __len__(self) -> int:
        return self.members.shape[0]

    @property
    def digits_per_canvas(self) -> int:
        return self.members.shape[1]

    def select(self, positions) -> CanvasLayout:
        positions = torch.as_tensor(positions, dtype=torch.int64)
        return CanvasLayout(self.members[positions], self.offsets[positions], self.canvas_size)


def _distinct_partners(lead: torch.Tensor, pool_size: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct positions per row, all different from ``lead`` and drawn uniformly from the rest.

    Rows are drawn by rejection (redraw a row whose positions repeat) for at most :data:`_REJECTION_ROUNDS` rounds;
    rows still repeating then are drawn without replacement (the first ``count`` of a random permutation), so the
    time is bounded even when ``count`` is close to ``pool_size - 1``, where almost every draw repeats. Both give
    each set of distinct positions the same probability.
    """
    n = lead.shape[0]
    partners = torch.empty(n, count, dtype=torch.int64)
    redo = torch.ones(n, dtype=torch.bool)
    for _ in range(_REJECTION_ROUNDS):
        if not redo.any():
            return partners
        rows = redo.nonzero().squeeze(1)
        draw = torch.randint(0, pool_size - 1, (len(rows), count), generator=generator)
        draw += (draw >= lead[rows, None]).long()  # skip the lead: uniform on the other pool_size - 1 positions
        partners[rows] = draw
        ordered = partners.sort(dim=1).values
        redo = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)
    rows = redo.nonzero().squeeze(1)
    chunk = max(1, _PERMUTATION_ELEMENTS // max(1, pool_size - 1))  # bounded memory: rows x pool keys at a time
    for start in range(0, len(rows), chunk):
        block = rows[start : start + chunk]
        keys = torch.rand(len(block), pool_size - 1, generator=generator)
        draw = keys.argsort(dim=1)[:, :count]
        partners[block] = draw + (draw >= lead[block, None]).long()
    return partners


#: Rejection rounds before the remaining rows are drawn without replacement. With ``c`` partners from ``P``
#: positions a row repeats with probability about ``c (c - 1) / (2 P)`` per round, so the study's settings (a few
#: digits out of thousands) finish by rejection and keep the layouts they always had.
_REJECTION_ROUNDS = 32
_PERMUTATION_ELEMENTS = 1 << 24


def random_layout(
    lead: torch.Tensor, pool_size: int, digits_per_canvas: int, canvas_size: int, generator: torch.Generator
) -> CanvasLayout:
    r"""Seeded layouts of ``len(lead)`` canvases (see the module docstring), canvas ``m`` led by ``lead[m]``.

    Parameters
    ----------
    lead : torch.Tensor
        int64 ``(M,)``: position of each canvas's lead digit in a set of ``pool_size`` digits.
    pool_size : int
        Size of the digit set the partners are drawn from; needs ``pool_size >= digits_per_canvas``.
    digits_per_canvas : int
        ``k``.
    canvas_size : int
        ``C``; needs :math:`k \le \lfloor C/28 \rfloor^2`.
    generator : torch.Generator
        All randomness comes from it (partners first, then cells, then offsets).
    """
    k = check_int(digits_per_canvas, "digits_per_sphere", 1)
    check_fits(k, canvas_size)
    if pool_size < k:
        raise ValueError(f"digits_per_sphere={k} needs at least {k} distinct digits per canvas, only {pool_size} given")
    lead = torch.as_tensor(lead, dtype=torch.int64)
    n = lead.shape[0]
    partners = _distinct_partners(lead, pool_size, k - 1, generator) if k > 1 else lead.new_empty(n, 0)
    members = torch.cat([lead[:, None], partners], dim=1)

    g = canvas_size // DIGIT_SIZE
    cells = torch.rand(n, g * g, generator=generator).argsort(dim=1)[:, :k]
    cell_row, cell_col = cells // g, cells % g
    edges = torch.arange(g + 1, dtype=torch.int64) * canvas_size // g
    start_row, start_col = edges[cell_row], edges[cell_col]
    play_row = edges[cell_row + 1] - start_row - DIGIT_SIZE  # >= 0 since every cell is at least 28 pixels
    play_col = edges[cell_col + 1] - start_col - DIGIT_SIZE
    u = torch.rand(n, k, 2, generator=generator)
    offsets = torch.stack(
        [start_row + (u[..., 0] * (play_row + 1)).long(), start_col + (u[..., 1] * (play_col + 1)).long()], dim=-1
    )
    return CanvasLayout(members, offsets, canvas_size)


def compose_canvases(
    images: torch.Tensor, labels: torch.Tensor, layout: CanvasLayout
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Paste the digits of ``layout`` onto blank canvases, batched (a Python loop over the k slots only).

    Parameters
    ----------
    images : torch.Tensor
        uint8 ``(P, 28, 28)``, the digit set that ``layout.members`` indexes.
    labels : torch.Tensor
        int64 ``(P,)`` in 0..9.

    Returns
    -------
    canvas : torch.Tensor
        uint8 ``(M, C, C)`` intensities.
    regions : torch.Tensor
        uint8 ``(M, C, C)``: ``label + 1`` over each digit's 28×28 box, 0 elsewhere.
    """
    n, k = layout.members.shape
    c = layout.canvas_size
    canvas = torch.zeros(n, c * c, dtype=torch.uint8)
    regions = torch.zeros(n, c * c, dtype=torch.uint8)
    box = torch.arange(DIGIT_SIZE, dtype=torch.int64)
    box_flat = (box[:, None] * c + box[None, :]).reshape(1, -1)  # [1, 784] offsets of a box's pixels on the canvas
    for slot in range(k):
        members = layout.members[:, slot]
        corner = layout.offsets[:, slot, 0] * c + layout.offsets[:, slot, 1]
        where = corner[:, None] + box_flat
        canvas.scatter_(1, where, images[members].reshape(n, -1))
        region_value = (labels[members] + 1).to(torch.uint8)[:, None].expand(n, box_flat.shape[1])
        regions.scatter_(1, where, region_value)
    return canvas.view(n, c, c), regions.view(n, c, c)
