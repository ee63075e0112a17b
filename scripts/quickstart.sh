#!/usr/bin/env bash
# The main command: installs what is missing into ./.venv, writes the synthetic dataset, runs the quickstart search
# (configs/quickstart.yaml), prints the Pareto front and writes its table and plots under runs/shapenas/quickstart/.
# Extra arguments go to `shapenas search`, e.g. --trials 12 or --set proxy.epochs=5.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure_env.sh
shapenas data synth datasets/synth --train 512 --val 64 --imgsz 128 --seed 0
shapenas search configs/quickstart.yaml --study quickstart "$@"
out=runs/shapenas/quickstart
shapenas pareto --study quickstart --csv "$out/front.csv" --json "$out/front.json" \
  --plot "$out/pareto.png" --hypervolume-plot "$out/hypervolume.png" >/dev/null
echo "front table and plots: $out/front.csv $out/pareto.png $out/hypervolume.png"
