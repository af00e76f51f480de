"""scripts/study_table.py: the study's Markdown tables from a plot folder's aggregate.csv (small fake rows)."""

import csv
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "study_table.py"


@pytest.fixture(scope="module")
def study_table():
    spec = importlib.util.spec_from_file_location("study_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(family, augment, n, rotated, unrotated, seeds=3, std=0.01):
    return {
        "family": family,
        "model": f"{family}_net",
        "num_parameters": "1000",
        "train_size": str(n),
        "augment": augment,
        "rotate_train": "false" if family == "s2cnn" else "true",
        "n": str(seeds),
        "test/rotated/acc_mean": str(rotated),
        "test/rotated/acc_std": str(std),
        "test/unrotated/acc_mean": str(unrotated),
        "test/unrotated/acc_std": str(std),
        "optimizer_steps_mean": "100",
        "fit_wall_time_s_mean": "12.5",
        "train_flops_mean": "3e12",
    }


ROWS = [
    _row("s2cnn", "1", 100, 0.50, 0.51),
    _row("s2cnn", "1", 1000, 0.80, 0.80),
    _row("cnn", "1", 100, 0.20, 0.30),
    _row("cnn", "1", 1000, 0.40, 0.50),
    _row("cnn", "online", 100, 0.25, 0.28),
    _row("cnn", "online", 1000, 0.45, 0.47, seeds=2),
]


def test_tables_lead_and_seed_counts(study_table):
    text = study_table.study_tables(ROWS, "acc")
    lines = text.splitlines()
    # the S2CNN row first, then the CNN by A with online last; one column per N
    rotated = [line for line in lines if line.startswith("| S2CNN") or line.startswith("| CNN")][:3]
    assert rotated[0].startswith("| S2CNN") and "A = 1" in rotated[1] and "online" in rotated[2]
    assert "| 0.500 ± 0.010 | 0.800 ± 0.010 |" in rotated[0]
    assert "0.450 ± 0.010 [2]" in rotated[2]  # a setting with fewer seeds says so
    # the lead over the best CNN at each N: difference of means ± root sum of variances
    assert "| 100 | online | +0.250 ± 0.014 |" in lines
    assert "| 1,000 | online | +0.350 ± 0.014 |" in lines
    # the study's total: 17 points (3 seeds each but one setting with 2), 17 x 12.5 s, 17 x 3e12 FLOPs
    assert "Total: 17 points, 0.06 h of fit wall time summed over points" in text
    assert "5.10e+13 training FLOPs." in text


def test_main_reads_aggregate_and_names_a_missing_metric(study_table, tmp_path, capsys):
    with open(tmp_path / "aggregate.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    assert study_table.main([str(tmp_path), "--metric", "acc", "--out", str(tmp_path / "table.md")]) == 0
    assert "S2CNN minus the best CNN" in (tmp_path / "table.md").read_text()
    with pytest.raises(SystemExit):
        study_table.main([str(tmp_path), "--metric", "miou_fg"])
    assert "no column test/rotated/miou_fg_mean" in capsys.readouterr().err
