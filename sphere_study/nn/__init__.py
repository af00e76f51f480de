r"""Equivariant layers for spherical CNNs (learnable; built on :mod:`sphere_study.harmonics`).

Every layer declares ``input_space`` and ``output_space`` (``"s2"`` or ``"so3"``), which
:func:`sphere_study.equivariance.equivariance_error` reads to rotate inputs and outputs correctly.

================  =========================================  ============================================
layer             maps                                       equivariance law
================  =========================================  ============================================
``S2Conv``        ``[B, C, 2b, 2b]`` → ``[B, C', 2b', 2b', 2b']``   :math:`\Phi(L_Q f) = L_Q \Phi(f)`
``SO3Conv``       SO(3) → SO(3)                              :math:`\Phi(L_Q f) = L_Q \Phi(f)`
``SO3ToS2``       SO(3) → S² (Gerken et al.)                 :math:`\Phi(L_Q f) = L_Q \Phi(f)`
``SO3Shortcut``   SO(3) → SO(3), channels/bandwidth change   :math:`\Phi(L_Q f) = L_Q \Phi(f)`
``SO3BatchNorm``  SO(3) → SO(3), Haar statistics             :math:`\Phi(L_Q f) = L_Q \Phi(f)`
``so3_integrate`` ``[..., 2b, 2b, 2b]`` → ``[...]``          :math:`\int L_Q f = \int f`
``mask_relu``     pointwise ReLU, one-byte mask for backward  :math:`\Phi(L_Q f) = L_Q \Phi(f)`
================  =========================================  ============================================

:func:`correlation_flops` gives the analytic FLOPs of a correlation layer's forward and backward pass per operation.
"""

from ._conv import S2Conv, SO3Conv, SO3Shortcut, SO3ToS2, set_product_recomputation
from ._flops import correlation_flops
from ._integrate import s2_integrate, so3_integrate
from ._norm import S2BatchNorm, SO3BatchNorm
from ._relu import mask_relu

__all__ = [
    "S2Conv",
    "SO3Conv",
    "SO3ToS2",
    "SO3Shortcut",
    "S2BatchNorm",
    "SO3BatchNorm",
    "so3_integrate",
    "mask_relu",
    "s2_integrate",
    "set_product_recomputation",
    "correlation_flops",
]
