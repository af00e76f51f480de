"""Helpers for tiny, fast runs of the real CLI (bundled digits data, bandwidth 6-8, a few dozen samples)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"

TINY_S2CNN = {
    "class_path": "sphere_study.models.S2CNNClassifier",
    "init_args": {"features": [4, 6], "bandwidths": [4, 3]},
}
TINY_CNN = {
    "class_path": "sphere_study.models.CNNClassifier",
    "init_args": {"features": [6, 8], "kernel_sizes": [3, 3], "strides": [1, 2]},
}


def tiny_config(tmp_path: Path, network=TINY_S2CNN, max_epochs: int = 1, **data) -> Path:
    """A complete tiny classification config (derived from quick.yaml) written into tmp_path."""
    config = yaml.safe_load((CONFIGS / "quick.yaml").read_text())
    config["trainer"].update(
        {"max_epochs": max_epochs, "default_root_dir": str(tmp_path / "run"), "enable_progress_bar": False}
    )
    config["model"]["init_args"]["network"] = network
    config["data"].update({"bandwidth": 6, "train_size": 48, "val_size": 16, "test_size": 16, "batch_size": 16, **data})
    config["equivariance"] = {"n_samples": 4, "n_rotations": 2}
    config["samples"] = {"n_samples": 2}
    path = tmp_path / "tiny.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def read_results(run_dir: Path, name: str = "results.json") -> dict:
    return json.loads((run_dir / name).read_text())
