"""Training callbacks: last checkpoint, GPU monitor (pynvml), equivariance error, prediction samples, results."""

from ._checkpoint import BestCheckpoint, LastCheckpoint, best_checkpoint_callback
from ._equivariance import EquivarianceMonitor
from ._gpu import GPUMonitor
from ._results import ParameterChecksum, ResultsWriter
from ._samples import PredictionSamples

__all__ = [
    "BestCheckpoint",
    "LastCheckpoint",
    "best_checkpoint_callback",
    "GPUMonitor",
    "EquivarianceMonitor",
    "PredictionSamples",
    "ResultsWriter",
    "ParameterChecksum",
]
