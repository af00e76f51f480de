"""s2cnn's ``s2cnn.soft``: the layers, SO(3) integration and rotation, and (submodules) the Fourier transforms."""

from .s2_conv import S2Convolution
from .s2_fft import S2_ifft_real
from .so3_conv import SO3Convolution, SO3Shortcut
from .so3_integrate import so3_integrate
from .so3_rotation import so3_rotation
from .so3_to_s2 import SO3ToS2

__all__ = ["S2Convolution", "SO3Convolution", "SO3Shortcut", "SO3ToS2", "so3_integrate", "so3_rotation", "S2_ifft_real"]
