"""Storage at scale: N `shapenas worker` processes on one PostgreSQL study grown to 1k, 3k and 10k finished trials.

Everything is the real code (the CLI, the worker loop, proposal, NSGA-II, GFLOPs count, heartbeat, a throwaway
PostgreSQL server) except the proxy training, replaced by an instant stand-in behind the `Evaluator` interface
(`bench/scale_worker.py`); `--instant-cost` replaces the GFLOPs count too. The study starts with real trials from the
real loop, and grows by copies of them (`optuna.trial.create_trial`, each with its own candidate key and moved
values), since running 10,000 trials one by one does not fit a 2-core machine. At each size: one worker alone and
one `resume` (start-up: process start to first trial asked), then `--workers` workers run `--batch` real trials
(bookkeeping per trial = its wall time minus the cost evaluator's and the polls' sleeps; round trips; peak RSS),
then `shapenas pareto` against `optuna.load_study(...).best_trials`, and the bytes of stored attributes per trial.

    python bench/scale.py [--workers 32] [--sizes 1000,3000,10000] [--batch 64] [--instant-cost]
    python bench/scale.py --smoke    # 2 workers, 50 trials: PostgreSQL when installed, else a journal file
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT
from scale_parts import STUDY, attr_bytes, collect, finished, fleet, grow, shapenas, spawn, time_pareto, write_config

TARGET_BOOKKEEPING_SECONDS = 0.5  # per trial, at 32 workers
TARGET_PARETO_RATIO = 1.5  # `shapenas pareto` / Optuna's load_study + best_trials, at 10,000 trials
TARGET_START_SECONDS = 3.0  # a worker's process start to its first trial asked
WORKER_MB = 500  # a worker's own memory with the real GFLOPs count (measured: ~410 MB private with the stand-in)
WORKER_MB_PER_TRIAL = 0.08  # and its growth with the study (peak RSS: 753 MB at 1,000 trials, 870 MB at 3,000)
SEED_TRIALS = 16  # real trials from the real loop before the study grows: the templates of the copies


def spread(values: list[float]) -> str:
    """median [min-max] (n)"""
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}] (n={len(values)})"


def verdict(value: float, target: float) -> str:
    return f"target <= {target:g}: {'met' if value <= target else 'MISSED'}"


def fitting_workers(wanted: int, size: int) -> int:
    """As many workers as the memory free now holds, 4 GB kept for others: each holds its libraries and, in Optuna's
    cache, every trial of the study."""
    available = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemAvailable"))
    each = WORKER_MB + WORKER_MB_PER_TRIAL * size
    fits = max(1, int((available // 1024 - 4000) // each))
    if fits < wanted:
        print(f"  only {fits} workers fit in the {available // 1024} MB free now ({each:.0f} MB each): {fits} run")
    return min(wanted, fits)


def server(smoke: bool, journal: bool):
    """(url, stop) of a throwaway PostgreSQL; for --smoke without PostgreSQL (or --journal), a journal file."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import PostgresServer, why_not_available

    reason = "--journal" if journal else why_not_available()
    if reason is None:
        running = PostgresServer().start()
        return running.url, running.stop
    if not smoke:
        raise SystemExit(f"no PostgreSQL: {reason}")
    print(f"no PostgreSQL ({reason}): a journal file instead")
    folder = tempfile.mkdtemp(prefix="shapenas-scale-")
    return f"journal:///{folder}/scale.log", lambda: shutil.rmtree(folder, ignore_errors=True)


def alone(url: str, command: str, folder: Path, instant_cost: bool) -> dict:
    """One `worker` or `resume` on its own, for one more trial: its start-up, undisturbed by a fleet starting."""
    args = [command, "--storage", url, "--study", STUDY, "--trials", finished(url) + 1, "--heartbeat", 10]
    return collect(spawn(args, folder, f"{command}.log", instant_cost), folder, f"{command}.log")


def report_fleet(results: list[dict], workers: int, elapsed: float, batch: int) -> None:
    trials = [t for r in results for t in r["trials"]]
    wall = [t["wall"] - t["cost_wall"] - t["slept"] for t in trials]
    cpu = [t["cpu"] - t["cost_cpu"] for t in trials]
    print(f"  {workers} workers, {len(trials)} trials in {elapsed:.1f} s ({len(trials) / elapsed:.2f} trials/s)")
    # The target is read on CPU seconds: with more workers than cores, a trial's wall time is mostly its turn for a
    # core (32 workers on 2 cores: ~16x its CPU time), which says how loaded the machine is, not what a trial costs.
    target = verdict(statistics.median(cpu), TARGET_BOOKKEEPING_SECONDS)
    print(f"  bookkeeping per trial, CPU s of the worker: {spread(cpu)}; {target}")
    print(f"  bookkeeping per trial, wall s (waiting for a core included): {spread(wall)}")
    print(f"  cost evaluator per trial, wall s: {spread([t['cost_wall'] for t in trials])}")
    print(f"  slept in polls (waiting for room or a twin) per trial, s: {spread([t['slept'] for t in trials])}")
    print(f"  round trips per trial: {spread([t['trips'] for t in trials])}")
    print(f"  worker start in the fleet, s: {spread([r['start_seconds'] for r in results if r['start_seconds']])}")
    print(f"  peak RSS per worker, MB: {spread([r['peak_rss_mb'] for r in results])}")


def measure(url: str, size: int, args, folder: Path) -> dict:
    print(f"\n== {size} finished trials (grown in {grow(url, size):.1f} s) ==", flush=True)
    if not args.smoke:
        for command in ("worker", "resume"):
            result = alone(url, command, folder, args.instant_cost)
            start = result["start_seconds"]
            print(
                f"  {command} alone: start {start:.2f} s; {verdict(start, TARGET_START_SECONDS)}; "
                f"peak RSS {result['peak_rss_mb']:.0f} MB"
            )
    total, workers = finished(url) + args.batch, fitting_workers(args.workers, size)
    started = time.perf_counter()
    results = fleet(url, workers, total, folder, args.instant_cost)
    report_fleet(results, workers, time.perf_counter() - started, args.batch)
    times = time_pareto(url, folder, args.repeats)
    ratio = statistics.median(p / o for p, o in zip(times["pareto"], times["optuna"], strict=True))
    print(f"  optuna load_study + best_trials, s: {spread(times['optuna'])}")
    print(f"  shapenas pareto (in process), s: {spread(times['pareto'])}; whole process {times['process'][0]:.2f} s")
    print(f"  pareto / optuna: {ratio:.2f}x; {verdict(ratio, TARGET_PARETO_RATIO)}")
    weights = attr_bytes(url)
    print(
        f"  stored attributes per trial: user {weights['user']:.0f} B, system {weights['system']:.0f} B "
        f"(largest user attribute: {weights['biggest_user_attr']})",
        flush=True,
    )
    return {"size": size, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--sizes", default="1000,3000,10000", help="finished trials to grow the study to, in order")
    parser.add_argument("--batch", type=int, default=64, help="real trials the workers run at each size")
    parser.add_argument("--repeats", type=int, default=3, help="of the pareto timing")
    parser.add_argument("--instant-cost", action="store_true", help="replace the GFLOPs count by a stand-in too")
    parser.add_argument("--smoke", action="store_true", help="2 workers, 50 trials, a few seconds of work")
    parser.add_argument("--journal", action="store_true", help="with --smoke: a journal file, not PostgreSQL")
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.sizes, args.batch, args.repeats, args.instant_cost = 2, "50", 4, 1, True
    from shapenas.data.synth import write_synthetic_dataset

    url, stop = server(args.smoke, args.journal)
    try:
        with tempfile.TemporaryDirectory(prefix="shapenas-scale-") as name:
            folder = Path(name)
            data = write_synthetic_dataset(folder / "data", n_train=8, n_val=4, imgsz=64, seed=0)
            shapenas(
                "search",
                write_config(folder, data, SEED_TRIALS),
                "--storage",
                url,
                "--study",
                STUDY,
                "--create-only",
                cwd=folder,
            )
            seed = 6 if args.smoke else SEED_TRIALS
            print(f"== {seed} real trials to copy from ==", flush=True)
            # A few workers make the templates: 32 racing for 16 trials mostly fail "not run: over budget".
            started, workers = time.perf_counter(), fitting_workers(min(args.workers, 4), seed)
            results = fleet(url, workers, seed, folder, args.instant_cost)
            report_fleet(results, workers, time.perf_counter() - started, seed)
            for size in map(int, args.sizes.split(",")):
                measure(url, size, args, folder)
    finally:
        stop()


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s on {sys.platform}")
