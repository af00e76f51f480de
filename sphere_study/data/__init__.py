r"""Spherical MNIST / FashionMNIST / digits: sources, projection onto S², rotations, segmentation canvases, caching.

Data flow (one way): digit source → (canvas of k digits) → projection onto S² under a Haar-random rotation →
uint8 cache → :class:`SphericalDataModule` → task.

* **Sources** (:func:`load_source`, :func:`split_source`): ``mnist`` and ``fashion_mnist`` from IDX files
  (downloaded from the canonical mirrors with MD5 checks when missing), ``digits`` from scikit-learn (offline);
  uint8 ``[N, 28, 28]`` images, seeded train/val/test splits.
* **Projection** (:class:`ImageToSphere`): the image lies on the plane tangent at the north pole and is projected
  azimuthally (stereographic by default), then sampled bilinearly on the SOFT grid of bandwidth b,
  :math:`\beta_j = \pi(2j+1)/4b`, :math:`\alpha_k = 2\pi k/2b` (or on HEALPix). A rotation acts as
  :math:`(L_R f)(x) = f(R^{-1}x)`: the sphere shows the digit rotated by R.
* **Segmentation** (:func:`random_layout`, :func:`compose_canvases`): k non-overlapping digits on a canvas; mask =
  class + 1 where the projected intensity reaches the threshold, 0 elsewhere; image and mask share the rotation and
  the mask is sampled by nearest neighbour.
* **Augmentation**: ``augment`` A = A independently rotated copies of each of the N training images (N·A samples);
  ``"online"`` = a fresh rotation at every load. Every rotation is independent and Haar-uniform on SO(3) and
  reproducible from the seed.
* **Caching** (:class:`SphereCache`): uint8 files keyed by every parameter, atomic writes, validation on load, a lock
  against duplicate generation.
* **Pictures** (:func:`plot_sphere`, :func:`plot_samples`): Mollweide and orthographic views.

.. seealso:: ``DESIGN.md`` for the grid and rotation conventions; :mod:`sphere_study.harmonics`.
"""

from ._cache import CacheWarning, SphereCache, cache_key
from ._canvas import CanvasLayout, compose_canvases, default_canvas_size, max_digits_per_canvas, random_layout
from ._datamodule import SphericalDataModule, drops_last_batch, num_batches
from ._datasets import EpochShuffleSampler, InputScaling, OnlineSphericalDataset, SphericalDataset
from ._generate import (
    DEFAULT_THRESHOLD,
    FORMAT_VERSION,
    TASKS,
    SpherePlan,
    SphereSet,
    SphereSetSpec,
    TaskName,
    derive_generator,
    generation_fields,
    inputs_fingerprint,
    load_or_render,
    plan_sphere_set,
    project_samples,
    render_sphere_set,
)
from ._idx import CorruptDataFileError, DataFileError, IdxFile, MissingDataFileError, fetch_idx_file, md5sum, read_idx
from ._plotting import plot_samples, plot_sphere, segmentation_colormap
from ._projection import (
    COHEN_IMAGE_ANGULAR_RADIUS,
    PROJECTIONS,
    ImageToSphere,
    ProjectionName,
    healpix_points,
    plane_radius,
)
from ._sources import (
    CLASS_NAMES,
    DIGIT_SIZE,
    IDX_FILES,
    IDX_MIRRORS,
    NUM_DIGIT_CLASSES,
    PUBLISHED_SIZES,
    SOURCES,
    DigitImages,
    DigitSplits,
    SourceName,
    default_data_root,
    load_source,
    split_sizes,
    split_source,
)

__all__ = [
    # sources
    "SourceName",
    "SOURCES",
    "DIGIT_SIZE",
    "NUM_DIGIT_CLASSES",
    "CLASS_NAMES",
    "IDX_MIRRORS",
    "IDX_FILES",
    "DigitImages",
    "DigitSplits",
    "load_source",
    "split_source",
    "split_sizes",
    "PUBLISHED_SIZES",
    "default_data_root",
    # IDX files
    "IdxFile",
    "read_idx",
    "md5sum",
    "fetch_idx_file",
    "DataFileError",
    "MissingDataFileError",
    "CorruptDataFileError",
    # projection
    "ProjectionName",
    "PROJECTIONS",
    "COHEN_IMAGE_ANGULAR_RADIUS",
    "ImageToSphere",
    "healpix_points",
    "plane_radius",
    # canvases
    "CanvasLayout",
    "default_canvas_size",
    "max_digits_per_canvas",
    "random_layout",
    "compose_canvases",
    # generation
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
    # cache
    "SphereCache",
    "CacheWarning",
    "cache_key",
    # datasets and the DataModule
    "SphericalDataset",
    "OnlineSphericalDataset",
    "InputScaling",
    "EpochShuffleSampler",
    "SphericalDataModule",
    "drops_last_batch",
    "num_batches",
    # pictures
    "plot_sphere",
    "plot_samples",
    "segmentation_colormap",
]
