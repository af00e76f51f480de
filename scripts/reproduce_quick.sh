#!/usr/bin/env bash
# Reproduces docs/results/quick/: the quick sweep (configs/sweeps/quick.yaml: 12 runs on the bundled digits, no
# download), then its tables and figures (runs.csv, aggregate.csv, *.png). Resumable: run it again after an
# interruption and only the unfinished runs are redone. Runs land in runs/sweeps/quick/.
#
#   scripts/reproduce_quick.sh              # 2 workers (one per core)
#   WORKERS=1 scripts/reproduce_quick.sh
#
# To also log the figures to a wandb summary run: sphere-study plot runs/sweeps/quick --out docs/results/quick
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE="${WANDB_MODE:-offline}"
# The project's virtual environment (README's set-up) if there is one, else whatever is on PATH.
if [ -x .venv/bin/sphere-study ]; then cli=(.venv/bin/sphere-study)
elif command -v sphere-study >/dev/null 2>&1; then cli=(sphere-study)
else cli=(python3 -m sphere_study); fi

start=$(date +%s)
status=0
"${cli[@]}" sweep --config configs/sweeps/quick.yaml --workers "${WORKERS:-2}" || status=$?
# Plot whatever finished, even if a run failed (the sweep has reported it): the figures show what there is.
"${cli[@]}" plot runs/sweeps/quick --out docs/results/quick --no-wandb
echo "reproduce_quick: $(( $(date +%s) - start )) s; tables and figures in docs/results/quick/"
exit "$status"
