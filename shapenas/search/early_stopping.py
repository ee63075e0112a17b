"""Pareto-rank early stopping: Optuna cannot prune multi-objective studies, so this is ours.

At rungs of the proxy budget (fractions of its epochs), each trial records its (mAP50-95 at the rung, GFLOPs). A trial
whose point falls in the worst fraction by non-dominated rank, among all trials that reached that rung, is stopped
and marked PRUNED, with the rung stored on it. Nothing is stopped until `min_peers` other trials reached the rung.
"""

from __future__ import annotations

import optuna

from shapenas.evaluators.base import EpochMetrics
from shapenas.search import record

Point = tuple[float, float]  # (mAP50-95 at the rung: higher is better, GFLOPs: lower is better)


def dominates(a: Point, b: Point) -> bool:
    return a[0] >= b[0] and a[1] <= b[1] and a != b


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

    def __init__(self, epochs: int, rungs: list[float], worst: float, min_peers: int = 3):
        self.rung_epochs = sorted({max(1, round(f * epochs)) for f in rungs} - {epochs})
        self.worst, self.min_peers = worst, min_peers

    @staticmethod
    def _peers(trial: optuna.Trial, epoch: int) -> list[Point]:
        others = (record.read(t) for t in trial.study.get_trials(deepcopy=False) if t.number != trial.number)
        return [
            (other.rungs[epoch], other.gflops) for other in others if epoch in other.rungs and other.gflops is not None
        ]

    def __call__(self, trial: optuna.Trial, epoch: int, metrics: EpochMetrics) -> None:
        if epoch not in self.rung_epochs:
            return
        mine = (metrics.map50_95, record.read(trial).gflops)
        record.write_rung(trial, epoch, mine[0])
        peers = self._peers(trial, epoch)
        if len(peers) < self.min_peers:
            return
        points = peers + [mine]
        if in_worst_fraction(nondominated_ranks(points), len(points) - 1, self.worst):
            record.write(trial, stopped_at_epoch=epoch)
            raise optuna.TrialPruned(
                f"epoch {epoch}: (mAP50-95 {mine[0]:.4f}, {mine[1]:.3f} GFLOPs) in the worst "
                f"{self.worst:.0%} by Pareto rank of {len(points)} trials"
            )
