r"""Generation of spherical sample sets: what each sample shows (the *plan*) and its pixels (the *render*).

A sample set is specified by a :class:`SphereSetSpec` plus the digits it draws from: a *pool* (one split of a source)
and the ``positions`` of the distinct pool images it uses (``N`` of them, in order).

Plan (cheap, deterministic, recomputed rather than cached)
    * Canvas ``m < N`` is led by pool image ``positions[m]``; for segmentation its ``k - 1`` partners are distinct
      images drawn from the same ``N`` (see :mod:`sphere_study.data._canvas`). For classification the canvas is the
      28×28 image itself.
    * With ``copies = A``, sample :math:`s = aN + m` shows canvas :math:`m` under rotation :math:`R_{a,\,p}` with
      :math:`p` = ``positions[m]``, where :math:`R_{a,0}, R_{a,1}, \dots` is a stream of independent Haar rotations
      (:func:`~sphere_study.harmonics.random_rotation`) seeded by ``(seed, stream, a)``. So every sample gets its own
      independent uniform rotation, and a given (image, copy) keeps its rotation when ``N`` or ``A`` change: the
      training sets of a data-efficiency sweep are nested.
    * Unrotated sets (``rotated=False``) use the identity and allow ``copies = 1`` only.

Render (vectorised, chunked, cached as uint8)
    ``x = round(P_R(canvas))`` with :math:`P_R` the bilinear projection of :class:`ImageToSphere` under :math:`R`,
    and for segmentation

    .. math:: \text{mask}(x) = \begin{cases} \operatorname{region}(R^{-1}x) & \text{if } x_{\text{uint8}} \ge
              \text{threshold} \\ 0 & \text{otherwise,} \end{cases}

    where ``region`` is the canvas's region map (``label + 1`` over each digit's box) projected by nearest neighbour
    with the same rotation. Thresholding the stored uint8 intensity makes ``mask > 0`` exactly the pixels of
    ``x >= threshold``, and the class comes from the digit whose box the point falls in.
"""

from __future__ import annotations

import contextlib
import hashlib
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch

from ..harmonics import random_rotation
from ._cache import SphereCache
from ._canvas import CanvasLayout, check_fits, compose_canvases, random_layout
from ._projection import COHEN_IMAGE_ANGULAR_RADIUS, PROJECTIONS, ImageToSphere, ProjectionName
from ._sources import DIGIT_SIZE, DigitImages
from ._validation import check_bandwidth, check_choice, check_int

__all__ = [
    "TaskName",
    "TASKS",
    "DEFAULT_THRESHOLD",
    "FORMAT_VERSION",
    "SphereSetSpec",
    "SpherePlan",
    "SphereSet",
    "derive_generator",
    "plan_sphere_set",
    "render_sphere_set",
    "project_samples",
    "inputs_fingerprint",
    "generation_fields",
    "load_or_render",
]

TaskName = Literal["classification", "segmentation"]
TASKS: tuple[str, ...] = get_args(TaskName)

#: Default intensity threshold (of 255) above which a projected pixel belongs to its digit.
DEFAULT_THRESHOLD = 150
#: Version of the generation procedure; part of every cache key, bumped whenever the bytes for a spec change.
FORMAT_VERSION = 1
# Spheres per rendering job (one job per thread at a time; also the step of the progress bar).
_RENDER_CHUNK = 512


def derive_generator(seed: int, *stream: str | int) -> torch.Generator:
    """A torch generator seeded from ``seed`` and a stream name: independent streams for independent purposes.

    Examples
    --------
    >>> a = torch.rand(2, generator=derive_generator(0, "train", "rotation", 0))
    >>> b = torch.rand(2, generator=derive_generator(0, "train", "rotation", 1))
    >>> bool((a != b).all())
    True
    """
    words = [check_int(seed, "seed", 0)] + [zlib.crc32(s.encode()) if isinstance(s, str) else int(s) for s in stream]
    state = int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0]) >> 1
    return torch.Generator().manual_seed(state)


@dataclass(frozen=True)
class SphereSetSpec:
    r"""Everything besides the input digits that determines a sample set's bytes (and hence its cache key).

    Attributes
    ----------
    task : {"classification", "segmentation"}
    bandwidth : int
        SOFT grid ``2b × 2b``.
    rotated : bool
        Whether samples get Haar-random rotations (else the identity).
    copies : int
        ``A``: independently rotated copies of each canvas (needs ``rotated`` when > 1).
    seed : int
        Seeds the rotations and the canvas layouts.
    stream : str
        Name of the random streams (the split: ``"train"``, ``"val"``, ``"test"``), so splits never share rotations.
    digits_per_sphere : int
        ``k`` (1 for classification).
    canvas_size : int
        Side of the planar canvas in pixels (28 for classification).
    threshold : int
        Mask threshold on the uint8 intensity, in 1..255 (segmentation only).
    projection, image_angular_radius
        As in :class:`ImageToSphere`.
    """

    task: TaskName
    bandwidth: int
    rotated: bool
    copies: int = 1
    seed: int = 0
    stream: str = "train"
    digits_per_sphere: int = 1
    canvas_size: int = DIGIT_SIZE
    threshold: int = DEFAULT_THRESHOLD
    projection: ProjectionName = "stereographic"
    image_angular_radius: float = COHEN_IMAGE_ANGULAR_RADIUS

    def __post_init__(self) -> None:
        check_choice(self.task, "task", TASKS)
        check_bandwidth(self.bandwidth)
        check_int(self.copies, "augment", 1)
        check_int(self.seed, "seed", 0)
        check_int(self.threshold, "threshold", 1, 255)
        check_choice(self.projection, "projection", PROJECTIONS)
        if self.copies > 1 and not self.rotated:
            raise ValueError(f"augment={self.copies} makes rotated copies, but the set is unrotated (rotate_*=False)")
        if self.task == "classification" and (self.digits_per_sphere != 1 or self.canvas_size != DIGIT_SIZE):
            raise ValueError(
                "classification shows one 28x28 digit per sphere: digits_per_sphere must be 1 and canvas_size 28, "
                f"got digits_per_sphere={self.digits_per_sphere}, canvas_size={self.canvas_size}"
            )
        check_fits(check_int(self.digits_per_sphere, "digits_per_sphere", 1), self.canvas_size)

    def projector(self) -> ImageToSphere:
        return ImageToSphere(self.bandwidth, projection=self.projection, image_angular_radius=self.image_angular_radius)


@dataclass(frozen=True, eq=False)
class SpherePlan:
    """What every sample of a set shows.

    Attributes
    ----------
    spec : SphereSetSpec
    layout : CanvasLayout
        ``N`` canvases; ``layout.members`` are positions in the pool.
    canvas : torch.Tensor
        int64 ``(M,)``: canvas shown by each sample (``M = N * copies``, copy-major).
    copy : torch.Tensor
        int64 ``(M,)``: copy index ``a`` of each sample.
    rotations : torch.Tensor or None
        float64 ``(M, 3, 3)``; None for an unrotated set.
    """

    spec: SphereSetSpec
    layout: CanvasLayout
    canvas: torch.Tensor
    copy: torch.Tensor
    rotations: torch.Tensor | None

    def __len__(self) -> int:
        return self.canvas.shape[0]

    @property
    def members(self) -> torch.Tensor:
        """int64 ``(M, k)``: pool positions of the digits on each sample (column 0 = the lead digit)."""
        return self.layout.members[self.canvas]


@dataclass(frozen=True, eq=False)
class SphereSet:
    """A rendered set: uint8 ``images`` ``(M, 2b, 2b)``; ``targets``: int64 labels ``(M,)`` or uint8 masks."""

    plan: SpherePlan
    images: torch.Tensor
    targets: torch.Tensor


def _check_positions(pool: DigitImages, positions: torch.Tensor | None) -> torch.Tensor:
    if positions is None:
        return torch.arange(len(pool), dtype=torch.int64)
    positions = torch.as_tensor(positions, dtype=torch.int64)
    if positions.dim() != 1 or len(positions) == 0:
        raise ValueError(f"positions must be a non-empty 1-d tensor, got shape {tuple(positions.shape)}")
    if int(positions.min()) < 0 or int(positions.max()) >= len(pool):
        raise ValueError(f"positions must index the pool of {len(pool)} images")
    return positions


def plan_sphere_set(spec: SphereSetSpec, pool: DigitImages, positions: torch.Tensor | None = None) -> SpherePlan:
    """The plan of the set (see the module docstring); ``positions`` defaults to the whole pool."""
    positions = _check_positions(pool, positions)
    n = len(positions)
    generator = derive_generator(spec.seed, spec.stream, "layout")
    local = random_layout(torch.arange(n), n, spec.digits_per_sphere, spec.canvas_size, generator)
    layout = CanvasLayout(positions[local.members], local.offsets, spec.canvas_size)
    canvas = torch.arange(n, dtype=torch.int64).repeat(spec.copies)
    copy = torch.arange(spec.copies, dtype=torch.int64).repeat_interleave(n)
    rotations = None
    if spec.rotated:
        rotations = torch.cat(
            [
                random_rotation(len(pool), generator=derive_generator(spec.seed, spec.stream, "rotation", a))[positions]
                for a in range(spec.copies)
            ]
        )
    return SpherePlan(spec, layout, canvas, copy, rotations)


def project_samples(
    projector: ImageToSphere,
    canvas: torch.Tensor,
    regions: torch.Tensor | None,
    rotations: torch.Tensor | None,
    threshold: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Project uint8 canvases ``(B, C, C)`` (and region maps) onto the sphere: uint8 images and masks ``(B, *grid)``."""
    if regions is None:
        projected = projector(canvas[:, None].float(), rotations)[:, 0]
    else:  # intensity and regions share one grid per sample
        both = projector(torch.stack([canvas, regions], dim=1).float(), rotations, mode=("bilinear", "nearest"))
        projected, region = both[:, 0], both[:, 1].to(torch.uint8)
    # Bilinear values are convex combinations of 0..255, so adding 0.5 and truncating rounds them.
    images = projected.add_(0.5).to(torch.uint8)
    if regions is None:
        return images, None
    return images, region.mul_(images >= threshold)


def _chunks(total: int, size: int) -> Iterator[slice]:
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


@contextlib.contextmanager
def single_threaded_torch() -> Iterator[int]:
    """Run torch ops on the calling thread only; yields the number of threads torch had before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def render_sphere_set(plan: SpherePlan, pool: DigitImages, progress: bool = True, description: str = "") -> SphereSet:
    """Render a plan into uint8 spheres (and labels or masks), in chunks, with a progress bar.

    The chunks are independent and are spread over a pool of as many Python threads as torch has threads, each
    running single-threaded torch ops (torch releases the GIL). This uses the cores without intra-op barriers,
    which stall badly on shared cores: on the 2-core reference machine under load from other processes, 2 torch
    threads rendered 3.4k spheres/s at b = 30 and this scheme 19k/s. The bytes do not depend on the scheduling.
    """
    from tqdm.auto import tqdm

    spec = plan.spec
    projector = spec.projector()
    m = len(plan)
    images = torch.empty(m, *projector.grid_shape, dtype=torch.uint8)
    segmentation = spec.task == "segmentation"
    if segmentation:
        targets = torch.empty(m, *projector.grid_shape, dtype=torch.uint8)
    else:
        targets = pool.labels[plan.members[:, 0]]

    def render(part: slice) -> int:
        layout = plan.layout.select(plan.canvas[part])
        canvas, regions = compose_canvases(pool.images, pool.labels, layout)
        rotations = None if plan.rotations is None else plan.rotations[part]
        x, mask = project_samples(projector, canvas, regions if segmentation else None, rotations, spec.threshold)
        images[part] = x  # disjoint slices: safe from several threads
        if segmentation:
            targets[part] = mask
        return part.stop - part.start

    desc = description or f"{spec.stream} spheres (b={spec.bandwidth})"
    with (
        tqdm(total=m, desc=desc, unit="sphere", disable=not progress, leave=False) as bar,
        single_threaded_torch() as threads,
        ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="render") as executor,
    ):
        for done in executor.map(render, _chunks(m, _RENDER_CHUNK)):
            bar.update(done)
    return SphereSet(plan, images, targets)


def inputs_fingerprint(pool: DigitImages, positions: torch.Tensor | None) -> str:
    """Digest of the generation inputs besides the spec: the pool and which of its images are used."""
    digest = hashlib.blake2b(pool.fingerprint().encode(), digest_size=16)
    digest.update(_check_positions(pool, positions).numpy().tobytes())
    return digest.hexdigest()


def generation_fields(spec: SphereSetSpec, source: str, pool: DigitImages, positions: torch.Tensor | None) -> dict:
    """Every input that determines a rendered set's bytes, as plain data: the cache key and the stored metadata."""
    return {
        **asdict(spec),
        "source": source,
        "inputs": inputs_fingerprint(pool, positions),
        "grid": "soft",
        "format_version": FORMAT_VERSION,
    }


def load_or_render(
    cache: SphereCache,
    spec: SphereSetSpec,
    source: str,
    pool: DigitImages,
    positions: torch.Tensor | None = None,
    progress: bool = True,
    description: str = "",
) -> tuple[SphereSet, Path, bool]:
    """The set of ``spec`` over ``pool[positions]`` from ``cache``, rendered and stored first if missing or invalid.

    Returns the set, its cache file and whether it was rendered now. The plan is always recomputed (it is cheap and
    deterministic); only the rendered arrays are cached.
    """
    plan = plan_sphere_set(spec, pool, positions)
    fields = generation_fields(spec, source, pool, positions)
    m, side = len(plan), 2 * spec.bandwidth
    targets = (np.int64, (m,)) if spec.task == "classification" else (np.uint8, (m, side, side))
    expected = {"images": (np.uint8, (m, side, side)), "targets": targets}
    tag = "R" if spec.rotated else "NR"
    prefix = f"{source}-{spec.task}-{spec.stream}-b{spec.bandwidth}-k{spec.digits_per_sphere}-{tag}-A{spec.copies}-n{m}"

    def render() -> dict[str, np.ndarray]:
        rendered = render_sphere_set(plan, pool, progress, description)
        return {"images": rendered.images.numpy(), "targets": rendered.targets.numpy()}

    arrays, created = cache.get_or_create(prefix, fields, expected, render)
    sphere_set = SphereSet(plan, torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["targets"]))
    return sphere_set, cache.path(prefix, fields), created
