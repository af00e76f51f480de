r"""A drop-in for the original ``s2cnn`` package (Cohen et al. 2018, and Gerken et al.'s fork), on sphere-study.

Every public name and module path of s2cnn exists here with s2cnn's signatures, array layouts and numbers, computed
by :mod:`sphere_study.harmonics` and :mod:`sphere_study.nn` (no s2cnn code): s2cnn code runs by changing its import,

.. code-block:: python

    # from s2cnn import S2Convolution, SO3Convolution, so3_integrate, s2_near_identity_grid, so3_near_identity_grid
    from sphere_study.compat.s2cnn import S2Convolution, SO3Convolution, so3_integrate, ...

or unchanged after :func:`register_as_s2cnn` (``import s2cnn`` and ``from s2cnn.soft.so3_fft import so3_rfft`` then
resolve here).

* Layers: ``S2Convolution``, ``SO3Convolution``, ``SO3Shortcut``, ``SO3ToS2`` (Gerken et al.) have s2cnn's parameters
  (``kernel`` ``[C_in, C_out, P]`` from U(-1, 1), ``bias`` ``[1, C_out, 1, 1(, 1)]``, the constant ``scaling``),
  so a ``state_dict`` saved from the original loads with ``strict=True`` and gives the original's outputs (to
  float32 rounding; to ~1e-15 in float64, which the original itself cannot run), and under one ``torch.manual_seed``
  both packages draw the same initial kernels. ``tests/compat`` checks this against a fixture made by the original.
* Transforms (``s2cnn.soft.s2_fft``, ``s2cnn.soft.so3_fft``), spectral products (``s2_mm``, ``so3_mm``,
  ``so3_sum_n``), kernel transforms (``s2_rft``, ``so3_rft``), grids, ``so3_integrate``, ``so3_rotation`` and
  ``s2cnn.utils.complex`` take and return s2cnn's real-pair layouts: a trailing axis ``[..., 2]`` for complex
  values, spectra ``[nspec, ..., 2]`` with the spectral axis first. The normalisation is the same as ours.

Differences to know:

* For ``b_out > b_in`` the original's SO(3) transform and ``SO3Convolution`` keep aliased coefficients at the
  degrees :math:`b_{in} \le l < b_{out}`; here they are zero (the band-limited answer, exactly equivariant). Lower
  degrees agree. The original refuses ``b_out > b_in`` in ``S2Convolution``/``s2_fft``; here it zero-fills.
* Bad input raises a one-line ``ValueError`` instead of an ``AssertionError``; float64 works everywhere.
* The ``*_fft_real`` autograd functions are plain callables (``.apply``): gradients come from autograd through our
  transforms. No CUDA kernels are compiled: CUDA tensors run through torch's own kernels.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from .s2_ft import s2_rft
from .s2_grid import s2_equatorial_grid, s2_near_identity_grid, s2_soft_grid
from .s2_mm import s2_mm
from .so3_ft import so3_rft
from .so3_grid import so3_equatorial_grid, so3_near_identity_grid, so3_soft_grid
from .so3_mm import so3_mm
from .so3_sum_n import so3_sum_n
from .soft import S2_ifft_real, S2Convolution, SO3Convolution, SO3Shortcut, SO3ToS2, so3_integrate, so3_rotation

__all__ = [
    "S2Convolution",
    "SO3Convolution",
    "SO3Shortcut",
    "SO3ToS2",
    "so3_integrate",
    "so3_rotation",
    "s2_rft",
    "so3_rft",
    "s2_mm",
    "so3_mm",
    "so3_sum_n",
    "S2_ifft_real",
    "s2_near_identity_grid",
    "s2_equatorial_grid",
    "s2_soft_grid",
    "so3_near_identity_grid",
    "so3_equatorial_grid",
    "so3_soft_grid",
    "register_as_s2cnn",
]


def register_as_s2cnn() -> None:
    """Make ``import s2cnn`` and every ``s2cnn.<submodule>`` import resolve to this package (``sys.modules``).

    For s2cnn code that should run unedited (its tests, examples, checkpoints' model files). Call it before that code
    imports s2cnn; raises ``RuntimeError`` if another ``s2cnn`` is imported already.
    """
    current = sys.modules.get("s2cnn")
    if current is not None and current is not sys.modules[__name__]:
        raise RuntimeError(f"another s2cnn is imported already ({getattr(current, '__file__', current)}); call earlier")
    sys.modules["s2cnn"] = sys.modules[__name__]
    for info in pkgutil.walk_packages(__path__, prefix=__name__ + "."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        sys.modules["s2cnn" + info.name[len(__name__) :]] = importlib.import_module(info.name)
