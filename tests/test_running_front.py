"""The front's size after each trial (`RunningFront`, kept up to date one trial at a time) against Optuna's
`best_trials` recomputed from every trial: equal after every trial, on random studies with two and three objectives,
ties, duplicates, rejected candidates (infeasible) and trials finished by another process between two looks."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.search.results import record
from shapenas.search.results.running_front import RunningFront


def _study(objectives: int) -> optuna.Study:
    return optuna.create_study(directions=["maximize"] + ["minimize"] * (objectives - 1))


def _add(study: optuna.Study, rng: random.Random, objectives: int) -> None:
    """A finished trial as the objective leaves one: constraints set (rejected: over the limit), values told."""
    trial = study.ask()
    rejected = rng.random() < 0.15
    trial.set_constraint("max_gflops", 1.0 if rejected else -1.0)
    if rejected:
        record.write(trial, rejected="gflops 9 > max_gflops 8")
    study.tell(trial, [rng.randint(0, 6) / 10 for _ in range(objectives)])  # coarse: ties and duplicates are common


@pytest.mark.parametrize("objectives", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_the_running_front_equals_optuna_best_trials_after_every_trial(objectives, seed):
    rng, study = random.Random(seed), _study(objectives)
    front = RunningFront(study)
    for _ in range(60):
        for _ in range(rng.choice([1, 1, 1, 3])):  # now and then several trials between two looks
            _add(study, rng, objectives)
        assert front.size() == len(study.best_trials)
    assert set(front.members) == {t.number for t in study.best_trials}


def test_failed_and_running_trials_are_not_on_it():
    study = _study(2)
    front = RunningFront(study)
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    study.ask()  # running
    trained = study.ask()
    trained.set_constraint("max_gflops", -1.0)
    study.tell(trained, [0.5, 8.0])
    assert front.size() == 1 == len(study.best_trials)
