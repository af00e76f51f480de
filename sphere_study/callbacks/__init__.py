"""Training callbacks: GPU monitor (pynvml), equivariance error, prediction samples, results writer."""

from ._equivariance import EquivarianceMonitor
from ._gpu import GPUMonitor
from ._results import ParameterChecksum, ResultsWriter
from ._samples import PredictionSamples

__all__ = ["GPUMonitor", "EquivarianceMonitor", "PredictionSamples", "ResultsWriter", "ParameterChecksum"]
