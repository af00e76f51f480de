"""Issue 12: nothing lost, nothing silent. Run folders (writable, one writer, stale results), resume provenance,
checkpoint safety, one-line errors, the top-level help. Tiny runs: digits at b = 6, one epoch; one fit is shared.

Permissions are simulated (the suite may run as root, which ignores file modes): ``os.access`` is mocked to deny the
checkpoint folder, and Lightning's save is replaced by one that swallows the error as Lightning does for a
read-only folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sphere_study.cli import main

from .tiny import TINY_CNN, read_results, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One completed tiny fit (config + run folder), copied by each test that needs it."""
    root = tmp_path_factory.mktemp("finished")
    config = tiny_config(root)
    assert main(["fit", "--config", str(config), "--trainer.logger", "false"]) == 0
    return root


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """(config, run folder): a private copy of the finished run, its config pointing at the copy."""
    shutil.copytree(finished_run / "run", tmp_path / "run")
    config = tmp_path / "tiny.yaml"
    config.write_text(
        (finished_run / "tiny.yaml").read_text().replace(str(finished_run / "run"), str(tmp_path / "run"))
    )
    (tmp_path / "run" / ".run.lock").unlink(missing_ok=True)
    return config, tmp_path / "run"


def fit(config, *extra) -> int:
    return main(["fit", "--config", str(config), "--trainer.logger", "false", *extra])


# 1. checkpoints that cannot be written ------------------------------------------------------------------------------


def test_unwritable_checkpoint_folder_fails_before_training(tmp_path, monkeypatch, capsys):
    config = tiny_config(tmp_path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p).name == "checkpoints" else real_access(p, mode))
    assert fit(config) == 2
    err = capsys.readouterr().err
    assert "checkpoints is not writable" in err and str(tmp_path / "run") in err
    assert not (tmp_path / "run" / "logs").exists()  # nothing trained, nothing logged


def test_a_checkpoint_save_that_writes_nothing_stops_the_run(tmp_path, monkeypatch, capsys):
    import lightning.fabric.plugins.io.torch_io as torch_io

    monkeypatch.setattr(torch_io, "_atomic_save", lambda checkpoint, path: None)  # Lightning swallowing EACCES
    assert fit(tiny_config(tmp_path)) == 2
    assert "was not written" in capsys.readouterr().err
    assert not (tmp_path / "run" / "results.json").exists()


# 2. resume with another config -------------------------------------------------------------------------------------


def test_resume_with_another_lr_is_refused_and_names_the_key(run_copy, capsys):
    config, run = run_copy
    before = (run / "results.json").read_bytes()
    assert fit(config, "--model.init_args.optimizer.init_args.lr", "0.0001", "--ckpt_path", "last") == 2
    err = capsys.readouterr().err
    assert "model.init_args.optimizer.init_args.lr: 0.02 in the checkpoint, 0.0001 now" in err
    assert (run / "results.json").read_bytes() == before  # nothing touched


def test_resume_in_a_folder_of_another_config_is_refused(run_copy, capsys):
    config, _ = run_copy
    assert fit(config, "--data.train_size", "32", "--ckpt_path", "last") == 2
    assert "data.train_size: 48 in the checkpoint, 32 now" in capsys.readouterr().err


def test_longer_training_needs_allow_and_is_recorded(run_copy, capsys):
    config, run = run_copy
    assert fit(config, "--trainer.max_epochs", "2", "--ckpt_path", "last") == 2
    assert "--resume_changes allow" in capsys.readouterr().err
    assert fit(config, "--trainer.max_epochs", "2", "--ckpt_path", "last", "--resume_changes", "allow") == 0
    results = read_results(run)
    assert results["epochs"] == 2 and results["config"]["trainer"]["max_epochs"] == 2
    (resume,) = results["resumes"]
    assert resume["changed"] == {"trainer.max_epochs": [1, 2]} and resume["epoch"] == 0


def test_unsafe_key_is_refused_even_with_allow(run_copy, capsys):
    config, _ = run_copy
    assert fit(config, "--seed_everything", "5", "--ckpt_path", "last", "--resume_changes", "allow") == 2
    assert "seed_everything: 0 in the checkpoint, 5 now" in capsys.readouterr().err


# 4./5. results.json belongs to the last completed fit; a resume after the end keeps train/val metrics ---------------


def test_failed_rerun_moves_the_old_results_aside(run_copy, monkeypatch):
    from sphere_study.callbacks import ResultsWriter

    config, run = run_copy

    def broken_write(self, *args, **kwargs):
        raise RuntimeError("simulated crash at the end of the rerun")

    monkeypatch.setattr(ResultsWriter, "write", broken_write)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(config)
    assert not (run / "results.json").exists()
    assert len(list(run.glob("results.superseded-*.json"))) == 1
    assert len(list(run.glob("checkpoints.superseded-*"))) == 1  # the earlier fit's checkpoints, not mixed in


def test_resume_of_a_finished_run_keeps_every_metric(run_copy):
    config, run = run_copy
    # best/* needs the checkpoint's dirpath, which the copy changed (Lightning then does not restore the best score)
    keys = {k for k in read_results(run)["metrics"] if not k.startswith("best/")}
    assert any(k.startswith("train/") for k in keys) and any(k.startswith("val/") for k in keys)
    assert fit(config, "--ckpt_path", "last") == 0
    assert keys <= set(read_results(run)["metrics"])  # none lost (44 -> 36 keys before)


# 3. one writer per run folder ---------------------------------------------------------------------------------------


def test_a_second_fit_in_a_locked_folder_is_refused(tmp_path, capsys):
    config = tiny_config(tmp_path)
    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / ".run.lock", "a+") as handle:  # another writer (a separate open file)
        handle.write("4242\n")
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert fit(config) == 2
    assert "being written by another process (pid 4242)" in capsys.readouterr().err


# 6. checkpoint safety; 9. corrupt or foreign checkpoints -------------------------------------------------------------


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_url_and_pickled_payloads_are_refused(run_copy, tmp_path, capsys):
    config, run = run_copy
    assert fit(config, "--ckpt_path", "http://127.0.0.1:9/evil.ckpt") == 2
    assert "local files only" in capsys.readouterr().err
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    marker = tmp_path / "payload_ran"
    checkpoint["extra"] = _Payload(marker)
    torch.save(checkpoint, tmp_path / "planted.ckpt")
    for command in ("fit", "test"):
        assert main([command, "--config", str(config), "--trainer.logger", "false", "--ckpt_path",
                     str(tmp_path / "planted.ckpt")]) == 2  # fmt: skip
        assert "not a plain checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_truncated_checkpoint_and_one_of_another_model_are_named(run_copy, tmp_path, capsys):
    config, run = run_copy
    last = run / "checkpoints" / "last.ckpt"
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(last.read_bytes()[:5000])
    assert fit(config, "--ckpt_path", str(truncated)) == 2
    assert f"checkpoint {truncated} is corrupt or truncated" in capsys.readouterr().err
    network = json.dumps(TINY_CNN)
    assert fit(config, "--model.init_args.network", network, "--ckpt_path", str(last)) == 2
    assert "is of another model" in capsys.readouterr().err


# 9. / 13. one-line errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "must be a YAML mapping of sections"),
        (b"- 1\n- 2\n", "it is a list"),
        (b"trainer: {max_epochs: \xff\xfe}\n", "is not a UTF-8 text file"),
    ],
    ids=["empty", "list", "latin1"],
)
def test_bad_config_files_are_named(tmp_path, capsys, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert main(["fit", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--trainer.max_epochs", "-5"], "trainer misconfigured"),
        (["--seed_everything", "-1"], "seed_everything:"),
        (["--model.init_args.network", "nope_preset"], "error: model: unknown model 'nope_preset'. Available"),
    ],
    ids=["max_epochs", "seed", "network"],
)
def test_bad_values_name_their_key(tiny, capsys, flags, message):
    assert fit(tiny, *flags) == 2
    assert message in capsys.readouterr().err


def test_unwritable_cache_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "cache_is_a_file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # what a read-only or bogus cache root gives: an OSError
    assert fit(tiny) == 2
    line = [x for x in capsys.readouterr().err.splitlines() if x.startswith("sphere-study: error:")][-1]
    assert str(blocker) in line


def test_plot_out_that_is_a_file_is_named(finished_run, tmp_path, capsys):
    out = tmp_path / "figures.png"
    out.write_text("")
    assert main(["plot", str(finished_run / "run"), "--out", str(out), "--no-wandb"]) == 2
    assert f"--out {out} is a file" in capsys.readouterr().err


# 14. network keys by dotted flag ---


def test_network_keys_can_be_set_by_dotted_flag(tiny, tmp_path):
    from sphere_study._lightning_cli import _merge_network, check_fit_commands

    assert check_fit_commands([["--config", str(tiny), "--model.init_args.network.init_args.bandwidths", "[5,3]"]]) == [
        None
    ]
    merged = _merge_network({"class_path": "X", "init_args": {"features": [4, 6]}}, [("init_args.bandwidths", "[5,3]")])
    assert merged == {"class_path": "X", "init_args": {"features": [4, 6], "bandwidths": [5, 3]}}
    assert _merge_network("cnn_cls_1m", [("init_args.bandwidth", "8")]) == {
        "name": "cnn_cls_1m",
        "init_args": {"bandwidth": 8},
    }
    (error,) = check_fit_commands([["--config", str(tiny), "--model.init_args.network.bandwidths", "[5,3]"]])
    assert "--model.init_args.network.init_args.KEY VALUE" in error


def test_resolved_fit_config_is_what_the_fit_builds(tiny, tmp_path):
    """The cost estimate reads the resolved config and builds the task from it: network flags merged, defaults filled
    in, the data's class count linked into the network; a bad command gives its error, not a config."""
    from sphere_study._lightning_cli import instantiate_fit_command, resolve_fit_commands

    args = ["--config", str(tiny), "--model.init_args.network.init_args.bandwidths", "[5,3]"]
    args += ["--data.augment", "2", "--data.rotate_train", "true"]
    (config, error), (bad, bad_error) = resolve_fit_commands([args, ["--config", str(tiny), "--data.augmnt", "2"]])
    assert error is None and bad is None and "data.augmnt" in bad_error
    assert config.model.init_args.network["init_args"]["bandwidths"] == [5, 3]
    assert (config.data.augment, config.data.batch_size, config.trainer.max_epochs) == (2, 16, 1)
    assert config.trainer.limit_train_batches is None and config.test_after_fit is True  # defaults filled in
    # one parser serves every command (a sweep parses hundreds): the same configs and errors as one parser each
    commands = [
        ["--config", str(tiny), "--data.augmnt", "2"],
        args,
        ["--config", str(tiny), "--model.init_args.network", "cnn_cls_114k"],
        ["--config", str(tmp_path / "missing.yaml")],
        ["--config", str(tiny)],
    ]
    shared = resolve_fit_commands(commands)
    alone = [resolve_fit_commands([command])[0] for command in commands]
    assert [error for _, error in shared] == [error for _, error in alone]
    assert [c and c.as_dict() for c, _ in shared] == [c and c.as_dict() for c, _ in alone]
    assert shared[2][0].model.init_args.network == "cnn_cls_114k" and isinstance(
        shared[4][0].model.init_args.network, dict
    )

    task, datamodule = instantiate_fit_command(args)
    assert task.network.features[0].b_out == 5 and task.network.num_classes == datamodule.num_classes == 10
    assert datamodule.augment == 2 and not (tmp_path / "run").exists(), "building writes no run folder"


# 16. the top-level help ---


def test_top_level_help_lists_every_subcommand_and_journey(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("fit ", "validate ", "test ", "predict ", "sweep ", "plot "):
        assert f"\n  {line}" in out
    for journey in ("one run", "a study", "the figures"):
        assert journey in out


def test_help_paths_import_neither_torch_nor_lightning():
    code = (
        "import sys; import sphere_study.cli, sphere_study.sweep, sphere_study.plots; "
        "print(sorted(m for m in ('torch', 'lightning', 'jsonargparse') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
