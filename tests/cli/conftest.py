import pytest

from .tiny import tiny_config


@pytest.fixture
def tiny(tmp_path):
    """A tiny classification config in tmp_path; its run folder is tmp_path / "run"."""
    return tiny_config(tmp_path)
