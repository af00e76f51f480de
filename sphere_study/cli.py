r"""The ``sphere-study`` command: ``fit`` / ``validate`` / ``test`` / ``predict`` (LightningCLI), ``sweep``, ``plot``.

.. code-block:: bash

    sphere-study fit --config configs/quick.yaml                    # train, then test; results.json in the run folder
    sphere-study fit --config configs/segmentation/s2cnn.yaml --data.source mnist --data.root ~/data/mnist
    sphere-study fit --config configs/quick.yaml --ckpt_path last   # resume an interrupted run
    sphere-study test --config configs/quick.yaml --ckpt_path runs/quick/checkpoints/last.ckpt
    sphere-study fit --config configs/quick.yaml --print_config     # the full resolved configuration
    sphere-study sweep --config configs/sweeps/quick.yaml
    sphere-study plot runs/sweeps/quick

This module stays light (no torch, no Lightning): ``sphere-study --help``, ``sweep --help`` and ``plot --help``
answer at once, and the LightningCLI (:mod:`sphere_study._lightning_cli`) is imported only for the training
subcommands. Errors a user can fix (bad config, missing data, unwritable folders, a corrupt or mismatched checkpoint,
a misconfigured trainer) are printed as one line naming the problem, exit status 2; ``SPHERE_STUDY_DEBUG=1`` shows
the traceback.
"""

from __future__ import annotations

import os
import pickle
import re
import sys

__all__ = ["SphereStudyCLI", "main", "TOP_HELP"]  # noqa: F822  (SphereStudyCLI: lazily, see __getattr__)

TRAINING_SUBCOMMANDS = ("fit", "validate", "test", "predict")

TOP_HELP = """\
usage: sphere-study SUBCOMMAND [options]   (sphere-study SUBCOMMAND --help for each one's options)

sphere-study: rotation equivariance versus data augmentation on spherical images (S2CNN vs planar CNNs).

subcommands:
  fit        train a model and test its best checkpoint; the run folder gets checkpoints/ and results.json
  validate   evaluate a checkpoint on the validation split
  test       evaluate a checkpoint on the test split(s); writes test_results.json
  predict    run a checkpoint on the test inputs
  sweep      run a grid of fits from a sweep file (resumable, parallel, or as wandb sweeps)
  plot       figures and tables from finished runs (the results.json files under a folder)

the three journeys:
  one run      sphere-study fit --config configs/quick.yaml
               sphere-study fit --config configs/quick.yaml --ckpt_path last      (resume it after an interruption)
  a study      sphere-study sweep --config configs/sweeps/quick.yaml --dry-run    (the points and their cost first)
               sphere-study sweep --config configs/sweeps/quick.yaml
  the figures  sphere-study plot runs/sweeps/quick --out runs/sweeps/quick/plots

Every config key is also a --section.key flag (sphere-study fit --config FILE --print_config shows them all).
Set SPHERE_STUDY_DEBUG=1 for full tracebacks instead of one-line errors.
"""


def __getattr__(name: str):
    if name == "SphereStudyCLI":  # the LightningCLI subclass, imported on first use
        from ._lightning_cli import SphereStudyCLI

        return SphereStudyCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is the whole story: printed as one line, without a traceback."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    return (ValueError, OSError, MisconfigurationException, pickle.UnpicklingError, UnicodeDecodeError)


def error_line(err: BaseException) -> str:
    """One line naming the problem: OSErrors as ``what: the file``, others as their message (first line)."""
    if isinstance(err, OSError) and err.strerror and err.filename:
        kind = {
            PermissionError: "permission denied",
            IsADirectoryError: "a folder is where a file should be",
            NotADirectoryError: "a file is where a folder should be",
            FileExistsError: "already exists",
            FileNotFoundError: "no such file or folder",
        }.get(type(err), err.strerror)
        return f"{kind}: {err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
    text = str(err).strip() or type(err).__name__
    # jsonargparse wraps an error raised while building the task (an unknown network, a bad layer argument) in a
    # union-validation dump of the whole model namespace; the message of the build error is the story.
    inner = re.search(r"Union subtypes.*?Errors:\s*-\s*(.*?)\s*-\s*Expected a <class 'NoneType'>", text, re.S)
    if inner:
        text = f"model: {inner.group(1)}"
    if type(err).__name__ == "MisconfigurationException":
        text = f"trainer misconfigured: {text}"
    return " ".join(text.split()) if len(text) < 2000 else text.splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``sphere-study`` and ``python -m sphere_study``."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "sweep":
        from .sweep import sweep_main

        return sweep_main(args[1:])
    if args and args[0] == "plot":
        from .plots import plot_main

        return plot_main(args[1:])
    if not args or args[0] in ("-h", "--help"):
        print(TOP_HELP, end="")
        return 0 if args else 2
    if args[0] not in TRAINING_SUBCOMMANDS and not args[0].startswith("-"):
        print(f"sphere-study: error: unknown subcommand {args[0]!r}\n\n{TOP_HELP}", end="", file=sys.stderr)
        return 2
    from ._allocator import keep_freed_memory
    from ._lightning_cli import check_config_files, run_lightning

    keep_freed_memory()  # a quarter of a CPU training step was page faults; see sphere_study._allocator
    try:
        check_config_files(args)
        run_lightning(None if argv is None else args)
    except _user_errors() as e:
        if os.environ.get("SPHERE_STUDY_DEBUG"):
            raise
        print(f"sphere-study: error: {error_line(e)}", file=sys.stderr)
        print("(set SPHERE_STUDY_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 2
    finally:
        _finish_wandb()
    return 0


def _finish_wandb() -> None:
    """Close this invocation's wandb run, so that the next one in the same process starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


if __name__ == "__main__":
    sys.exit(main())
