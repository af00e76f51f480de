r"""s2cnn's ``so3_integrate`` (``s2cnn.soft.so3_integrate``): :func:`sphere_study.nn.so3_integrate`.

Haar integral (mean) over SO(3) per channel, ``[..., 2b, 2b, 2b]`` -> ``[...]``:
:math:`\sum_{j,k,t} w_j f(\beta_j, \alpha_k, \gamma_t)`, the same quadrature as the original.
"""

from ....nn import so3_integrate

__all__ = ["so3_integrate"]
