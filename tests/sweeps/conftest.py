"""Fixtures of the sweep and plot tests: an isolated environment, a fake fit command, sweep files in tmp."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

FAKE_FIT = Path(__file__).with_name("fake_fit.py")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Run in tmp_path, with every cache, config and wandb folder inside it and wandb offline."""
    monkeypatch.chdir(tmp_path)
    for name in ("WANDB_DIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        folder = tmp_path / "env" / name.lower()
        folder.mkdir(parents=True)
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("FAKE_FIT_RULES", "FAKE_FIT_SLEEP", "FAKE_FIT_LEDGER", "SPHERE_STUDY_FIT_COMMAND", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def fake_fit(monkeypatch) -> list[str]:
    """The fake fit command, also set as ``$SPHERE_STUDY_FIT_COMMAND`` for sweeps started as subprocesses."""
    command = [sys.executable, str(FAKE_FIT)]
    monkeypatch.setenv("SPHERE_STUDY_FIT_COMMAND", " ".join(command))
    return command


@pytest.fixture
def write_sweep(tmp_path):
    """``write_sweep(dict, name="sweep.yaml") -> Path``; creates the base config files it names."""

    def write(content: dict, name: str = "sweep.yaml") -> Path:
        for group in content.get("groups", {}).values():
            bases = group.get("base", [])
            for base in [bases] if isinstance(bases, str) else bases:
                path = tmp_path / base
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("trainer: {max_epochs: 1}\n")
        path = tmp_path / name
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        return path

    return write
