"""Pareto-rank early stopping: Optuna cannot prune multi-objective studies, so this is ours.

At rungs of the proxy budget (fractions of its epochs), each trial records its mAP50-95 at the rung; its point is that
mAP with its cost objectives (GFLOPs and/or the latency ratio, measured before training and stored on the trial). A
trial whose point falls in the worst fraction by non-dominated rank, among all trials that reached that rung, is
stopped and marked PRUNED, with the rung stored on it. Nothing is stopped until `min_peers` other trials reached the
rung.
"""

from __future__ import annotations

import optuna

from shapenas.evaluators.base import EpochMetrics
from shapenas.search.results import record
from shapenas.search.results.objectives import Objectives
from shapenas.search.results.pareto import dominates
from shapenas.text import count

Point = tuple[float, ...]  # (mAP50-95 at the rung: higher is better, then each cost: lower is better)


def nondominated_ranks(points: list[Point]) -> list[int]:
    """Rank 0 for the non-dominated points, 1 for those dominated only by rank 0, and so on (plain O(n^2) peeling)."""
    ranks = [-1] * len(points)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        layer = {i for i in remaining if not any(dominates(points[j], points[i]) for j in remaining)}
        for i in layer:
            ranks[i] = rank
        remaining -= layer
        rank += 1
    return ranks


def in_worst_fraction(ranks: list[int], index: int, worst: float) -> bool:
    """True when at least (1 - worst) of all points rank strictly better than point `index`."""
    better = sum(r < ranks[index] for r in ranks)
    return better >= (1.0 - worst) * len(ranks)


class ParetoRankStopper:
    """Call after each proxy epoch with (trial, epoch, metrics); raises `optuna.TrialPruned` to stop the trial."""

    def __init__(self, epochs: int, rungs: list[float], worst: float, objectives: Objectives, min_peers: int = 3):
        self.rung_epochs = sorted({max(1, round(f * epochs)) for f in rungs} - {epochs})
        self.worst, self.min_peers = worst, min_peers
        self.objectives = objectives

    def _point(self, stored: record.TrialRecord, map50_95: float) -> Point | None:
        costs = [getattr(stored, field) for field in self.objectives.cost_fields]
        return None if None in costs else (map50_95, *costs)

    def _peers(self, trial: optuna.Trial, epoch: int) -> list[Point]:
        others = (record.read(t) for t in trial.study.get_trials(deepcopy=False) if t.number != trial.number)
        points = (self._point(other, other.rungs[epoch]) for other in others if epoch in other.rungs)
        return [point for point in points if point is not None]

    def __call__(self, trial: optuna.Trial, epoch: int, metrics: EpochMetrics) -> None:
        if epoch not in self.rung_epochs:
            return
        mine = self._point(record.read(trial), metrics.map50_95)
        record.write_rung(trial, epoch, metrics.map50_95)
        peers = self._peers(trial, epoch)
        if mine is None or len(peers) < self.min_peers:
            return
        points = peers + [mine]
        if in_worst_fraction(nondominated_ranks(points), len(points) - 1, self.worst):
            record.write(trial, stopped_at_epoch=epoch)
            raise optuna.TrialPruned(
                f"epoch {epoch}: (mAP50-95 {mine[0]:.4f}, {self.objectives.costs_text(mine[1:])}) in the worst "
                f"{self.worst:.0%} by Pareto rank of {count(len(points), 'trial')}"
            )
