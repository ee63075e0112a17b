"""One shapenas command (`worker`, `resume`) as `bench/scale.py` runs it: the real CLI, with only the proxy trainer
replaced by an instant stand-in behind the `Evaluator` interface (and, with `--instant-cost`, the GFLOPs count too).
Prints one JSON line of figures on stdout; the command's own output goes to stderr.

    python bench/scale_worker.py [--instant-cost] -- worker --storage URL --study NAME --trials N

Figures: seconds from process start (`SCALE_SPAWNED`, the parent's clock at spawn) to the first trial asked; per
trial (one `run_trial` to the next, so the loop's polling between trials is in it): wall and CPU seconds, SQL
statements plus transaction ends (round trips), the cost evaluator's wall and CPU seconds, and the seconds slept
in the loop's polls (waiting for room in the budget or for a twin); peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import threading
import time

SPAWNED = float(os.environ.get("SCALE_SPAWNED", time.time()))
os.environ.setdefault("YOLO_OFFLINE", "1")

import optuna  # noqa: E402
import sqlalchemy  # noqa: E402

from shapenas.evaluators import CostResult, Evaluator, Job, ProxyResult  # noqa: E402

trips = [0]


def _count(*args) -> None:
    trips[0] += 1


for _event in ("before_cursor_execute", "commit", "rollback"):
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, _event, _count)


def _score(job: Job, salt: str) -> float:
    """A fixed number in [0, 1) per candidate YAML: twins score alike, as trained twins would."""
    digest = hashlib.sha256((salt + json.dumps(job.model_yaml, sort_keys=True)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


class InstantProxy(Evaluator[ProxyResult]):
    """Stands in for `ProxyTrainer` (same constructor): a result shaped like a 2-epoch training's, at once."""

    def __init__(self, *args, **kwargs):
        pass

    def evaluate(self, job: Job) -> ProxyResult:
        score = 0.3 + 0.2 * _score(job, "map")
        return ProxyResult(score, score + 0.2, [score * 0.9, score], [score + 0.1, score + 0.2], 0.0, "cpu", None)


class InstantCost(Evaluator[CostResult]):
    def __init__(self, *args, **kwargs):
        pass

    def evaluate(self, job: Job) -> CostResult:
        return CostResult(int(3e6 * (1 + _score(job, "params"))), round(8.7 * (1 + _score(job, "gflops")), 3))


FIELDS = ("wall", "cpu", "trips", "cost_wall", "cost_cpu", "slept")


class Timings:
    def __init__(self):
        self.first_ask: float | None = None
        self.marks: list[tuple] = []  # (wall, cpu, trips, cost wall, cost cpu, slept) at each trial start
        self.cost_wall = self.cost_cpu = self.slept = 0.0

    def mark(self) -> None:
        self.marks.append((time.time(), time.process_time(), trips[0], self.cost_wall, self.cost_cpu, self.slept))

    def report(self) -> dict:
        steps = [[b - a for a, b in zip(s, e, strict=True)] for s, e in zip(self.marks, self.marks[1:], strict=False)]
        return {
            "start_seconds": None if self.first_ask is None else self.first_ask - SPAWNED,
            "trials": [dict(zip(FIELDS, step, strict=True)) for step in steps],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def _time_cost(timings: Timings, runner, instant_cost: bool) -> None:
    """The cost evaluator (real, or the stand-in), its wall and CPU seconds counted apart from the bookkeeping."""
    real_cost = InstantCost if instant_cost else runner.CostEvaluator

    class TimedCost(real_cost):
        def evaluate(self, job: Job) -> CostResult:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return super().evaluate(job)
            finally:
                timings.cost_wall += time.perf_counter() - wall
                timings.cost_cpu += time.process_time() - cpu

    runner.CostEvaluator = TimedCost


def _time_sleeps(timings: Timings) -> None:
    """The loop's polls (waiting for room, for a twin) are idle, not bookkeeping: their sleeps are counted apart."""
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        started = time.perf_counter()
        real_sleep(seconds)
        if threading.current_thread() is threading.main_thread():
            timings.slept += time.perf_counter() - started

    time.sleep = sleep


def instrument(timings: Timings, instant_cost: bool) -> None:
    """The stand-ins, and the clocks around the real loop (module attributes the loop looks up at call time)."""
    import shapenas.commands.common as common
    import shapenas.search.loop.runner as runner

    runner.ProxyTrainer = InstantProxy
    _time_cost(timings, runner, instant_cost)
    _time_sleeps(timings)
    real_run_trial, real_ask, real_print_front = runner.run_trial, optuna.Study.ask, common.print_front

    def run_trial(*args, **kwargs):
        timings.mark()
        return real_run_trial(*args, **kwargs)

    def ask(self, *args, **kwargs):
        timings.first_ask = timings.first_ask or time.time()
        return real_ask(self, *args, **kwargs)

    def print_front(*args, **kwargs):  # the end of the trial loop: closes the last trial's span
        timings.mark()
        return real_print_front(*args, **kwargs)

    runner.run_trial, optuna.Study.ask = run_trial, ask
    for module in ("shapenas.commands.worker", "shapenas.commands.resume"):
        __import__(module)
        sys.modules[module].print_front = print_front


def main() -> None:
    argv = sys.argv[1:]
    instant_cost = "--instant-cost" in argv
    command = argv[argv.index("--") + 1 :]
    timings = Timings()
    instrument(timings, instant_cost)
    from shapenas.cli import main as cli_main

    stdout, sys.stdout = sys.stdout, sys.stderr  # the command's tables go to the log, the figures to stdout
    try:
        code = cli_main(command)
    finally:
        sys.stdout = stdout
    print(json.dumps({"code": code, **timings.report()}), flush=True)


if __name__ == "__main__":
    main()
