r"""The one place that imports lie_learn.

lie_learn 0.0.2 predates Python 3.10, where ``collections.Iterable`` was removed; its
Pinchon–Hoggan code still looks the name up when it builds Wigner matrices. We restore the
alias once, here, before the first call, instead of at every call site.
"""

from __future__ import annotations

import collections
import collections.abc

import numpy as np

if not hasattr(collections, "Iterable"):  # Python >= 3.10
    collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from lie_learn.representations.SO3.pinchon_hoggan.pinchon_hoggan_dense import Jd as _Jd  # noqa: E402
from lie_learn.representations.SO3.wigner_d import wigner_d_matrix as _wigner_d_matrix  # noqa: E402
from lie_learn.spaces import S3 as _S3  # noqa: E402

#: lie_learn ships the Pinchon–Hoggan J matrices for degrees l <= MAX_DEGREE only.
MAX_DEGREE = len(_Jd) - 1

# The convention of DESIGN.md (the one s2cnn uses).
_CONVENTION = dict(field="complex", normalization="quantum", order="centered", condon_shortley="cs")


def wigner_d_matrix(l: int, beta: float) -> np.ndarray:
    r"""Wigner small-d matrix :math:`d^l_{mn}(\beta)`, shape ``(2l+1, 2l+1)``, rows m, columns n, from -l to l."""
    if not 0 <= l <= MAX_DEGREE:
        raise ValueError(f"Wigner-d degree must be in [0, {MAX_DEGREE}] (lie_learn's tables), got l={l}")
    return np.asarray(_wigner_d_matrix(l, float(beta), **_CONVENTION), dtype=np.float64)


def quadrature_weights(b: int) -> np.ndarray:
    r"""SOFT quadrature weights :math:`w_j` over the 2b values of β; :math:`\sum_j w_j = 1/(2b)^2`."""
    return np.asarray(_S3.quadrature_weights(b, grid_type="SOFT"), dtype=np.float64)
