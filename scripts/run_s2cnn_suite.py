r"""Run the original s2cnn's own tests and examples on the drop-in ``sphere_study.compat.s2cnn``, next to the original.

Each side runs in its own subprocess and temporary folder, with ``import s2cnn`` resolving to the original (from
``--s2cnn-src``, patched for CPU and current torch as ``tests/compat/fixtures/README.md`` says) or to the drop-in
(:func:`sphere_study.compat.s2cnn.register_as_s2cnn`). Nothing of s2cnn is copied; its files are executed where they
are. Per item:

* ``tests/so3_fft.py``: executed statement by statement; each top-level test call is one outcome (``pass``,
  ``fail: <error>``, or ``cuda only`` for the blocks that need a GPU).
* ``examples/fast_ft/main.py``, ``examples/equivariance_error/main.py`` (its printed relative error) and, with
  ``--heavy``, ``examples/equivariance_plot/main.py`` (b = 64): run as scripts.
* The example models (mnist ``S2ConvNet_original`` and ``S2ConvNet_deep`` at b = 30, shrec17 ``model.py`` at b = 64
  and ``model_original.py`` at b = 128, the molecules ``S2CNNRegressor``): built from the example files under one seed,
  parameter count, output shape, loss, one Adam step, loss again. The original saves its ``state_dict`` and batch;
  the drop-in loads that ``state_dict`` with ``strict=True`` and reports the relative difference of its outputs and
  of the gradients (all parameters, relative 2-norm) and of the loss after the step (a weak check: Adam's first step
  is about lr * sign(gradient), so it magnifies rounding in near-zero gradients).

    python scripts/run_s2cnn_suite.py --s2cnn-src /path/to/s2cnn --out scripts/results/s2cnn_suite.json
"""

from __future__ import annotations

import argparse
import ast
import collections
import collections.abc
import contextlib
import importlib.util
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def _short(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]


def _is_cuda_error(err: BaseException) -> bool:
    text = str(err).lower()
    return "cuda" in text or "nvidia" in text


def run_test_file(path: Path) -> list[dict]:
    """Execute an s2cnn test script statement by statement; one outcome per top-level call, if or for block."""
    source = path.read_text()
    namespace = {"__name__": "__main__", "__file__": str(path)}
    outcomes = []
    for stmt in ast.parse(source).body:
        code = compile(ast.Module([stmt], type_ignores=[]), str(path), "exec")
        label = ast.get_source_segment(source, stmt).splitlines()[0]
        recorded = isinstance(stmt, (ast.Expr, ast.If, ast.For))
        if isinstance(stmt, ast.If) and "cuda.is_available" in label and not torch.cuda.is_available():
            outcomes.append(dict(test=label, line=stmt.lineno, outcome="cuda only (no GPU here)"))
            continue
        try:
            exec(code, namespace)
            if recorded:
                outcomes.append(dict(test=label, line=stmt.lineno, outcome="pass"))
        except Exception as err:  # noqa: BLE001 - an outcome to report, not to handle
            cuda = _is_cuda_error(err) and not torch.cuda.is_available()
            outcome = "cuda only (no GPU here): " if cuda else "fail: "
            outcomes.append(dict(test=label, line=stmt.lineno, outcome=outcome + _short(err)))
    return outcomes


def run_script(path: Path, workdir: Path) -> dict:
    """Run an example script as ``__main__`` in ``workdir``; its outcome and the last line it printed."""
    out = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(path), run_name="__main__")
        outcome = "pass"
    except Exception as err:  # noqa: BLE001
        outcome = "fail: " + _short(err)
        traceback.print_exc()
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    return dict(outcome=outcome, printed=lines[-1] if lines else "", seconds=round(time.perf_counter() - start, 1))


def _load(path: Path, name: str):
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path.remove(str(path.parent))
    return module


def example_models(src: Path) -> dict:
    """name -> (build, make batch, loss). Batches are random tensors of the examples' shapes."""
    ex = src / "examples"

    def mnist(cls):
        return lambda: getattr(_load(ex / "mnist" / "run.py", "s2cnn_mnist_run"), cls)()

    def shrec(file):
        return lambda: _load(ex / "shrec17" / file, f"s2cnn_shrec_{file[:-3]}").Model(55)

    def molecules():
        return _load(ex / "molecules" / "s2cnn_model.py", "s2cnn_molecules").S2CNNRegressor()

    def images(b, channels, classes):
        def batch(gen):
            x = torch.rand(2, channels, 2 * b, 2 * b, generator=gen)
            return (x,), torch.randint(0, classes, (2,), generator=gen)

        return batch

    def molecule_batch(gen):
        x = torch.rand(2, 23, 5, 20, 20, generator=gen)
        atom_types = torch.randint(0, 6, (2, 23), generator=gen)
        return (x, atom_types), torch.randn(2, 1, generator=gen)

    ce, nll, mse = F.cross_entropy, F.nll_loss, F.mse_loss
    return {
        "mnist S2ConvNet_original (b=30)": (mnist("S2ConvNet_original"), images(30, 1, 10), ce),
        "mnist S2ConvNet_deep (b=30)": (mnist("S2ConvNet_deep"), images(30, 1, 10), ce),
        "shrec17 model.py (b=64)": (shrec("model.py"), images(64, 6, 55), nll),
        "shrec17 model_original.py (b=128)": (shrec("model_original.py"), images(128, 6, 55), nll),
        "molecules S2CNNRegressor (b=10)": (molecules, molecule_batch, mse),
    }


def run_models(src: Path, role: str, store: Path) -> dict:
    results = {}
    for i, (name, (build, make_batch, loss_fn)) in enumerate(example_models(src).items()):
        path = store / f"model{i}.pt"
        start = time.perf_counter()
        try:
            torch.manual_seed(0)
            model = build()
            if role == "original":
                inputs, target = make_batch(torch.Generator().manual_seed(i))
                state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                saved = torch.load(path, weights_only=True)
                inputs, target, state = saved["inputs"], saved["target"], saved["state_dict"]
                model.load_state_dict(state, strict=True)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            out = model(*inputs)
            loss = loss_fn(out, target)
            optimizer.zero_grad()
            loss.backward()
            grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
            optimizer.step()
            with torch.no_grad():
                loss_after = float(loss_fn(model(*inputs), target))
            row = dict(
                outcome="pass",
                parameters=sum(p.numel() for p in model.parameters()),
                output_shape=list(out.shape),
                loss=loss.item(),
                loss_after_step=loss_after,
            )
            if role == "original":
                torch.save(
                    dict(inputs=inputs, target=target, state_dict=state, output=out.detach(), grads=grads, **row), path
                )
            else:
                ref = torch.load(path, weights_only=True)
                row["relative_output_error"] = float(
                    (out.detach() - ref["output"]).abs().max() / ref["output"].abs().max()
                )
                # The gradients themselves: the loss after one Adam step is a weak check of them, because Adam's
                # first step is about lr * sign(gradient) and so amplifies rounding in gradients that are ~0.
                names = sorted(ref["grads"])
                if sorted(grads) != names:
                    raise AssertionError(f"gradients of other parameters: {sorted(set(grads) ^ set(names))}")
                diff = torch.cat([(grads[n] - ref["grads"][n]).reshape(-1) for n in names])
                norm = torch.cat([ref["grads"][n].reshape(-1) for n in names])
                row["relative_gradient_error"] = float(diff.norm() / norm.norm())
                row["relative_loss_after_step_error"] = abs(loss_after - ref["loss_after_step"]) / abs(
                    ref["loss_after_step"]
                )
                row["same_parameter_count"] = row["parameters"] == ref["parameters"]
        except Exception as err:  # noqa: BLE001
            traceback.print_exc()
            row = dict(outcome="fail: " + _short(err))
        row["seconds"] = round(time.perf_counter() - start, 1)
        results[name] = row
        print(role, name, row, flush=True)
    return results


def run_role(role: str, src: Path, store: Path, heavy: bool) -> dict:
    if not hasattr(collections, "Iterable"):
        collections.Iterable = collections.abc.Iterable  # lie_learn 0.0.2, for the original and the tests
    if role == "original":
        sys.path.insert(0, str(src))
    else:
        sys.path.insert(0, str(ROOT))
        import sphere_study.compat.s2cnn as dropin

        dropin.register_as_s2cnn()
    import s2cnn

    report = dict(s2cnn=str(Path(s2cnn.__file__).resolve()), cuda=torch.cuda.is_available())
    report["tests/so3_fft.py"] = run_test_file(src / "tests" / "so3_fft.py")
    scripts = ["fast_ft/main.py", "equivariance_error/main.py"] + (["equivariance_plot/main.py"] if heavy else [])
    for script in scripts:
        path = src / "examples" / script
        for asset in path.parent.glob("*.jpg"):
            shutil.copy(asset, Path.cwd())
        report[f"examples/{script}"] = run_script(path, Path.cwd())
    report["example models"] = run_models(src, role, store)
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--s2cnn-src", type=Path, required=True, help="folder holding the patched original s2cnn/")
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "results" / "s2cnn_suite.json")
    parser.add_argument("--heavy", action="store_true", help="also run examples/equivariance_plot (b = 64)")
    parser.add_argument("--role", choices=["original", "dropin"], help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    src = args.s2cnn_src.resolve()
    if args.role:  # one side, in its own process and folder
        with tempfile.TemporaryDirectory() as work, contextlib.chdir(work):
            report = run_role(args.role, src, args.store, args.heavy)
        (args.store / f"{args.role}.json").write_text(json.dumps(report, indent=1))
        return
    if not (src / "s2cnn" / "__init__.py").exists():
        parser.error(f"--s2cnn-src {src} has no s2cnn/__init__.py")
    with tempfile.TemporaryDirectory() as store:
        for role in ("original", "dropin"):
            cmd = [sys.executable, __file__, "--s2cnn-src", str(src), "--role", role, "--store", store]
            subprocess.run(cmd + (["--heavy"] if args.heavy else []), check=True, env=dict(os.environ, PYTHONPATH=""))
        report = {role: json.loads((Path(store) / f"{role}.json").read_text()) for role in ("original", "dropin")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
