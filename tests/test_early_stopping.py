"""Pareto-rank early stopping: the ranking against a brute-force definition, the stopper on a real Optuna study,
and a real search in which dominated trials are stopped at the rung and marked PRUNED."""

import random

import optuna
import pytest
from optuna.trial import TrialState

from shapenas.evaluators import EpochMetrics
from shapenas.search.loop.early_stopping import ParetoRankStopper, dominates, in_worst_fraction, nondominated_ranks
from shapenas.search.results.objectives import Objectives
from shapenas.search.results.record import rung_attr
from tests.helpers import load, shapenas_cli, write_config

GFLOPS = Objectives(("map50_95", "gflops"), imgsz=640)
THREE = Objectives(("map50_95", "gflops", "latency"), imgsz=640)


def brute_force_rank(points, i):
    """Rank by definition: 0 if nobody dominates i, else 1 + the highest rank among those that dominate it."""
    dominators = [j for j in range(len(points)) if dominates(points[j], points[i])]
    return 0 if not dominators else 1 + max(brute_force_rank(points, j) for j in dominators)


@pytest.mark.parametrize("seed", range(20))
def test_ranks_match_the_definition(seed):
    rng = random.Random(seed)
    points = [(rng.choice([0.1, 0.2, 0.3, 0.4]), rng.choice([1.0, 2.0, 3.0])) for _ in range(rng.randint(1, 12))]
    assert nondominated_ranks(points) == [brute_force_rank(points, i) for i in range(len(points))]


@pytest.mark.parametrize("seed", range(10))
def test_ranks_match_the_definition_with_two_costs(seed):
    rng = random.Random(seed)
    points = [
        (rng.choice([0.1, 0.2, 0.3]), rng.choice([1.0, 2.0]), rng.choice([0.9, 1.0, 1.1]))
        for _ in range(rng.randint(1, 12))
    ]
    assert nondominated_ranks(points) == [brute_force_rank(points, i) for i in range(len(points))]


def test_worst_fraction():
    ranks = [0, 0, 1, 2]
    assert [in_worst_fraction(ranks, i, 0.25) for i in range(4)] == [False, False, False, True]
    assert [in_worst_fraction(ranks, i, 0.5) for i in range(4)] == [False, False, True, True]


def _study_with_rung(points):
    study = optuna.create_study(directions=["maximize", "minimize"])
    for map50_95, gflops in points:
        study.add_trial(
            optuna.trial.create_trial(values=[map50_95, gflops], user_attrs={"gflops": gflops, rung_attr(1): map50_95})
        )
    return study


def test_stopper_prunes_a_dominated_trial_and_stores_the_rung():
    study = _study_with_rung([(0.5, 1.0), (0.6, 2.0), (0.7, 3.0)])
    stopper = ParetoRankStopper(epochs=3, rungs=[0.333], worst=0.5, objectives=GFLOPS)
    trial = study.ask()
    trial.set_user_attr("gflops", 2.5)
    with pytest.raises(optuna.TrialPruned):
        stopper(trial, 1, EpochMetrics(0.4, 0.5))
    assert trial.study.trials[-1].user_attrs["stopped_at_epoch"] == 1
    good = study.ask()
    good.set_user_attr("gflops", 0.5)
    stopper(good, 1, EpochMetrics(0.8, 0.9))  # on the front: goes on
    stopper(good, 2, EpochMetrics(0.1, 0.2))  # not a rung
    assert rung_attr(1) in study.trials[-1].user_attrs


def test_three_objectives_a_trial_better_in_latency_only_goes_on():
    """With latency as a third objective, a trial dominated in (mAP, GFLOPs) but the fastest is on the front."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for map50_95, gflops, ratio in [(0.5, 1.0, 1.2), (0.6, 2.0, 1.3), (0.7, 3.0, 1.4)]:
        attrs = {"gflops": gflops, "latency_ratio": ratio, rung_attr(1): map50_95}
        study.add_trial(optuna.trial.create_trial(values=[map50_95, gflops, ratio], user_attrs=attrs))
    stopper = ParetoRankStopper(epochs=3, rungs=[0.333], worst=0.5, objectives=THREE)
    fast = study.ask()
    fast.set_user_attr("gflops", 2.5)
    fast.set_user_attr("latency_ratio", 0.9)
    stopper(fast, 1, EpochMetrics(0.4, 0.5))  # dominated in (mAP, GFLOPs) by trial 1, yet the fastest: goes on
    slow = study.ask()
    slow.set_user_attr("gflops", 2.5)
    slow.set_user_attr("latency_ratio", 1.5)
    with pytest.raises(optuna.TrialPruned, match=r"GFLOPs@640 2\.500, latency/base@640 1\.500"):
        stopper(slow, 1, EpochMetrics(0.4, 0.5))


def test_no_stopping_before_enough_peers():
    study = _study_with_rung([(0.9, 0.1)])
    trial = study.ask()
    trial.set_user_attr("gflops", 5.0)
    # dominated by its one peer and in the worst 90%, but one peer is fewer than min_peers=3: it goes on
    ParetoRankStopper(epochs=3, rungs=[0.333], worst=0.9, objectives=GFLOPS)(
        trial, 1, EpochMetrics(0.0, 0.0)
    )  # raises no TrialPruned
    stored = study.trials[-1].user_attrs
    assert stored[rung_attr(1)] == 0.0 and "stopped_at_epoch" not in stored


@pytest.mark.slow
def test_search_stops_dominated_trials_at_the_rung(tmp_path, tiny_data):
    config = write_config(tmp_path, tiny_data, trials=6)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    shapenas_cli(
        "search",
        config,
        "--storage",
        storage,
        "--study",
        "e",
        "--set",
        "proxy.epochs=2",
        "--set",
        "search.early_stop=pareto_rank",
        "--set",
        "search.early_stop_rungs=[0.5]",
        "--set",
        "search.early_stop_worst=0.99",
        cwd=tmp_path,
    )
    trials = load(storage, "e").trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len([t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 6
    assert pruned, "with worst=0.99 a dominated trial past the third must be stopped"
    for trial in pruned:
        assert trial.user_attrs["stopped_at_epoch"] == 1 and rung_attr(1) in trial.user_attrs
        assert "map50_95" not in trial.user_attrs  # never finished its budget
