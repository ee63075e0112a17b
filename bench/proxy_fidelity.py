"""Proxy fidelity: do short proxies rank candidates as a long training does, started the same way?

Candidates: the 18 of bench/fidelity_candidates.py (baseline, presets, extremes of the space, seeded random spread),
the same for every run. Proxies (arms):
  scratch        the quickstart proxy before warm starts: 3 epochs from scratch, SGD lr0 0.02, no warm-up, nbs 64
  scratch_nbs16  the same with nbs 16 (an optimizer step every batch: 4x the steps)
  warm2, warm3   2 and 3 epochs from the parent (every candidate inherits it; see shapenas.inherit_weights),
                 SGD lr0 0.005, no warm-up, nbs 16
  warm2_lr_end   warm2 at the learning rate the parent's schedule ended on (lr0 x lrf = 0.0002), held constant
  warm2_bn_frozen, warm2_lr_end_bn_frozen
                 the same with BatchNorm's running statistics kept as inherited (`proxy.bn: frozen`)
Each arm is also scored three ways from the same runs: `best` (the best epoch's checkpoint, as Ultralytics reports
it), `last` (the last epoch) and `mean2` (the mean of the last two epochs).
References, each 6x the epochs of the proxies it judges: warm_long, --warm-long-epochs (default 12, 6x warm2; warm3
gets 4x) from the parent with the warm recipe, seeds 0 and 1 (its own seed-to-seed agreement is the ceiling for any
proxy), and scratch_long, --long-epochs (default 18, 6x the 3-epoch scratch proxies) with the scratch_nbs16 recipe.
Mosaic is off in every run: Ultralytics closes it for the last `close_mosaic` (10) epochs, so a 3-epoch run never
sees it while an 18-epoch one would. The parent: the base trained 10 epochs (SGD lr0 0.02, no warm-up, nbs 16, no
mosaic).

Reported for each arm against each reference: Kendall's tau and Spearman's rho with bootstrap 90% intervals
(candidates resampled), top-3 overlap, Pareto-front overlap (mAP50-95 against GFLOPs), and the cost per trial in
epochs and seconds. Every training appends a line to --results; a rerun skips what is there (a killed run goes on).

    pip install -e .[bench]
    python bench/proxy_fidelity.py [--config configs/quickstart.yaml] [--warm-long-epochs 12] [--long-epochs 18]
"""

from __future__ import annotations

import json
from pathlib import Path

from common import bench_parent, bench_parser, candidate_yaml, quiet, train
from fidelity_candidates import fixed_list
from ranking import bootstrap_interval, correlations, front_overlap, top_overlap

NO_MOSAIC = {"warmup_epochs": 0, "mosaic": 0.0}
LR_END = {"lr0": 0.0002, "lrf": 1.0}  # the quickstart parent's lr0 0.02 x lrf 0.01, held
SCRATCH = {"init": "scratch", "epochs": 3, "train_args": {"optimizer": "SGD", "lr0": 0.02, "warmup_epochs": 0}}
SCRATCH16 = {**SCRATCH, "train_args": {"optimizer": "SGD", "lr0": 0.02, "nbs": 16, **NO_MOSAIC}}
WARM = {"init": "parent", "train_args": {"optimizer": "SGD", "lr0": 0.005, "nbs": 16, **NO_MOSAIC}}
PARENT = {"parent_epochs": 10, "parent_args": SCRATCH16["train_args"]}
WARM2 = {**WARM, "epochs": 2}
WARM2_LR_END = {**WARM2, "train_args": {**WARM["train_args"], **LR_END}}
ARMS = {
    "scratch": SCRATCH,
    "scratch_nbs16": SCRATCH16,
    "warm2": WARM2,
    "warm3": {**WARM, "epochs": 3},
    "warm2_lr_end": WARM2_LR_END,
    "warm2_bn_frozen": {**WARM2, "bn": "frozen"},
    "warm2_lr_end_bn_frozen": {**WARM2_LR_END, "bn": "frozen"},
}
SCORINGS = {"best": None, "last": 1, "mean2": 2}  # how many last epochs are averaged (None: the best checkpoint)


def score(line: dict, last: int | None) -> float:
    """A run's mAP50-95: its best checkpoint's (None), or the mean of its last `last` epochs."""
    return line["map50_95"] if last is None else sum(line["epoch_map50_95"][-last:]) / last


def references(warm_epochs: int, scratch_epochs: int) -> dict[str, tuple[dict, int]]:
    """name: (proxy changes, seed)."""
    return {
        "warm_long": ({**WARM, "epochs": warm_epochs}, 0),
        "scratch_long": ({**SCRATCH16, "epochs": scratch_epochs}, 0),
        "warm_long_seed1": ({**WARM, "epochs": warm_epochs}, 1),
    }


class Results:
    """The JSONL log: one line per training (and per candidate's cost); what is there is not trained again."""

    def __init__(self, path: Path):
        self.path = path
        self.lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def get(self, candidate: str, run: str) -> dict | None:
        return next((r for r in self.lines if r["candidate"] == candidate and r["run"] == run), None)

    def add(self, line: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
        self.lines.append(line)
        print(json.dumps(line), flush=True)


def run_all(config, candidates, runs: dict[str, tuple[dict, int]], results: Results, folder: Path, parent) -> None:
    from shapenas.cost import yaml_cost

    for name, candidate in candidates:
        if results.get(name, "cost") is None:
            cost = yaml_cost(candidate_yaml(config, candidate), config.proxy.imgsz)
            results.add({"candidate": name, "run": "cost", "gflops": cost.gflops, "summary": candidate.summary()})
    for run, (changes, seed) in runs.items():
        for name, candidate in candidates:
            if results.get(name, run) is not None:
                continue
            warm = changes["init"] == "parent"
            result = train(config, candidate, folder / run / name, parent if warm else None, seed=seed, **changes)
            line = {"candidate": name, "run": run, "seed": seed, "epochs": changes["epochs"]}
            line.update({k: result[k] for k in ("map50_95", "map50", "epoch_map50_95", "train_seconds")})
            line["seconds"] = round(result["wall_seconds"], 1)
            if warm:
                line["layer_init"] = [r for r in result["layer_init"] if r["how"] not in ("copied",)]
            results.add(line)


def complete(names: list[str], results: Results, runs) -> list[str]:
    """The runs that hold every candidate (a run still training is left out of the report)."""
    return [run for run in runs if all(results.get(n, run) is not None for n in names)]


def scored_runs(names: list[str], results: Results, done: list[str]) -> dict[str, list[float]]:
    """Each complete run's scores by candidate: arms three ways (`arm`, `arm:last`, `arm:mean2`), references by their
    best checkpoint and by the mean of their last three epochs (`:last3`); `warm_long_mean` averages the two seeds."""
    scores = {}
    for run in done:
        lines = [results.get(n, run) for n in names]
        ways = {"": None, **{f":{k}": v for k, v in SCORINGS.items() if v}} if run in ARMS else {"": None, ":last3": 3}
        scores.update({run + suffix: [score(line, last) for line in lines] for suffix, last in ways.items()})
    for suffix in ("", ":last3"):
        seeds = [scores.get(f"warm_long{suffix}"), scores.get(f"warm_long_seed1{suffix}")]
        if all(seeds):
            scores[f"warm_long_mean{suffix}"] = [(a + b) / 2 for a, b in zip(*seeds, strict=True)]
    return scores


def report(names: list[str], results: Results, runs: dict[str, tuple[dict, int]]) -> None:
    done = complete(names, results, runs)
    missing = [run for run in runs if run not in done]
    if missing:
        print(f"\nnot complete, left out: {', '.join(missing)}")
    scores = scored_runs(names, results, done)
    costs = [results.get(n, "cost")["gflops"] for n in names]
    print("\n| candidate | GFLOPs | " + " | ".join(done) + " |\n|---|---:|" + "---:|" * len(done))
    for i, name in enumerate(names):
        print(f"| {name} | {costs[i]:.3f} | " + " | ".join(f"{scores[r][i]:.4f}" for r in done) + " |")
    print("\n| arm | reference | Kendall tau [90% CI] | Spearman rho [90% CI] | top-3 | front overlap |")
    print("|---|---|---|---|---:|---|")
    refs = [r for r in scores if r.startswith(("warm_long", "scratch_long"))]
    ceilings = [("warm_long", "warm_long_seed1"), ("warm_long:last3", "warm_long_seed1:last3")]
    pairs = ceilings + [(arm, ref) for arm in scores if arm.split(":")[0] in ARMS for ref in refs]
    for arm, ref in pairs:
        if arm in scores and ref in scores:
            print(agreement_row(arm, ref, scores, costs))
    print("\n| run | epochs per trial | seconds per trial (mean) |\n|---|---:|---:|")
    for run in done:
        lines = [results.get(n, run) for n in names]
        mean = sum(line["seconds"] for line in lines) / len(lines)
        print(f"| {run} | {lines[0]['epochs']} | {mean:.1f} |")


def agreement_row(arm: str, ref: str, scores: dict[str, list[float]], costs: list[float]) -> str:
    tau, rho = correlations(scores[arm], scores[ref])
    ci = bootstrap_interval(scores[arm], scores[ref])
    share, n_arm, n_ref = front_overlap(scores[arm], scores[ref], costs)
    return (
        f"| {arm} | {ref} | {tau:.3f} [{ci['tau'][0]:.2f}, {ci['tau'][1]:.2f}] | {rho:.3f} "
        f"[{ci['rho'][0]:.2f}, {ci['rho'][1]:.2f}] | {top_overlap(scores[arm], scores[ref]):.2f} | "
        f"{share:.2f} ({n_arm} vs {n_ref} on the fronts) |"
    )


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--long-epochs", type=int, default=18, help="epochs of the long scratch reference")
    parser.add_argument("--warm-long-epochs", type=int, default=12, help="epochs of the long warm references")
    parser.add_argument("--results", default="bench/results/fidelity.jsonl", help="one JSON line per training")
    parser.add_argument("--work", default="runs/bench/fidelity", help="training folders and the parent")
    parser.add_argument("--limit", type=int, help="only the first N candidates (to try the script quickly)")
    parser.add_argument("--train", nargs="+", help="train only these arms and references, in this order")
    parser.add_argument("--report", action="store_true", help="only print the report of what --results holds")
    parser.add_argument("--parent-epochs", type=int, default=10, help="epochs of the parent (trained once)")
    args = parser.parse_args()
    quiet()
    from shapenas.config import load_config
    from shapenas.spaces import SearchSpace

    parent = {**PARENT, "parent_epochs": args.parent_epochs}
    config = load_config(args.config, args.set + [f"proxy.{k}={json.dumps(v)}" for k, v in parent.items()])
    candidates = fixed_list(SearchSpace(config))[: args.limit]
    runs = {name: (changes, 0) for name, changes in ARMS.items()} | references(args.warm_long_epochs, args.long_epochs)
    results, folder = Results(Path(args.results)), Path(args.work)
    to_train = {} if args.report else {name: runs[name] for name in args.train} if args.train else runs
    if to_train:
        run_all(config, candidates, to_train, results, folder, bench_parent(config, folder))
    report([name for name, _ in candidates], results, runs)


if __name__ == "__main__":
    main()
