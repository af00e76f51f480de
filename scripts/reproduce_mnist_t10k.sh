#!/usr/bin/env bash
# Reproduces docs/results/mnist_t10k/: the real-MNIST study (configs/sweeps/mnist_t10k_{classification,segmentation}
# .yaml on the t10k split of ../shared/data/mnist), one seed at a time and alternating the tasks so that an
# interrupted run leaves whole seeds of both, then each task's tables and figures (runs.csv, aggregate.csv, *.png,
# table.md). Resumable: the points' results.json files are in the repository, so only unfinished points run.
#
#   scripts/reproduce_mnist_t10k.sh                 # 2 workers (one per core), all three seeds
#   SEEDS="0" scripts/reproduce_mnist_t10k.sh       # one seed
#   PLOT_ONLY=1 scripts/reproduce_mnist_t10k.sh     # tables and figures from the points there are
#
# Figures are also logged to an offline wandb summary run per task (<out>/wandb/; `wandb sync` it).
set -euo pipefail
cd "$(dirname "$0")/.."
export WANDB_MODE="${WANDB_MODE:-offline}"
# The project's virtual environment (README's set-up) if there is one, else whatever is on PATH.
if [ -x .venv/bin/sphere-study ]; then cli=(.venv/bin/sphere-study); python_bin=.venv/bin/python
elif command -v sphere-study >/dev/null 2>&1; then cli=(sphere-study); python_bin=python3
else cli=(python3 -m sphere_study); python_bin=python3; fi

start=$(date +%s)
status=0
if [ -z "${PLOT_ONLY:-}" ]; then
  for seed in ${SEEDS:-0 1 2}; do
    for task in classification segmentation; do
      "${cli[@]}" sweep --config "configs/sweeps/mnist_t10k_${task}.yaml" --workers "${WORKERS:-2}" \
        --seed_everything="$seed" || status=$?
    done
  done
fi
# Plot whatever finished, even if a point failed (the sweep has reported it).
for task in classification segmentation; do
  out="docs/results/mnist_t10k/${task}"
  metric=$([ "$task" = classification ] && echo acc || echo miou_fg)
  "${cli[@]}" plot "${out}/points" --out "$out"
  "$python_bin" scripts/study_table.py "$out" --metric "$metric" --out "${out}/table.md"
done
echo "reproduce_mnist_t10k: $(( $(date +%s) - start )) s; tables and figures in docs/results/mnist_t10k/"
exit "$status"
