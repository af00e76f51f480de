r"""Make the numeric fixture that ``tests/compat`` checks ``sphere_study.compat.s2cnn`` against: the original s2cnn's
own weights, inputs and outputs.

The original is not part of this repository (never copy its code here). Get its public source and patch it for CPU
and current torch, in a folder outside the repository:

* jonkhler/s2cnn: ``np.float`` -> ``float`` in ``s2cnn/s2_grid.py`` and ``s2cnn/so3_grid.py``; in the CPU path of
  ``so3_rfft`` (``s2cnn/soft/so3_fft.py``) use the full ``torch.fft.fftn`` of the zero-imaginary complex signal
  instead of ``rfftn`` (the code reads negative orders). ``collections.Iterable`` is restored here.
* optionally JanEGerken/sem_seg_s2cnn (Gerken et al.'s fork) for ``SO3ToS2`` and ``so3_sum_n``: only its files
  ``s2cnn/soft/so3_to_s2.py``, ``s2cnn/so3_sum_n.py`` and ``complex_sum`` of ``s2cnn/utils/complex.py`` are loaded,
  on top of the original package above (they need no patch).

Then, from the repository root::

    python scripts/make_s2cnn_fixture.py --s2cnn-src /path/to/s2cnn --gerken-src /path/to/sem_seg_s2cnn

It writes ``tests/compat/fixtures/s2cnn_fixture.pt`` (about 0.4 MB) and works in a temporary folder (s2cnn writes its
Wigner caches into the working directory). What it holds, for float64 and float32 runs of the original:

* layers at small bandwidths (S2Convolution, SO3Convolution down and up in bandwidth, SO3Shortcut, SO3ToS2): the
  constructor arguments, the seed each was built under, its ``state_dict`` (float32, as the original makes it), an
  input and the output;
* Cohen et al.'s ``S2ConvNet_original`` (examples/mnist/run.py: S2Convolution 1->20 channels, 24 points, b -> 10;
  SO3Convolution 20->40, 192 points, b 10 -> 6; so3_integrate; Linear 40->10) at input bandwidth 10: its weights,
  rounded to float16 so that they are stored at half the size and still exact in float32/float64, an input batch and
  the logits;
* the public functions (transforms with and without ``for_grad``, ``s2_rft``, ``so3_rft``, ``s2_mm``, ``so3_mm``,
  ``so3_sum_n``, ``so3_integrate``, ``so3_rotation``) on small inputs, and the original's grids.

The original computes in float32 only (its Wigner tables are float32); for the float64 run this script replaces its
table builders (``_setup_wigner``, ``_setup_s2_ft``, ``_setup_so3_ft``, ``_setup_so3_integrate``,
``_setup_so3_rotation``) by float64 ones built from the same lie_learn calls, in memory. Nothing else is changed.
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import contextlib
import functools
import importlib
import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "compat" / "fixtures" / "s2cnn_fixture.pt"
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def import_original(src: Path, gerken: Path | None):
    """The original ``s2cnn`` package from ``src`` (plus Gerken et al.'s SO3ToS2 / so3_sum_n from ``gerken``)."""
    if not hasattr(collections, "Iterable"):
        collections.Iterable = collections.abc.Iterable  # lie_learn 0.0.2 on Python >= 3.10
    sys.path.insert(0, str(src))
    import s2cnn

    if Path(s2cnn.__file__).resolve().parents[1] != src.resolve():
        raise SystemExit(f"imported s2cnn from {s2cnn.__file__}, not from --s2cnn-src {src}")
    if gerken is not None:
        utils_complex = importlib.import_module("s2cnn.utils.complex")
        fork_complex = _load(gerken / "s2cnn" / "utils" / "complex.py", "_gerken_complex")
        utils_complex.complex_sum = fork_complex.complex_sum
        s2cnn.so3_sum_n = _load(gerken / "s2cnn" / "so3_sum_n.py", "s2cnn.so3_sum_n").so3_sum_n
        s2cnn.SO3ToS2 = _load(gerken / "s2cnn" / "soft" / "so3_to_s2.py", "s2cnn.soft.so3_to_s2").SO3ToS2
    return s2cnn


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def use_table_dtype(dtype: torch.dtype) -> None:
    """Make the original build its Wigner / Fourier / quadrature tables in ``dtype`` (it hard-codes float32)."""
    so3_fft = importlib.import_module("s2cnn.soft.so3_fft")
    s2_fft = importlib.import_module("s2cnn.soft.s2_fft")
    s2_ft = importlib.import_module("s2cnn.s2_ft")
    so3_ft = importlib.import_module("s2cnn.so3_ft")
    integrate = importlib.import_module("s2cnn.soft.so3_integrate")
    rotation = importlib.import_module("s2cnn.soft.so3_rotation")
    tensor = functools.partial(torch.tensor, dtype=dtype)

    def wigner(builder):
        return functools.lru_cache(maxsize=32)(
            lambda b, nl, weighted, device: tensor(np.real(builder(b, nl, weighted)), device=device).contiguous()
        )

    so3_fft._setup_wigner = wigner(so3_fft._setup_so3_fft)
    s2_fft._setup_wigner = wigner(s2_fft._setup_s2_fft)
    s2_builder, so3_builder = getattr(s2_ft, "__setup_s2_ft"), getattr(so3_ft, "__setup_so3_ft")
    s2_ft._setup_s2_ft = functools.lru_cache(maxsize=32)(
        lambda b, grid, device_type, device_index: tensor(s2_builder(b, grid), device=device_type)
    )
    so3_ft._setup_so3_ft = functools.lru_cache(maxsize=32)(
        lambda b, grid, device_type, device_index: tensor(so3_builder(b, grid), device=device_type)
    )

    import lie_learn.spaces.S3 as S3
    from lie_learn.representations.SO3.wigner_d import wigner_D_matrix

    integrate._setup_so3_integrate = functools.lru_cache(maxsize=32)(
        lambda b, device_type, device_index: tensor(S3.quadrature_weights(b), device=device_type)
    )

    def rotation_tables(b, alpha, beta, gamma, device_type, device_index):
        # As the original's __setup_so3_rotation, without its cast to complex64.
        convention = dict(field="complex", normalization="quantum", order="centered", condon_shortley="cs")
        Us = [np.asarray(wigner_D_matrix(l, alpha, beta, gamma, **convention), dtype=np.complex128) for l in range(b)]
        return [
            tensor(U.view(np.float64).reshape(2 * l + 1, 2 * l + 1, 2), device=device_type) for l, U in enumerate(Us)
        ]

    rotation._setup_so3_rotation = functools.lru_cache(maxsize=32)(rotation_tables)


def s2convnet_original(s2cnn, b_in: int) -> nn.Module:
    """Cohen et al.'s ``S2ConvNet_original`` (s2cnn examples/mnist/run.py) with input bandwidth ``b_in``."""

    class S2ConvNet_original(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = s2cnn.S2Convolution(1, 20, b_in, 10, s2cnn.s2_near_identity_grid())
            self.conv2 = s2cnn.SO3Convolution(20, 40, 10, 6, s2cnn.so3_near_identity_grid())
            self.out_layer = nn.Linear(40, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            return self.out_layer(s2cnn.so3_integrate(x))

    return S2ConvNet_original()


def plain(grid) -> tuple:
    """An s2cnn grid (tuples of numpy floats) as tuples of Python floats (loadable with ``weights_only=True``)."""
    return tuple(tuple(float(v) for v in point) for point in grid)


def layer_cases(s2cnn, gerken: bool) -> dict:
    """name -> (class name, constructor kwargs, input shape). Small bandwidths; several rings and channels."""
    s2_grid = plain(s2cnn.s2_near_identity_grid(n_alpha=4, n_beta=2))
    so3_grid = plain(s2cnn.so3_near_identity_grid(n_alpha=4, n_beta=2, n_gamma=3))
    cases = {
        "S2Convolution": (
            "S2Convolution",
            dict(nfeature_in=2, nfeature_out=3, b_in=6, b_out=4, grid=s2_grid),
            (1, 2, 12, 12),
        ),
        "SO3Convolution": (
            "SO3Convolution",
            dict(nfeature_in=3, nfeature_out=2, b_in=4, b_out=3, grid=so3_grid),
            (1, 3, 8, 8, 8),
        ),
        # b_out > b_in: the original keeps aliased degrees >= b_in; the test compares the degrees below b_in.
        "SO3Convolution_up": (
            "SO3Convolution",
            dict(nfeature_in=2, nfeature_out=2, b_in=3, b_out=4, grid=so3_grid),
            (1, 2, 6, 6, 6),
        ),
        "SO3Shortcut": ("SO3Shortcut", dict(nfeature_in=3, nfeature_out=2, b_in=4, b_out=3), (1, 3, 8, 8, 8)),
    }
    if gerken:
        cases["SO3ToS2"] = (
            "SO3ToS2",
            dict(nfeature_in=3, nfeature_out=2, b_in=4, b_out=3, grid=so3_grid),
            (1, 3, 8, 8, 8),
        )
    return cases


def function_cases(s2cnn, gen: torch.Generator, gerken: bool) -> dict:
    """name -> (module, function, args, kwargs); tensor arguments float64 (cast to each run's dtype)."""

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    so3_grid = plain(s2cnn.so3_near_identity_grid(n_alpha=4, n_beta=2, n_gamma=3))
    s2_grid = plain(s2cnn.s2_near_identity_grid(n_alpha=4, n_beta=2))
    fft, s2 = "s2cnn.soft.so3_fft", "s2cnn.soft.s2_fft"
    cases = {
        "so3_rfft": (fft, "so3_rfft", (randn(2, 8, 8, 8),), dict(b_out=3)),
        "so3_rfft_for_grad": (fft, "so3_rfft", (randn(2, 8, 8, 8),), dict(for_grad=True)),
        "so3_fft": (fft, "so3_fft", (randn(8, 8, 8, 2),), {}),
        "so3_ifft": (fft, "so3_ifft", (randn(35, 2),), dict(b_out=4)),
        "so3_ifft_for_grad": (fft, "so3_ifft", (randn(35, 2),), dict(for_grad=True, b_out=4)),
        "so3_rifft": (fft, "so3_rifft", (randn(84, 2, 2),), dict(b_out=3)),
        "s2_fft": (s2, "s2_fft", (randn(2, 8, 8, 2),), dict(b_out=3)),
        "s2_fft_for_grad": (s2, "s2_fft", (randn(2, 8, 8, 2),), dict(for_grad=True)),
        "s2_ifft": (s2, "s2_ifft", (randn(9, 2, 2),), dict(b_out=4)),
        "s2_ifft_for_grad": (s2, "s2_ifft", (randn(9, 2, 2),), dict(for_grad=True, b_out=4)),
        "s2_rft": ("s2cnn", "s2_rft", (randn(3, len(s2_grid)), 4, s2_grid), {}),
        "so3_rft": ("s2cnn", "so3_rft", (randn(3, len(so3_grid)), 3, so3_grid), {}),
        "s2_mm": ("s2cnn", "s2_mm", (randn(16, 2, 3, 2), randn(16, 3, 2, 2)), {}),
        "so3_mm": ("s2cnn", "so3_mm", (randn(35, 2, 3, 2), randn(35, 3, 2, 2)), {}),
        "so3_integrate": ("s2cnn", "so3_integrate", (randn(3, 8, 8, 8),), {}),
        "so3_rotation": ("s2cnn", "so3_rotation", (randn(8, 8, 8), 0.3, 1.1, -0.7), {}),
    }
    if gerken:
        cases["so3_sum_n"] = ("s2cnn", "so3_sum_n", (randn(35, 2, 3, 2),), {})
    return cases


def original_grids(s2cnn) -> dict:
    calls = {
        "s2_near_identity_grid": (s2cnn.s2_near_identity_grid, {}),
        "s2_near_identity_grid_small": (s2cnn.s2_near_identity_grid, dict(max_beta=math.pi / 16, n_alpha=6, n_beta=1)),
        "s2_equatorial_grid": (s2cnn.s2_equatorial_grid, {}),
        "s2_soft_grid": (s2cnn.s2_soft_grid, dict(b=3)),
        "so3_near_identity_grid": (s2cnn.so3_near_identity_grid, {}),
        "so3_near_identity_grid_small": (
            s2cnn.so3_near_identity_grid,
            dict(n_alpha=6, max_beta=math.pi / 8, n_beta=1, max_gamma=2 * math.pi, n_gamma=6),
        ),
        "so3_equatorial_grid": (s2cnn.so3_equatorial_grid, {}),
        "so3_equatorial_grid_shrec": (
            s2cnn.so3_equatorial_grid,
            dict(max_beta=0, max_gamma=0, n_alpha=32, n_beta=1, n_gamma=1),
        ),
        "so3_soft_grid": (s2cnn.so3_soft_grid, dict(b=2)),
    }
    return {
        name: dict(kwargs=kw, points=torch.tensor(fn(**kw), dtype=torch.float64)) for name, (fn, kw) in calls.items()
    }


def original_class(s2cnn, name: str):
    """A layer class of the original (SO3Shortcut is not exported at its top level)."""
    return getattr(s2cnn, name, None) or getattr(importlib.import_module("s2cnn.soft.so3_conv"), name)


def _as(value, dtype):
    return value.to(dtype) if isinstance(value, torch.Tensor) else value


def _half_exact_(module: nn.Module) -> None:
    """Round every parameter to a float16-representable value (exact again in float32 / float64)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


def make_fixture(s2cnn, gerken: bool, network_b: int) -> dict:
    fixture = {"meta": {"source": "original s2cnn (jonkhler/s2cnn)", "network_b_in": network_b, "gerken": gerken}}
    gen = torch.Generator().manual_seed(1234)

    layers = {}
    for i, (name, (cls_name, kwargs, shape)) in enumerate(layer_cases(s2cnn, gerken).items()):
        seed = 100 + i
        torch.manual_seed(seed)
        layer = original_class(s2cnn, cls_name)(**kwargs)
        x = torch.randn(*shape, generator=gen, dtype=torch.float64)
        scaling = (layer.conv if cls_name == "SO3Shortcut" else layer).scaling
        layers[name] = dict(
            cls=cls_name, kwargs=kwargs, seed=seed, scaling=scaling, state_dict=layer.state_dict(), input=x, output={}
        )
    torch.manual_seed(7)
    net = s2convnet_original(s2cnn, network_b)
    _half_exact_(net)
    net_input = torch.rand(2, 1, 2 * network_b, 2 * network_b, generator=gen, dtype=torch.float64)
    network = dict(
        seed=7,
        state_dict={k: v.half() for k, v in net.state_dict().items()},
        input=net_input,
        output={},
    )
    functions = {
        name: dict(module=module, name=fn, args=args, kwargs=kwargs, output={})
        for name, (module, fn, args, kwargs) in function_cases(s2cnn, gen, gerken).items()
    }

    for dname, dtype in DTYPES.items():
        use_table_dtype(dtype)
        with torch.no_grad():
            for case in layers.values():
                torch.manual_seed(case["seed"])
                layer = original_class(s2cnn, case["cls"])(**case["kwargs"])
                layer.load_state_dict(case["state_dict"])
                case["output"][dname] = layer.to(dtype)(case["input"].to(dtype))
            net.to(dtype)
            network["output"][dname] = net(net_input.to(dtype))
            for case in functions.values():
                fn = getattr(importlib.import_module(case["module"]), case["name"])
                case["output"][dname] = fn(*(_as(a, dtype) for a in case["args"]), **case["kwargs"]).contiguous()
        print(f"{dname}: {len(layers)} layers, the network, {len(functions)} functions")
    fixture.update(layers=layers, network=network, functions=functions, grids=original_grids(s2cnn))
    return fixture


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--s2cnn-src", type=Path, required=True, help="folder holding the patched original s2cnn/")
    parser.add_argument("--gerken-src", type=Path, help="folder of Gerken et al.'s fork (for SO3ToS2, so3_sum_n)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--network-b", type=int, default=10, help="input bandwidth of S2ConvNet_original (8-10)")
    args = parser.parse_args(argv)
    src = args.s2cnn_src.resolve()
    gerken = args.gerken_src.resolve() if args.gerken_src else None
    out = args.out.resolve()
    if not (src / "s2cnn" / "__init__.py").exists():
        parser.error(f"--s2cnn-src {src} has no s2cnn/__init__.py")
    if gerken is not None and not (gerken / "s2cnn" / "soft" / "so3_to_s2.py").exists():
        parser.error(f"--gerken-src {gerken} has no s2cnn/soft/so3_to_s2.py")
    with tempfile.TemporaryDirectory() as work, contextlib.chdir(work):  # s2cnn caches Wigner tables in the CWD
        s2cnn = import_original(src, gerken)
        fixture = make_fixture(s2cnn, gerken is not None, args.network_b)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(fixture, tmp)
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
