"""Proxy fidelity: does the short proxy rank candidates as a four times longer training does?

Eight fixed candidates (baseline, presets, and seeded random placements and shapes) are trained at the config's proxy
budget (seed 0), at the same budget with seed 1 (the noise floor: how well the proxy agrees with itself), and at
four times the epochs (seed 0). Reported: Kendall's tau and Spearman's rho of the mAP50-95 rankings.

    pip install -e .[bench]
    python bench/proxy_fidelity.py [--config configs/quickstart.yaml] [--candidates 8] [--factor 4]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from common import bench_parser, fixed_candidates, quiet, rank_correlations, train


def run(config, candidates, budgets: dict[str, dict], out: Path) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {name: [] for name in budgets}
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, candidate) in enumerate(candidates):
            for budget, changes in budgets.items():
                result = train(config, candidate, Path(folder) / f"{index}-{budget}", **changes)
                scores[budget].append(result["map50_95"])
                line = {
                    "candidate": name,
                    "budget": budget,
                    "map50_95": result["map50_95"],
                    "seconds": round(result["wall_seconds"], 1),
                    "summary": candidate.summary(),
                }
                print(json.dumps(line), flush=True)
                with out.open("a") as log:
                    log.write(json.dumps(line) + "\n")
    return scores


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--factor", type=int, default=4, help="the long budget is this many times the epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random candidates")
    parser.add_argument("--log", default="bench/proxy_fidelity.jsonl", help="one JSON line per training")
    args = parser.parse_args()
    quiet()
    from shapenas.config import load_config
    from shapenas.spaces import SearchSpace

    config = load_config(args.config, args.set)
    candidates = fixed_candidates(SearchSpace(config), args.candidates, args.seed)
    epochs, seed = config.proxy.epochs, config.proxy.seed
    budgets = {"short": {}, "short_seed1": {"seed": seed + 1}, "long": {"epochs": epochs * args.factor}}
    started = time.perf_counter()
    scores = run(config, candidates, budgets, Path(args.log))
    print(
        f"\n{len(candidates)} candidates, proxy {epochs} epochs vs {epochs * args.factor} epochs "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print("| candidate | short | short, seed+1 | long |\n|---|---:|---:|---:|")
    for i, (name, candidate) in enumerate(candidates):
        print(
            f"| {name}: {candidate.summary()} | {scores['short'][i]:.4f} | {scores['short_seed1'][i]:.4f} | "
            f"{scores['long'][i]:.4f} |"
        )
    for label, a, b in (
        ("short vs long (fidelity)", "short", "long"),
        ("short vs short, seed+1 (noise floor)", "short", "short_seed1"),
    ):
        tau, rho = rank_correlations(scores[a], scores[b])
        print(f"{label}: Kendall tau {tau:.3f}, Spearman rho {rho:.3f}")


if __name__ == "__main__":
    main()
