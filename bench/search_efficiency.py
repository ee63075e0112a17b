"""Search efficiency: hypervolume of the front after K trials for nsga2, tpe and random, equal budget, several seeds.

Each run is a real shapenas search (presets first, then the sampler) in an in-memory Optuna storage, with a cheap
proxy given by --set overrides. The hypervolume is of (mAP50-95 up, GFLOPs down) against the reference point
(mAP 0, 1.1 x the largest GFLOPs trained in any run), so the runs are comparable.

    pip install -e .[bench]
    python bench/search_efficiency.py [--trials 8] [--seeds 0 1 2] [--set proxy.epochs=2 ...]
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from common import bench_parser, front_points, hypervolume_2d, one_search, quiet


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samplers", nargs="+", default=["nsga2", "tpe", "random"])
    args = parser.parse_args()
    quiet()
    from shapenas.config import load_config

    started, runs = time.perf_counter(), {}
    for sampler in args.samplers:
        for seed in args.seeds:
            overrides = [*args.set, f"search.sampler={sampler}", f"search.seed={seed}", f"search.trials={args.trials}"]
            with tempfile.TemporaryDirectory() as folder:
                runs[(sampler, seed)] = front_points(one_search(load_config(args.config, overrides), Path(folder)))
            print(json.dumps({"sampler": sampler, "seed": seed, "points": runs[(sampler, seed)]}), flush=True)
    worst = 1.1 * max(g for points in runs.values() for _, g in points)
    print(
        f"\nhypervolume after {args.trials} trials (reference: mAP 0, {worst:.3f} GFLOPs); "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print("| sampler | mean | stdev | per seed |\n|---|---:|---:|---|")
    for sampler in args.samplers:
        volumes = [hypervolume_2d(runs[(sampler, seed)], worst) for seed in args.seeds]
        spread = statistics.stdev(volumes) if len(volumes) > 1 else 0.0
        print(
            f"| {sampler} | {statistics.mean(volumes):.4f} | {spread:.4f} | {', '.join(f'{v:.4f}' for v in volumes)} |"
        )


if __name__ == "__main__":
    main()
