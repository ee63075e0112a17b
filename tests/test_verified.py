"""What verify concludes (shapenas.search.verified, verify_report): seed summaries, real-or-noise against the
baseline, Pareto dominance over the study's objectives, ranks and Kendall's tau (each against a slow reference), and
the printed comparison on a study whose verified results are known."""

from __future__ import annotations

import itertools
import math
import random

import optuna
import pytest
from optuna.study import StudyDirection

from shapenas.config_schema import ProxyConfig
from shapenas.search import pareto, verified, verify_report

SETTINGS = {"epochs": 12, "imgsz": 128, "batch": 16, "init": "parent"}


def seeds(*maps: float) -> dict[int, dict]:
    return {seed: {"map50_95": m, "map50": 2 * m} for seed, m in enumerate(maps)}


def test_summary_is_the_mean_and_the_range_over_the_seeds_that_finished():
    entry = verified.summary(SETTINGS, {**seeds(0.30, 0.36, 0.33), 3: {"failed": "loss became nan"}})
    assert (entry["epochs"], entry["imgsz"], entry["proxy"]) == (12, 128, SETTINGS)
    assert entry["map50_95"] == pytest.approx(0.33) and entry["map50"] == pytest.approx(0.66)
    assert entry["map50_95_range"] == pytest.approx(0.06) and entry["spread"] == "max - min over seeds"
    assert sorted(entry["seeds"]) == ["0", "1", "2", "3"] and entry["seeds"]["3"] == {"failed": "loss became nan"}
    one = verified.summary(SETTINGS, seeds(0.4))
    assert one["map50_95"] == 0.4 and one["map50_95_range"] is None
    failed = verified.summary(SETTINGS, {0: {"failed": "out of memory"}})
    assert failed["map50_95"] is None and failed["map50_95_range"] is None


@pytest.mark.parametrize(
    "trial, baseline, expected",
    [
        (seeds(0.50, 0.52), seeds(0.40, 0.43), "real"),  # 0.095 apart, ranges 0.02 and 0.03
        (seeds(0.44, 0.52), seeds(0.40, 0.43), "noise"),  # 0.065 apart, but the trial's own range is 0.08
        (seeds(0.45, 0.46), seeds(0.36, 0.46), "noise"),  # 0.045 apart, the baseline's range 0.10
        (seeds(0.30, 0.31), seeds(0.40, 0.41), "real"),  # worse, for real
        (seeds(0.9), seeds(0.1), "n/a (1 seed)"),  # one seed: nothing is real
    ],
)
def test_a_difference_is_real_only_when_it_exceeds_both_seed_ranges(trial, baseline, expected):
    assert verified.verdict(verified.summary(SETTINGS, trial), verified.summary(SETTINGS, baseline)) == expected


def _dominates_reference(a, b, directions) -> bool:
    as_min = [(-x, -y) if d == StudyDirection.MAXIMIZE else (x, y) for x, y, d in zip(a, b, directions, strict=True)]
    return all(x <= y for x, y in as_min) and any(x < y for x, y in as_min)


def test_dominance_over_any_objectives_matches_the_reference():
    rng = random.Random(0)
    for _ in range(500):
        count = rng.choice([2, 3])
        directions = [rng.choice([StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]) for _ in range(count)]
        a, b = ([rng.choice([0.1, 0.2, 0.3]) for _ in range(count)] for _ in range(2))
        assert pareto.dominates(a, b, directions) == _dominates_reference(a, b, directions)


def _tau_b_reference(a, b) -> float:
    pairs = list(itertools.combinations(range(len(a)), 2))
    sign = lambda v: (v > 0) - (v < 0)  # noqa: E731
    products = [sign(a[i] - a[j]) * sign(b[i] - b[j]) for i, j in pairs]
    ties_a = sum(a[i] == a[j] for i, j in pairs)
    ties_b = sum(b[i] == b[j] for i, j in pairs)
    denominator = math.sqrt((len(pairs) - ties_a) * (len(pairs) - ties_b))
    return (products.count(1) - products.count(-1)) / denominator if denominator else math.nan


def test_ranks_and_kendall_tau_match_slow_references():
    rng = random.Random(1)
    for n in (2, 3, 5, 8, 13):
        a = [rng.choice([0.1, 0.2, 0.3, 0.4]) for _ in range(n)]
        b = [rng.random() for _ in range(n)]
        assert verified.ranks(a) == [1 + sum(o > x for o in a) for x in a]
        reference, got = _tau_b_reference(a, b), verified.kendall_tau(a, b)
        assert (math.isnan(reference) and math.isnan(got)) or got == pytest.approx(reference)
    assert math.isnan(verified.kendall_tau([0.5], [0.5]))


def _study_with_verified_results() -> optuna.Study:
    """Proxy values and verified seeds for five trials: the proxy's front is the baseline, trial 1 and the cheap trial
    2; after verification the baseline overtakes trial 1, trial 3 from off the front beats the baseline for real, and
    trial 4 has one seed."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["mAP50-95", "GFLOPs"])
    proxy = [
        (0.20, 8.0, "baseline"),
        (0.25, 8.5, "front"),
        (0.15, 7.0, "front cheap"),
        (0.10, 9.0, "off"),
        (0.22, 9.5, "one"),
    ]
    verified_maps = [(0.40, 0.42), (0.38, 0.40), (0.30, 0.31), (0.47, 0.49), (0.60,)]
    budget = verified.Budget(ProxyConfig(**SETTINGS, seed=0))
    for number, ((value, gflops, summary), maps) in enumerate(zip(proxy, verified_maps, strict=True)):
        attrs = {"summary": summary, "key": summary, **({"preset": "baseline"} if summary == "baseline" else {})}
        study.add_trial(optuna.trial.create_trial(values=[value, gflops], user_attrs=attrs))
        study.set_user_attr(verified.attr_name(number), {budget.key: verified.summary(budget.settings(), seeds(*maps))})
    return study, budget.key


def test_the_report_ranks_marks_real_differences_and_names_overtaken_front_members():
    study, key = _study_with_verified_results()
    lines = verify_report.report(study, key).splitlines()
    assert lines[0].startswith("every trial verified at 12 epochs, 128 px")
    assert lines[1].split()[:7] == ["trial", "proxy", "mAP", "rank", "verified", "mAP", "range"]
    rows = {int(line.split()[0]): line.split() for line in lines[2:7]}
    assert rows[0][1:8] == ["0.2000", "3", "0.4100", "0.0200", "3", "8.000", "baseline"]
    assert rows[1][1:9] == ["0.2500", "1", "0.3900", "0.0200", "4", "8.500", "-0.0200", "noise"]  # not > 0.02
    assert rows[2][1:9] == ["0.1500", "4", "0.3050", "0.0100", "5", "7.000", "-0.1050", "real"]
    assert rows[3][1:9] == ["0.1000", "5", "0.4800", "0.0200", "2", "9.000", "+0.0700", "real"]
    assert rows[4][1:11] == ["0.2200", "2", "0.6000", "-", "1", "9.500", "+0.1900", "n/a", "(1", "seed)"]
    tau = _tau_b_reference([0.20, 0.25, 0.15, 0.10, 0.22], [0.41, 0.39, 0.305, 0.48, 0.60])
    assert lines[7] == f"Kendall tau between proxy and verified mAP50-95 over 5 verified trials: {tau:.2f}"
    assert lines[8] == (
        "3 verified members of the proxy's front; not dominated after verification: trial 0, trial 2; "
        "dominated: trial 1 (by trial 0)"
    )
    assert lines[9] == (
        "verified front, by GFLOPs: trial 2, trial 0, trial 3, trial 4 (trial 3, trial 4 not on the proxy's front)"
    )


def test_three_objectives_the_report_shows_every_cost_and_keeps_a_faster_trial_on_the_verified_front(tmp_path):
    """Latency as a third objective: trial 1 is beaten by the baseline in mAP50-95 and GFLOPs once verified, but it
    is faster, so it stays on the verified front; the table and the plot show both costs."""
    from shapenas.search.verify_plot import plot_verified

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.set_metric_names(["mAP50-95", "GFLOPs@640", "latency/base@640"])
    budget = verified.Budget(ProxyConfig(**SETTINGS, seed=0))
    proxy = [(0.20, 8.0, 1.00, "baseline"), (0.25, 8.5, 0.90, "fast"), (0.18, 9.0, 1.20, "slow")]
    for number, ((value, gflops, ratio, summary), maps) in enumerate(
        zip(proxy, [(0.40, 0.42), (0.38, 0.40), (0.30, 0.31)], strict=True)
    ):
        attrs = {"summary": summary, "key": summary, **({"preset": "baseline"} if summary == "baseline" else {})}
        study.add_trial(optuna.trial.create_trial(values=[value, gflops, ratio], user_attrs=attrs))
        study.set_user_attr(verified.attr_name(number), {budget.key: verified.summary(budget.settings(), seeds(*maps))})
    lines = verify_report.report(study, budget.key).splitlines()
    assert "GFLOPs@640" in lines[1] and "latency/base@640" in lines[1]
    rows = {int(line.split()[0]): line.split() for line in lines[2:5]}
    assert rows[1][1:8] == ["0.2500", "1", "0.3900", "0.0200", "2", "8.500", "0.900"]
    assert lines[-1] == "verified front, by GFLOPs@640 and latency/base@640: trial 0, trial 1"
    path = tmp_path / "verified.png"
    plot_verified(study, verify_report.rows(study, budget.key), budget.key, path)
    width, height = (int.from_bytes(path.read_bytes()[i : i + 4], "big") for i in (16, 20))
    assert width > 2 * height  # one panel per cost, side by side
