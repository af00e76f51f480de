#!/usr/bin/env bash
# GPU check (issue 13): the CUDA cases of the layer, transform and model tests, then the two benchmarks on CUDA,
# JSON under scripts/results/. Meant for a machine with one CUDA GPU; budget < 8 minutes in all.
#
#   bash scripts/device_check.sh            # from the repository root, with the project's Python on PATH or $PYTHON
#
# Writes scripts/results/device_check_tests.json (pytest outcome per CUDA test), benchmark_models_targets_cuda.json
# (Cohen classifier batch 32 and the 204k segmenter batch 4, forward+backward, in reference units of the GPU's own
# complex64 bmm, and max_memory_allocated) and benchmark_transforms_cuda.json (S² / SO(3) transforms, b = 16..64).
# Exits non-zero if there is no CUDA device, if a CUDA test fails, or if a benchmark fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
RESULTS=scripts/results
mkdir -p "$RESULTS"

"$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "device_check: no CUDA device")'
"$PYTHON" -c 'import torch; print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'

# 1. The CUDA cases (marker "gpu"): round trips, oracle agreement, equivariance, buffers on the device, training steps,
#    and the models' outputs against the fixture of the pre-optimisation code. Tests keep their caches in temp dirs.
junit="$(mktemp -d)/device_check.xml"
status=0
timeout 240 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider --junitxml "$junit" \
    tests/harmonics tests/nn tests/models || status=$?
"$PYTHON" - "$junit" "$RESULTS/device_check_tests.json" <<'PY'
import json, sys, xml.etree.ElementTree as ET
from sphere_study._io import atomic_write_json
cases = []
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    outcome = "passed"
    for child in case:
        if child.tag in ("failure", "error", "skipped"):
            outcome = child.tag
    cases.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                  "seconds": float(case.get("time", 0))})
counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failure", "error", "skipped")}
atomic_write_json(sys.argv[2], {"counts": counts, "cases": cases})
print("CUDA tests:", counts)
PY
[ "$status" -eq 0 ] || { echo "device_check: CUDA tests failed (pytest exit $status)"; exit "$status"; }

# 2. The benchmarks on CUDA only (the CPU numbers come from the CPU runs).
timeout 150 "$PYTHON" scripts/benchmark_models.py --targets --device cuda --repeats 5 \
    --out "$RESULTS/benchmark_models_targets_cuda.json"
timeout 60 "$PYTHON" scripts/benchmark_transforms.py --device cuda --sizes 16 32 64 --repeats 5 \
    --out "$RESULTS/benchmark_transforms_cuda.json"
echo "device_check: done; JSON in $RESULTS/"
