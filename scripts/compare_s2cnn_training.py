"""Train Cohen et al.'s MNIST S2CNN side by side: the original s2cnn code vs sphere-study, on identical tensors.

Both runs see the same data (the real MNIST test set split 7000 / 1000 / 2000 by ``split_test_set``, b = 30, trained
unrotated, tested on the rotated test split), the same batch order (a generator seeded by the seed), the same optimizer
(Adam, lr 5e-3, batch 32, Cohen et al.'s settings) and the same number of steps; each builds its network under
``torch.manual_seed(seed)`` with its own initialisation. After every epoch the rotated-test accuracy is recorded.

The original is not part of this repository: pass the folder of its public source (jonkhler/s2cnn), patched for CPU and
current torch as ``shared/DESIGN.md`` describes (``np.float`` -> ``float`` in the grid files, full ``fftn`` in the CPU
path of ``so3_rfft``); ``collections.Iterable`` is restored here. Run it from a temp folder: s2cnn writes its Wigner
caches into the working directory.

    python scripts/compare_s2cnn_training.py --impl ours --seeds 0 1 2 --out scripts/results/compare_s2cnn_ours.json
    python scripts/compare_s2cnn_training.py --impl original --s2cnn-src /tmp/s2cnn --seeds 0 1 2 --out orig.json

``--input-scaling byte`` feeds pixels 0-255 (what Cohen et al.'s training script does) instead of 0-1;
``standardize`` uses the training set's pixel mean and std (the data module's ``input_scaling`` option).
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def load_data(root: str, bandwidth: int, input_scaling: str):
    from sphere_study.data import SphericalDataModule

    dm = SphericalDataModule(
        source="mnist",
        root=root,
        split_test_set=True,
        bandwidth=bandwidth,
        rotate_train=False,
        rotate_test=True,
        batch_size=32,
        progress=False,
    )
    dm.setup("fit")
    dm.setup("test")

    def stack(ds):
        xs, ys = zip(*(ds[i] for i in range(len(ds))), strict=True)
        return torch.stack(xs), torch.as_tensor(ys)

    return stack(dm.train_dataset), stack(dm.test_datasets["rotated"])


def build_network(impl: str, s2cnn_src: str | None):
    if impl == "ours":
        from sphere_study.models import S2CNNClassifier

        return S2CNNClassifier()
    collections.Iterable = collections.abc.Iterable  # lie_learn 0.0.2 on Python >= 3.10
    sys.path.insert(0, s2cnn_src)
    spec = importlib.util.spec_from_file_location("s2cnn_mnist_run", os.path.join(s2cnn_src, "examples/mnist/run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.S2ConvNet_original()


@torch.no_grad()
def accuracy(net, x, y, batch=64):
    net.eval()
    correct = sum(int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    net.train()
    return correct / len(x)


def train(impl, s2cnn_src, seed, epochs, data, lr, batch_size):
    (x_train, y_train), (x_test, y_test) = data
    torch.manual_seed(seed)
    net = build_network(impl, s2cnn_src)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    curve, t0 = [], time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(len(x_train), generator=order)
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(net(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        acc = accuracy(net, x_test, y_test)
        curve.append(acc)
        print(
            f"{impl} seed {seed} epoch {epoch + 1}: rotated test acc {acc:.4f} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return curve, time.perf_counter() - t0


def main(argv=None):
    from sphere_study._allocator import keep_freed_memory

    keep_freed_memory()  # as the sphere-study command does, for both implementations (no effect on the numbers)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=["ours", "original"], required=True)
    p.add_argument("--s2cnn-src", help="folder of the patched original s2cnn source (for --impl original)")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared/data/mnist"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--input-scaling", choices=["unit", "byte", "standardize"], default="unit")
    p.add_argument("--out", required=True, help="JSON file; finished seeds are kept and skipped on a rerun")
    args = p.parse_args(argv)
    if args.impl == "original" and not args.s2cnn_src:
        p.error("--impl original needs --s2cnn-src")
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update(
        impl=args.impl,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        input_scaling=args.input_scaling,
        data="mnist t10k split 7000/1000/2000, b=30, NR train, R test",
    )
    result.setdefault("seeds", {})
    data = load_data(args.data_root, 30, args.input_scaling)
    for seed in args.seeds:
        if str(seed) in result["seeds"]:
            continue
        curve, seconds = train(args.impl, args.s2cnn_src, seed, args.epochs, data, args.lr, args.batch_size)
        result["seeds"][str(seed)] = {"rotated_test_acc": curve, "seconds": seconds}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(out)


if __name__ == "__main__":
    main()
