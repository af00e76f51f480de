r"""A stand-in for ``sphere-study fit`` that the sweep tests run: same arguments, synthetic ``results.json``.

It takes ``--config FILE`` (repeatable) and ``--dotted.key value`` pairs like the real CLI, records each call, and
writes a ``results.json`` (atomically, at the very end, as the real fit does) whose metrics are a deterministic
function of the overrides. ``$FAKE_FIT_RULES`` (JSON) makes chosen points misbehave::

    [{"match": {"data.augment": "4"}, "action": "fail" | "fail_once" | "kill_once" | "hang", "seconds": 600}]

``match`` compares the overrides as the command line spells them. Every call appends a line to
``<run dir>/fake_fit_calls.txt`` and, if set, to ``$FAKE_FIT_LEDGER`` (shared by all points); ``$FAKE_FIT_SLEEP``
makes every call take that many seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from sphere_study._io import atomic_write_json
from sphere_study._run_folder import RunFolderError, hold_run_lock

ROOT_KEY = "trainer.default_root_dir"


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    configs, overrides = [], {}
    items = list(argv)
    while items:
        flag = items.pop(0)
        assert flag.startswith("--"), f"fake fit: unexpected argument {flag!r}"
        value = items.pop(0)
        if flag == "--config":
            configs.append(value)
        else:
            overrides[flag[2:]] = value
    return configs, overrides


def synthetic_metrics(overrides: dict[str, str]) -> dict[str, float]:
    digest = hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).digest()
    rotated = 0.5 + digest[0] / 1000
    return {"test/rotated/acc": rotated, "test/unrotated/acc": rotated + digest[1] / 2000}


def main() -> int:
    configs, overrides = parse(sys.argv[1:])
    root = Path(overrides.pop(ROOT_KEY))
    root.mkdir(parents=True, exist_ok=True)
    try:
        hold_run_lock(root)  # as the real fit does, for as long as it writes the folder
    except RunFolderError as err:
        print(f"fake fit: error: {err}", file=sys.stderr, flush=True)
        return 2
    start = time.time()
    with open(root / "fake_fit_calls.txt", "a") as calls:
        calls.write(f"{os.getpid()} {start}\n")
    calls_so_far = len((root / "fake_fit_calls.txt").read_text().splitlines())
    if os.environ.get("FAKE_FIT_LEDGER"):
        with open(os.environ["FAKE_FIT_LEDGER"], "a") as ledger:
            ledger.write(f"{root.name} {os.getpid()}\n")
    print(f"fake fit in {root}: configs {configs}, overrides {overrides}", flush=True)

    for rule in json.loads(os.environ.get("FAKE_FIT_RULES", "[]")):
        if any(overrides.get(key) != value for key, value in rule["match"].items()):
            continue
        action = rule["action"]
        if action == "fail" or (action == "fail_once" and calls_so_far == 1):
            print("fake fit: failing as told", file=sys.stderr, flush=True)
            return 3
        if action == "kill_once" and calls_so_far == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "hang":
            (root / "hanging").write_text(str(os.getpid()))
            time.sleep(rule.get("seconds", 600))

    time.sleep(float(os.environ.get("FAKE_FIT_SLEEP", "0")))
    network = overrides.get("model.init_args.network", "cnn_fake")
    train_size = int(overrides.get("data.train_size", "100"))
    augment = overrides.get("data.augment", "1")
    augment = augment if augment == "online" else int(augment)
    record = {
        "schema_version": 1,
        "status": "completed",
        "task": "classification",
        "model": {"name": network, "family": network.split("_")[0], "num_parameters": 1000},
        "data": {
            "source": overrides.get("data.source", "digits"),
            "train_size": train_size,
            "augment": augment,
            "rotate_train": overrides.get("data.rotate_train", "false") == "true",
            "rotate_test": "both",
            "digits_per_sphere": 1,
            "bandwidth": 8,
            "num_train_samples": train_size if augment == "online" else train_size * augment,
        },
        "seed": int(overrides.get("seed_everything", "0")),
        "metrics": synthetic_metrics(overrides),
        "epochs": 1,
        "wall_time_s": time.time() - start,
        "config": {"configs": configs, "overrides": overrides},
        "fake": {
            "pid": os.getpid(),
            "start": start,
            "end": time.time(),
            "env": {
                k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "SPHERE_STUDY_SWEEP_GROUP")
            },
        },
    }
    atomic_write_json(root / "results.json", record)
    print("fake fit: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
