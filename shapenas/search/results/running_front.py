"""The size of a study's front after every trial, without recomputing the front from every trial each time.

`study.best_trials` deep-copies and sorts every trial of the study; after each trial of a 10,000-trial study that was
3.4 s of a worker's CPU (BENCHMARKS.md section 11). The front of a set of points changes by one insertion at a time:
a new point either is dominated by a member (nothing changes) or joins and drops the members it dominates. That is
exact, because a point dominated by a dropped member is dominated by the point that dropped it too. So each look
compares only the trials finished since the last one, against the members. Trained trials only, as the front is
(`record.is_trained`: a candidate rejected by a constraint is infeasible, and Optuna leaves it off `best_trials`).
"""

from __future__ import annotations

import optuna

from shapenas.search.results import record
from shapenas.search.results.pareto import dominates


class RunningFront:
    """The front of `study`'s trained trials, brought up to date by `size()`."""

    def __init__(self, study: optuna.Study):
        self.study = study
        self.members: dict[int, list[float]] = {}  # trial number -> objective values
        self._seen: set[int] = set()

    def size(self) -> int:
        """How many trials are on the front now, counting the trials that finished since the last call."""
        for trial in record.trained(self.study):
            if trial.number not in self._seen:
                self._seen.add(trial.number)
                self._add(trial.number, trial.values)
        return len(self.members)

    def _add(self, number: int, values: list[float]) -> None:
        directions = self.study.directions
        if any(dominates(member, values, directions) for member in self.members.values()):
            return
        beaten = [n for n, member in self.members.items() if dominates(values, member, directions)]
        for other in beaten:
            del self.members[other]
        self.members[number] = values
