"""Fixtures of the data tests: an isolated cache per test, the real MNIST test set, the bundled digits."""

from __future__ import annotations

from pathlib import Path

import pytest

from sphere_study.data import load_source

# The real MNIST test set shipped next to the repository (../shared/data/mnist from the repository root).
MNIST_DIR = (Path(__file__).resolve().parents[2] / "../shared/data/mnist").resolve()
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _require_mnist() -> Path:
    if not all((MNIST_DIR / name).is_file() for name in MNIST_TEST_FILES):
        pytest.skip(f"the real MNIST test set is not at {MNIST_DIR} (expected {', '.join(MNIST_TEST_FILES)})")
    return MNIST_DIR


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own XDG cache and matplotlib folders, so nothing is written outside tmp_path."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mplconfig"))
    return cache


@pytest.fixture
def mnist_dir() -> Path:
    return _require_mnist()


@pytest.fixture(scope="session")
def mnist_test():
    """The 10,000 real MNIST test images (read-only: loading from a given root writes nothing)."""
    return load_source("mnist", "test", _require_mnist(), download=False, progress=False)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 1,797 digits at 28x28."""
    return load_source("digits", "all")
