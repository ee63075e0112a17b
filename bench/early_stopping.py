"""Pareto-rank early stopping: epochs saved and the final front's hypervolume, with and without it.

Two real searches with the same config, sampler and seed, one with `search.early_stop: off`, one with
`pareto_rank`. Reported: epochs trained (a stopped trial counts the epochs it ran), wall time, trials stopped, and
the hypervolume of the final front (reference: mAP 0, 1.1 x the largest GFLOPs trained in either run). With
`proxy.init: parent` both searches start every candidate from one parent, trained once into --work.

    pip install -e .[bench]
    python bench/early_stopping.py [--config configs/quickstart.yaml] [--trials 8] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import bench_parent, bench_parser, front_points, hypervolume_2d, one_search, quiet


def epochs_trained(study) -> int:
    from optuna.trial import TrialState

    from shapenas.search.results.record import is_trained, read

    total = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        stored = read(trial)
        if trial.state == TrialState.PRUNED:
            total += stored.stopped_at_epoch
        elif is_trained(trial) and stored.reused_from is None:  # else nothing was trained for it
            total += len(stored.epoch_map50_95)
    return total


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--work", default="runs/bench/early_stopping", help="the parent of warm searches")
    args = parser.parse_args()
    quiet()
    from optuna.trial import TrialState

    from shapenas.config import load_config

    results = {}
    config = load_config(args.config, args.set)
    parent = bench_parent(config, Path(args.work)) if config.proxy.init == "parent" else None
    for mode in ("off", "pareto_rank"):
        config = load_config(args.config, [*args.set, f"search.early_stop={mode}", f"search.trials={args.trials}"])
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            study = one_search(config, Path(folder), parent)
        stopped = len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
        results[mode] = (epochs_trained(study), time.perf_counter() - started, stopped, front_points(study))
    worst = 1.1 * max(g for *_, points in results.values() for _, g in points)
    print(f"\n{args.trials} trials each; hypervolume reference: mAP 0, {worst:.3f} GFLOPs\n")
    print(
        "| early_stop | epochs trained | wall s | trials stopped | final front hypervolume |\n|---|---:|---:|---:|---:|"
    )
    for mode, (epochs, seconds, stopped, points) in results.items():
        print(f"| {mode} | {epochs} | {seconds:.0f} | {stopped} | {hypervolume_2d(points, worst):.4f} |")
    saved = 1 - results["pareto_rank"][0] / results["off"][0]
    print(f"\nepochs saved by pareto_rank: {saved:.0%}")


if __name__ == "__main__":
    main()
