"""Wall time of one proxy trial through shapenas against the same training run through plain Ultralytics.

Same YAML (the quickstart base), same data, same budget. The shapenas side is one whole trial as the search runs it:
render, cost count, proxy training with our callbacks, results stored on an Optuna trial. The plain side is
`YOLO(yaml).train(...)` with the same arguments. The two run alternately, `--repeats` times each, in fresh
processes, so that neither gets a warm cache the other lacks. Target: shapenas / plain <= 1.05.

    python bench/trial_overhead.py [--config configs/quickstart.yaml] [--repeats 3]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, bench_parser

# Each side runs in its own process; the process prints the seconds its own work took (imports excluded).
SHAPENAS_SIDE = """
import json, sys, time
from pathlib import Path
import optuna
from shapenas.config import load_config, require_data
from shapenas.search.results import Objectives
from shapenas.search.loop import Progress, StudyContext, make_objective
from shapenas.spaces import SearchSpace
config = load_config(sys.argv[1], sys.argv[3:])
data = require_data(config)
space = SearchSpace(config)
objectives = Objectives.of(config)
study = optuna.create_study(directions=objectives.directions)
study.enqueue_trial(space.to_params(space.baseline()))
context = StudyContext(study, None, config, data, Path(sys.argv[2]))
objective = make_objective(context, space, Progress(1, objectives, open("/dev/null", "w")))
start = time.perf_counter()
study.optimize(objective, n_trials=1)
print(json.dumps({"seconds": time.perf_counter() - start, "map": study.trials[0].values[0]}))
"""

PLAIN_SIDE = """
import json, sys, time, yaml
from ultralytics import YOLO
from shapenas.config import load_config, require_data
from shapenas.devices import resolve_device
from shapenas.evaluators.proxy import ProxyTrainer
from shapenas.spaces import SearchSpace
config = load_config(sys.argv[1], sys.argv[3:])
space = SearchSpace(config)
folder = Path(sys.argv[2]); folder.mkdir(parents=True, exist_ok=True)
from shapenas.ultralytics.build import model_file_stem
path = folder / (model_file_stem(config.base, config.scale) + ".yaml")
path.write_text(yaml.safe_dump(space.render(space.baseline()), sort_keys=False))
# The very arguments a shapenas trial passes to Ultralytics, so only the overhead differs.
train_args = ProxyTrainer(config.proxy, require_data(config)).train_args(folder, resolve_device(config.proxy.device))
start = time.perf_counter()
model = YOLO(str(path))
model.train(**train_args)
print(json.dumps({"seconds": time.perf_counter() - start, "map": float(model.trainer.metrics["metrics/mAP50-95(B)"])}))
"""


def run_side(script: str, config: str, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", script, config, folder, *overrides],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "YOLO_VERBOSE": "False"},
        )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"shapenas": [], "plain": []}
    for repeat in range(args.repeats):
        for name, script in (("plain", PLAIN_SIDE), ("shapenas", SHAPENAS_SIDE)):
            result = run_side(script, args.config, args.set)
            times[name].append(result["seconds"])
            print(
                f"repeat {repeat + 1}: {name:8s} {result['seconds']:7.1f} s  mAP50-95 {result['map']:.4f}", flush=True
            )
    plain, ours = statistics.median(times["plain"]), statistics.median(times["shapenas"])
    # Each repeat runs both sides back to back, so the ratio within a repeat is the least disturbed by other load.
    paired = statistics.median(o / p for o, p in zip(times["shapenas"], times["plain"], strict=True))
    print(f"\nmedian wall time of one trial: plain Ultralytics {plain:.1f} s, shapenas {ours:.1f} s")
    verdict = "met" if paired <= 1.05 else "NOT met"
    print(f"overhead, median of the per-repeat ratios: {paired:.3f}x (target <= 1.05x: {verdict})")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"benchmark wall time {time.perf_counter() - started:.0f} s")
