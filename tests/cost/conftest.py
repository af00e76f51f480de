"""Fixtures of the cost tests: every cache (calibrations included) in the test's own folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    for name in ("XDG_CACHE_HOME", "MPLCONFIGDIR", "WANDB_DIR"):
        folder = tmp_path / "env" / name.lower()
        folder.mkdir(parents=True)
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("SPHERE_STUDY_FIT_COMMAND", raising=False)
    return tmp_path
