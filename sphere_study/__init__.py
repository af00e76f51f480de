"""sphere-study: rotation equivariance versus data augmentation on spherical images.

Subpackages, in the direction the arrows point:

* :mod:`sphere_study.harmonics` — grids, Wigner tables, S² and SO(3) Fourier transforms, rotations (math only).
* :mod:`sphere_study.nn` — equivariant layers (S2Conv, SO3Conv, SO3ToS2, ...).
* :mod:`sphere_study.models` — S2CNN classifier/segmenter, planar CNN baselines, the model registry.
* :mod:`sphere_study.data` — digit sources, projection onto S², rotations/augmentation, caching, the DataModule.
* :mod:`sphere_study.tasks` — LightningModules for classification and segmentation.
"""

__version__ = "0.1.0"
