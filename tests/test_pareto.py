"""The front's pure parts: the front of one pair of objectives against a brute-force definition, the knee of either
cost, and the table's columns."""

from __future__ import annotations

import random

import pytest

from shapenas.search.results.objectives import Objectives
from shapenas.search.results.pareto import FrontRow, knee, pair_front, table


def _row(trial, map50_95, gflops, ratio=None) -> FrontRow:
    ms = None if ratio is None else round(100 * ratio, 1)
    return FrontRow(trial, map50_95, 0.5, gflops, 1000, ms, ratio, f"t{trial}")


def _beaten_by_definition(rows, r, cost) -> bool:
    value = {"gflops": lambda x: x.gflops, "latency": lambda x: x.latency_ratio}[cost]
    return any(
        o.map50_95 >= r.map50_95 and value(o) <= value(r) and (o.map50_95 > r.map50_95 or value(o) < value(r))
        for o in rows
    )


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("cost", ["gflops", "latency"])
def test_pair_front_matches_the_definition(seed, cost):
    rng = random.Random(seed)
    rows = [
        _row(i, rng.choice([0.1, 0.2, 0.3]), rng.choice([1.0, 2.0, 3.0]), rng.choice([0.9, 1.0, 1.1]))
        for i in range(rng.randint(1, 10))
    ]
    expected = {r.trial for r in rows if not _beaten_by_definition(rows, r, cost)}
    assert {r.trial for r in pair_front(rows, cost)} == expected


def test_the_knee_is_taken_on_the_cost_asked_for():
    # by GFLOPs the bend is at trial 1; by latency the same rows bend at trial 2
    rows = [_row(0, 0.10, 1.0, 1.0), _row(1, 0.50, 2.0, 1.3), _row(2, 0.55, 3.0, 1.05), _row(3, 0.60, 4.0, 1.6)]
    assert knee(rows, "gflops").trial == 1
    assert knee(rows, "latency").trial == 2  # trial 1 is off the (mAP, latency) front: trial 2 beats it in both
    assert knee(rows[:2], "gflops").trial == 1  # two points: the better mAP


def test_table_shows_latency_only_when_it_was_measured():
    objectives = Objectives(("map50_95", "gflops"), imgsz=640)
    plain = table([_row(0, 0.3, 8.7)], objectives)
    assert "GFLOPs@640" in plain and "latency" not in plain
    timed = table([_row(0, 0.3, 8.7, 1.25)], Objectives(("map50_95", "latency"), imgsz=640)).splitlines()
    assert "latency ms" in timed[0] and "x base" in timed[0]
    # "-" in vs baseline: these rows come from no study, so they have no baseline to differ from
    assert timed[1].split()[:8] == ["0", "0.3000", "-", "0.5000", "8.700", "1,000", "125.0", "1.250"]
