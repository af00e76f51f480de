"""Shared test set-up: isolation of every cache and log folder, seeding, dtypes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # Caches, matplotlib and wandb write under this run's temporary folder, never into the user's home.
    factory = getattr(config, "_tmp_path_factory", None)
    base = (factory.getbasetemp() if factory is not None else Path(tempfile.mkdtemp())) / "sphere_study_env"
    for var, sub in (("XDG_CACHE_HOME", "cache"), ("MPLCONFIGDIR", "mpl"), ("WANDB_DIR", "wandb")):
        (base / sub).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(base / sub)
    os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ["MPLBACKEND"] = "Agg"


@pytest.fixture
def read_wandb_run():
    """``read_wandb_run(offline_run_folder) -> {"group", "config", "summary"}``: what an offline wandb run stored
    (``tests/wandb_records.py``)."""
    from wandb_records import read_offline_run  # tests/ is on sys.path: this conftest was imported from it

    return read_offline_run


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    """Run a test in both precisions."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _reset_dynamo():
    yield
    torch._dynamo.reset()


@pytest.fixture(
    params=[
        "cpu",
        pytest.param(
            "cuda",
            marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")],
        ),
    ]
)
def device(request):
    """Run a test on the CPU and, where one is available, on a CUDA device (the case skips cleanly without one).
    ``pytest -m gpu`` selects the CUDA cases (``scripts/device_check.sh``)."""
    return torch.device(request.param)
