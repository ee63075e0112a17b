"""Proxy noise by candidate: is the baseline's seed noise (what a study measures, `proxy.noise_seeds`) representative?

Trains a few of the fidelity candidates (default: the baseline, the AKConv authors' preset, SPConv and DynamicConv at
every conv slot: exact, near-exact and approximate initialisations) with extra seeds at one proxy arm of
bench/proxy_fidelity.py, and reports each candidate's scores by seed, its sample sd with a 95% chi-square interval,
and its sd over the baseline's. Seed 0 of each is the fidelity run itself (same results file), so run the arm there
first, or let this train it.

    python bench/proxy_noise.py --set data=datasets/bccd/data.yaml --set proxy.imgsz=256 --parent-epochs 30 \
        --arm warm2 --seeds 0 1 2 --results bench/results/fidelity_bccd.jsonl --work runs/bench/bccd
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from common import bench_parent, bench_parser, quiet, train
from fidelity_candidates import fixed_list
from proxy_fidelity import ARMS, PARENT, Results, score

DEFAULT_CANDIDATES = ["baseline", "akconv_authors", "spconv_all", "dynconv_all"]


def run_name(arm: str, seed: int) -> str:
    """Seed 0 is the fidelity benchmark's own run of the arm."""
    return arm if seed == 0 else f"{arm}@seed{seed}"


def sd_interval(values: list[float]) -> tuple[float, float, float]:
    """(sd, low, high): the sample sd and its 95% interval from the chi-square distribution (normal scores)."""
    from scipy.stats import chi2

    sd, df = statistics.stdev(values), len(values) - 1
    return sd, sd * math.sqrt(df / chi2.ppf(0.975, df)), sd * math.sqrt(df / chi2.ppf(0.025, df))


def train_missing(config, candidates, arm: str, seeds: list[int], results: Results, folder: Path, parent) -> None:
    changes = ARMS[arm]
    for seed in seeds:
        for name, candidate in candidates:
            run = run_name(arm, seed)
            if results.get(name, run) is not None:
                continue
            result = train(config, candidate, folder / run / name, parent, seed=seed, **changes)
            line = {"candidate": name, "run": run, "seed": seed, "epochs": changes["epochs"]}
            line.update({k: result[k] for k in ("map50_95", "map50", "epoch_map50_95", "train_seconds")})
            line["seconds"] = round(result["wall_seconds"], 1)
            results.add(line)


def report(names: list[str], arm: str, seeds: list[int], results: Results, last: int | None) -> None:
    print(f"\n{arm}, scored by {'the best epoch' if last is None else 'the last epoch'}")
    print("| candidate | " + " | ".join(f"seed {s}" for s in seeds) + " | range | sd [95% CI] | sd / baseline's |")
    print("|---|" + "---:|" * (len(seeds) + 3))
    base_sd = None
    for name in names:
        lines = [results.get(name, run_name(arm, s)) for s in seeds]
        if any(line is None for line in lines):
            print(f"| {name} | " + " | ".join("-" if x is None else f"{score(x, last):.4f}" for x in lines) + " |")
            continue
        values = [score(line, last) for line in lines]
        sd, low, high = sd_interval(values)
        base_sd = sd if name == "baseline" else base_sd
        ratio = f"{sd / base_sd:.1f}x" if base_sd else "-"
        cells = " | ".join(f"{v:.4f}" for v in values)
        print(f"| {name} | {cells} | {max(values) - min(values):.4f} | {sd:.4f} [{low:.4f}, {high:.4f}] | {ratio} |")


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--arm", default="warm2", choices=sorted(ARMS), help="the proxy recipe (proxy_fidelity arm)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to train (0: the arm's run)")
    parser.add_argument("--candidates", nargs="+", default=DEFAULT_CANDIDATES, help="fidelity candidate names")
    parser.add_argument("--results", default="bench/results/fidelity.jsonl", help="one JSON line per training")
    parser.add_argument("--work", default="runs/bench/fidelity", help="training folders and the parent")
    parser.add_argument("--parent-epochs", type=int, default=10, help="epochs of the parent (trained once)")
    parser.add_argument("--report", action="store_true", help="only print the report of what --results holds")
    args = parser.parse_args()
    quiet()
    from shapenas.config import load_config
    from shapenas.spaces import SearchSpace

    parent = {**PARENT, "parent_epochs": args.parent_epochs}
    config = load_config(args.config, args.set + [f"proxy.{k}={json.dumps(v)}" for k, v in parent.items()])
    every = dict(fixed_list(SearchSpace(config)))
    candidates = [(name, every[name]) for name in args.candidates]
    results = Results(Path(args.results))
    if not args.report:
        folder = Path(args.work)
        train_missing(config, candidates, args.arm, args.seeds, results, folder, bench_parent(config, folder))
    for last in (None, 1):
        report(args.candidates, args.arm, args.seeds, results, last)


if __name__ == "__main__":
    main()
