r"""The LightningCLI behind ``sphere-study fit/validate/test/predict`` (imported lazily by :mod:`sphere_study.cli`).

Every option is a YAML key and a ``--section.key value`` flag; unknown keys and wrong types are rejected by
jsonargparse with a message naming them. The network is a mapping (``model.init_args.network``), which jsonargparse
cannot reach into, so ``--model.init_args.network.init_args.KEY VALUE`` (and ``...network.class_path``) flags are
merged into it here, after parsing; on a preset name they become that preset's overrides. The data's ``bandwidth``,
``num_classes`` and ``in_channels`` are linked to the task's network. Always-on callbacks have their own sections:
``checkpoint`` (the best epoch by ``checkpoint.monitor``, which ``fit`` tests), ``last_checkpoint`` (``last.ckpt``
every epoch, for ``--ckpt_path last``), ``results`` (results.json), ``equivariance``, ``samples`` and
``gpu_monitor``. Logging: the trainer's logger (wandb, offline by default, see
:class:`sphere_study.loggers.WandbLogger`) plus a CSV log that is always written to the run folder, so a run is never
lost if wandb cannot start.

The run folder (see :mod:`sphere_study._run_folder`): the fit locks it, checks it is writable, moves an earlier
``results.json`` (and, for a fresh fit, earlier checkpoints) aside. A ``--ckpt_path`` must be a local file; it is
loaded with ``weights_only=True``, must be of the same network, and, for ``fit``, must have been made with the same
resolved config: differing keys are listed and refused; ``--resume_changes allow`` accepts changes of
:data:`~sphere_study._run_folder.SAFE_RESUME_CHANGES` (``trainer.max_epochs`` ...), which results.json then records
under ``"resumes"``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import yaml
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from . import _run_folder
from .callbacks import (
    BestCheckpoint,
    EquivarianceMonitor,
    GPUMonitor,
    LastCheckpoint,
    PredictionSamples,
    ResultsWriter,
    best_checkpoint_callback,
)
from .data import SphericalDataModule
from .results import RESULTS_FILE, SWEEP_GROUP_ENV
from .tasks import SphericalTask

__all__ = [
    "SphereStudyCLI",
    "run_lightning",
    "check_config_files",
    "check_fit_commands",
    "resolve_fit_commands",
    "instantiate_fit_command",
]

_NETWORK_FLAG = "--model.init_args.network."


class SphereStudyCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.bandwidth", "model.init_args.bandwidth")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.in_channels", "model.init_args.in_channels", apply_on="instantiate")
        parser.add_lightning_class_args(BestCheckpoint, "checkpoint")
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.add_lightning_class_args(ResultsWriter, "results")
        parser.add_lightning_class_args(EquivarianceMonitor, "equivariance")
        parser.add_lightning_class_args(PredictionSamples, "samples")
        parser.add_lightning_class_args(GPUMonitor, "gpu_monitor")
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After fit, test the best checkpoint and write results.json",
        )
        parser.add_argument(
            "--resume_changes",
            type=str,
            default="refuse",
            choices=["refuse", "allow"],
            help="A fit resumed with --ckpt_path whose config differs from the checkpoint's is refused; 'allow' "
            "accepts changes of " + ", ".join(_run_folder.SAFE_RESUME_CHANGES) + " and records them in results.json",
        )

    # --- parsing ------------------------------------------------------------------------------------------------------

    def parse_arguments(self, parser, args) -> None:
        """Parse, then merge ``--model.init_args.network.PATH VALUE`` flags into the network mapping."""
        if args is not None and not isinstance(args, (list, tuple)):
            return super().parse_arguments(parser, args)
        rest, network_sets = _split_network_flags(list(sys.argv[1:] if args is None else args))
        if args is None:  # from the command line: keep it there (LightningCLI warns about args and argv both)
            saved, sys.argv = sys.argv, [sys.argv[0], *rest]
            try:
                super().parse_arguments(parser, None)
            finally:
                sys.argv = saved
        else:
            super().parse_arguments(parser, rest)
        if network_sets:
            subcommand = self.config.get("subcommand")
            config = self.config[subcommand] if subcommand else self.config
            config["model.init_args.network"] = _merge_network(config["model.init_args.network"], network_sets)

    def _parse_ckpt_path(self) -> None:
        """Check the checkpoint before LightningCLI reads its hyperparameters into the config (which would silently
        replace the configured network by the checkpoint's): local file, plain data, and the same network."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or ckpt_path in ("last", "best", "hpc", "registry"):
            return super()._parse_ckpt_path()
        _run_folder.read_checkpoint(ckpt_path)
        key = "model.init_args.network"
        before = json.dumps(self.config[subcommand].get(key), sort_keys=True, default=str)
        super()._parse_ckpt_path()
        after = json.dumps(self.config[subcommand].get(key), sort_keys=True, default=str)
        if before != after:
            raise _run_folder.CheckpointError(
                f"checkpoint {ckpt_path} is of another model than the configured network ({after} in the checkpoint, "
                f"{before} configured): use the config the checkpoint was trained with"
            )

    def _set_seed(self) -> None:
        try:
            super()._set_seed()
        except (ValueError, TypeError) as err:
            raise ValueError(f"seed_everything: {err} (a seed is an integer from 0 to 4294967295, or true)") from None

    # --- run folder and loggers ---------------------------------------------------------------------------------------

    def _prepare_run(self) -> None:
        """Everything of a run in its folder: checkpoints in ``<run>/checkpoints`` (where ``--ckpt_path last`` finds
        them), a CSV log per invocation in ``<run>/logs/version_<k>`` (a resumed run never overwrites the first part's
        log; config.yaml goes there too), and wandb in ``<run>/wandb`` if it starts; if it does not, the run goes on
        with the CSV log and a warning."""
        trainer = self.trainer
        run_dir = Path(trainer.default_root_dir)
        _run_folder.check_writable(run_dir)
        if rank_zero_only.rank == 0:  # DDP ranks > 0 are the same fit, started by rank 0
            _run_folder.hold_run_lock(run_dir)  # before anything is written: one writer per folder
        for callback in trainer.checkpoint_callbacks:
            if callback.dirpath is None:
                callback.dirpath = str(run_dir / "checkpoints")
        if self.subcommand == "fit":
            _run_folder.check_writable(*{Path(cb.dirpath) for cb in trainer.checkpoint_callbacks})
        kept = []
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger) and Path(logger.save_dir) == run_dir:
                continue
            if isinstance(logger, LightningWandbLogger):
                if hasattr(logger, "use_run_dir"):
                    logger.use_run_dir(run_dir)
                grouping = self._wandb_grouping(logger)
                if grouping["group"] is not None and hasattr(logger, "use_group"):
                    logger.use_group(grouping["group"])
                try:
                    logger.experiment.config.update(
                        {"num_parameters": self.model.num_parameters, "cli": self._config_dict(), **grouping},
                        allow_val_change=True,
                    )
                except Exception as e:  # no network, no account, a broken install: never lose the run for it
                    warnings.warn(f"wandb could not start ({type(e).__name__}: {e}); logging to CSV only", stacklevel=2)
                    continue
            kept.append(logger)
        trainer.loggers = [CSVLogger(save_dir=run_dir, name="logs")] + kept

    def _wandb_grouping(self, logger) -> dict:
        """The keys :data:`~sphere_study.results.WANDB_GROUPING_KEYS` of the run's wandb config: the sweep group
        (``$SPHERE_STUDY_SWEEP_GROUP``, set by the sweep for each point) or else the logger's own group, the model
        family, N = ``data.train_size`` (None: all images), A = ``data.augment``, and the seed in use."""
        seed = os.environ.get("PL_GLOBAL_SEED")  # what seed_everything set (also when the config says `true`)
        group = os.environ.get(SWEEP_GROUP_ENV) or getattr(logger, "_wandb_init", {}).get("group")
        return {
            "group": group,
            "family": getattr(self.model, "family", None),
            "N": getattr(self.datamodule, "train_size", None),
            "A": getattr(self.datamodule, "augment", None),
            "seed": int(seed) if seed is not None else None,
        }

    def _config_dict(self) -> dict:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        try:
            return config.clone().as_dict()
        except Exception:
            return {}

    def _subcommand_config(self):
        return self.config[self.subcommand] if self.subcommand else self.config

    def _results_writer(self) -> ResultsWriter | None:
        return next((cb for cb in self.trainer.callbacks if isinstance(cb, ResultsWriter)), None)

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict:
        """Check ``--ckpt_path`` (local file, weights_only, same network, same config) before Lightning loads it."""
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        ckpt_path = kwargs.get("ckpt_path")
        if ckpt_path in ("last", "best"):
            found = self._named_checkpoint(ckpt_path)
            # None: Lightning's own handling ("last" with none yet starts from scratch, with a warning)
            ckpt_path = kwargs["ckpt_path"] = None if found is None and ckpt_path == "last" else found or ckpt_path
        if ckpt_path is not None:
            ckpt_path = kwargs["ckpt_path"] = str(ckpt_path)
            checkpoint = _run_folder.read_checkpoint(ckpt_path)
            _check_same_network(ckpt_path, checkpoint["state_dict"], self.model.state_dict())
            if subcommand == "fit":
                self._check_resume(ckpt_path, checkpoint)
            kwargs["weights_only"] = True  # what read_checkpoint checked: no pickled code runs
        if subcommand == "fit":
            self._start_fit(ckpt_path)
        return kwargs

    def _named_checkpoint(self, name: str) -> Path | None:
        if name == "last":
            for callback in self.trainer.checkpoint_callbacks:
                if isinstance(callback, LastCheckpoint) and callback.dirpath:
                    path = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
                    if path.is_file():
                        return path
            return None
        best = best_checkpoint_callback(self.trainer)
        return Path(best.best_model_path) if best is not None and best.best_model_path else None

    def _check_resume(self, ckpt_path: str, checkpoint: dict) -> None:
        allow = self._subcommand_config().get("resume_changes", "refuse") == "allow"
        stored = (checkpoint.get(ResultsWriter.CHECKPOINT_KEY) or {}).get("config")
        now = _run_folder.flatten_config(self._plain_config())
        record = {"checkpoint": str(ckpt_path), "epoch": checkpoint.get("epoch"), "changed": {}}
        if stored is None:
            if not allow:
                raise _run_folder.CheckpointError(
                    f"checkpoint {ckpt_path} does not record the config it was made with (an older sphere-study), so "
                    "this resume cannot be checked against it; pass --resume_changes allow to resume it anyway "
                    "(results.json then records the resume as unchecked)"
                )
            record["changed"] = "unknown: the checkpoint records no config"
        else:
            changes = _run_folder.config_changes(_run_folder.flatten_config(stored), now)
            unsafe = {k: v for k, v in changes.items() if k not in _run_folder.SAFE_RESUME_CHANGES}
            if unsafe or (changes and not allow):
                listed = "; ".join(f"{k}: {old!r} in the checkpoint, {new!r} now" for k, (old, new) in changes.items())
                hint = (
                    "resume with the checkpoint's settings, or start a new run in another folder "
                    "(--trainer.default_root_dir)"
                )
                if not unsafe:
                    hint += "; these keys may change on resume with --resume_changes allow"
                elif any(k in _run_folder.SAFE_RESUME_CHANGES for k in changes):
                    hint += (
                        f" (only {', '.join(_run_folder.SAFE_RESUME_CHANGES)} may change, with --resume_changes allow)"
                    )
                raise _run_folder.CheckpointError(
                    f"checkpoint {ckpt_path} was made with another config ({listed}): {hint}"
                )
            record["changed"] = {k: list(v) for k, v in changes.items()}
        writer = self._results_writer()
        if writer is not None:
            writer.resumes.append(record)

    def _plain_config(self) -> dict:
        """The resolved config of this subcommand as plain JSON data (what checkpoints store)."""
        return json.loads(json.dumps(self._config_dict(), default=str))

    def _start_fit(self, ckpt_path) -> None:
        """Once the checkpoint (if any) passed its checks: results.json must belong to the last completed fit, so an
        earlier one is moved aside (plots ignore it); a fresh fit moves earlier checkpoints aside too."""
        run_dir = Path(self.trainer.default_root_dir)
        if rank_zero_only.rank != 0:
            return
        _run_folder.supersede(run_dir / RESULTS_FILE)
        if ckpt_path is None:
            for callback in self.trainer.checkpoint_callbacks:
                folder = Path(callback.dirpath)
                if folder.is_dir() and any(folder.iterdir()):
                    _run_folder.supersede(folder)
                    _run_folder.check_writable(folder)
        writer = self._results_writer()
        if writer is not None:
            writer.run_config = self._plain_config()

    def before_fit(self) -> None:
        self._prepare_run()
        if not self._subcommand_config().get("test_after_fit", True):
            for callback in self.trainer.callbacks:
                if isinstance(callback, ResultsWriter):
                    callback.after = "fit"

    def after_fit(self) -> None:
        if not self._subcommand_config().get("test_after_fit", True) or self.trainer.interrupted:
            return
        checkpoint = best_checkpoint_callback(self.trainer)
        # An explicit path: "best" would take the first ModelCheckpoint, which may be the LastCheckpoint.
        ckpt_path = checkpoint.best_model_path if checkpoint is not None and checkpoint.best_model_path else None
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt_path)

    def before_validate(self) -> None:
        self._prepare_run()

    def before_test(self) -> None:
        self._prepare_run()


def _split_network_flags(argv: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    rest, sets = [], []
    items = iter(argv)
    for item in items:
        if not item.startswith(_NETWORK_FLAG):
            rest.append(item)
            continue
        key, eq, value = item[len(_NETWORK_FLAG) :].partition("=")
        if not eq:
            value = next(items, None)
            if value is None:
                raise ValueError(f"{item} needs a value")
        if key != "class_path" and not key.startswith("init_args.") or key == "init_args.":
            raise ValueError(
                f"{item}: network flags are --model.init_args.network.class_path CLASS or "
                "--model.init_args.network.init_args.KEY VALUE (e.g. --model.init_args.network.init_args.bandwidths "
                "'[12,8]'), or the whole network as --model.init_args.network '{class_path: ..., init_args: {...}}'"
            )
        sets.append((key, value))
    return rest, sets


def _merge_network(network, sets: list[tuple[str, str]]):
    """The network mapping with each ``(dotted key, YAML text)`` set; a preset name becomes ``{name, init_args}``."""
    if isinstance(network, str):
        network = {"name": network, "init_args": {}}
    elif isinstance(network, dict):
        network = json.loads(json.dumps(network, default=str))
        network.setdefault("init_args", {})
    else:
        raise ValueError("--model.init_args.network.* flags need the network given as a preset name or a mapping")
    for key, text in sets:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"--model.init_args.network.{key}: {text!r} is not a YAML value ({err})") from None
        if key == "class_path":
            network.pop("name", None)
            network["class_path"] = value
            continue
        node = network
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--model.init_args.network.{key}: {part} is not a mapping")
        node[last] = value
    return network


def _check_same_network(path, stored: dict, current: dict) -> None:
    """Compare parameter names and shapes before Lightning's load_state_dict gives a page of them."""
    missing = sorted(set(current) - set(stored))
    unexpected = sorted(set(stored) - set(current))
    shapes = [k for k in set(stored) & set(current) if tuple(stored[k].shape) != tuple(current[k].shape)]
    if missing or unexpected or shapes:
        details = []
        if missing:
            details.append(f"{len(missing)} parameter(s) missing, e.g. {missing[0]}")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]}")
        if shapes:
            k = sorted(shapes)[0]
            details.append(
                f"{len(shapes)} of another shape, e.g. {k} {tuple(stored[k].shape)} vs {tuple(current[k].shape)}"
            )
        raise _run_folder.CheckpointError(
            f"checkpoint {path} is of another model than the configured network ({'; '.join(details)}): "
            "use the config the checkpoint was trained with"
        )


def check_config_files(args: list[str]) -> None:
    """Each ``--config FILE`` must be a readable UTF-8 YAML mapping; the error names the file."""
    items = iter(args)
    for item in items:
        if item == "--config":
            path = next(items, None)
        elif item.startswith("--config="):
            path = item.partition("=")[2]
        else:
            continue
        if path is None or path.lstrip().startswith("{"):
            continue  # no value (jsonargparse says so) or an inline YAML mapping
        file = Path(path)
        if file.is_dir():
            raise IsADirectoryError(21, "Is a directory", f"--config {path}")
        if not file.exists():
            raise FileNotFoundError(2, "No such file", f"--config {path}")
        try:
            loaded = yaml.safe_load(file.read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"config {path} is not a UTF-8 text file") from None
        except yaml.YAMLError as err:
            raise ValueError(f"config {path} is not valid YAML: {' '.join(str(err).split())}") from None
        if not isinstance(loaded, dict):
            got = "empty" if loaded is None else f"a {type(loaded).__name__}"
            raise ValueError(
                f"config {path} must be a YAML mapping of sections (trainer:, model:, data:, ...); it is {got}"
            )


def run_lightning(args: list[str] | None) -> None:
    if args is not None:
        # Called from Python with explicit arguments: present them as the command line, so that LightningCLI does not
        # warn about mixing the two and a DDP launcher, which re-executes sys.argv, starts its workers with them.
        saved, sys.argv = sys.argv, [sys.argv[0] or "sphere-study", *args]
        try:
            return run_lightning(None)
        finally:
            sys.argv = saved
    SphereStudyCLI(
        SphericalTask,
        SphericalDataModule,
        subclass_mode_model=True,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": "sphere-study: equivariance versus augmentation on spherical images"},
        auto_configure_optimizers=False,
    )


class _ParseOnlyCLI(SphereStudyCLI):
    """Parses and checks a command line like ``fit``, builds and runs nothing."""

    def _set_seed(self) -> None:
        pass

    def _add_instantiators(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass

    def _run_subcommand(self, subcommand: str) -> None:
        pass


def _parse_fit_command(args: list[str], stderr=None, cli: _ParseOnlyCLI | None = None) -> _ParseOnlyCLI:
    """Parse one ``fit`` argument list (without ``fit``) as ``sphere-study fit`` would; raises on a bad one (a
    ``SystemExit`` after jsonargparse printed the error to ``stderr``, default: discarded).

    With ``cli`` (from an earlier call) its parser parses the new arguments: building the parser is most of the
    time of a parse (a second per point on 2 cores), and a sweep parses every point; the configs are the same.
    """
    import contextlib
    import io

    check_config_files(args)
    rest, network_sets = _split_network_flags(args)
    with contextlib.redirect_stderr(stderr or io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        if cli is None:
            cli = _ParseOnlyCLI(
                SphericalTask,
                SphericalDataModule,
                subclass_mode_model=True,
                args=["fit", *rest],
                parser_kwargs={"exit_on_error": False},
                auto_configure_optimizers=False,
            )
        else:  # what LightningCLI.__init__ does after building its parser
            cli.parse_arguments(cli.parser, ["fit", *rest])
            cli._parse_ckpt_path()
    if network_sets:
        config = cli.config["fit"]
        config["model.init_args.network"] = _merge_network(config["model.init_args.network"], network_sets)
    return cli


def resolve_fit_commands(commands: list[list[str]]) -> list[tuple[object | None, str | None]]:
    """For each ``fit`` argument list (without ``fit``): ``(resolved config, None)`` if it parses, else
    ``(None, error)`` (one line).

    The config is the jsonargparse namespace of the ``fit`` subcommand, with every default filled in and the
    network flags merged: exactly what ``sphere-study fit`` would run (``config.data.batch_size``,
    ``config.trainer.max_epochs``, ``config.model.init_args.network``, ...). Nothing is built.
    """
    import io

    resolved: list[tuple[object | None, str | None]] = []
    cli = None  # one parser for every command (see _parse_fit_command)
    for args in commands:
        stderr = io.StringIO()
        try:
            cli = _parse_fit_command(args, stderr, cli)
            resolved.append((cli.config["fit"], None))
        except SystemExit:
            lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
            resolved.append((None, lines[-1] if lines else "the fit command line does not parse"))
        except Exception as err:  # jsonargparse's ArgumentError and our ValueErrors: the message names the key
            from .cli import error_line

            resolved.append((None, error_line(err)[:500]))
    return resolved


def check_fit_commands(commands: list[list[str]]) -> list[str | None]:
    """For each ``fit`` argument list (without ``fit``): None if it parses, else the error (one line).

    The config files, every key and every value type are checked as ``sphere-study fit`` would, without building
    the model or the data (what a sweep checks before it launches a point).
    """
    return [error for _, error in resolve_fit_commands(commands)]


def instantiate_fit_command(args: list[str]):
    """The ``(task, datamodule)`` that ``sphere-study fit ARGS`` would train, built from its resolved config (the
    data's ``num_classes``/``in_channels`` linked into the network), without preparing any data or starting a
    trainer; for measuring what a training step costs (:mod:`sphere_study.cost`)."""
    cli = _parse_fit_command(args)
    init = cli._parser("fit").instantiate_classes(cli.config["fit"])
    return init.model, init.data
