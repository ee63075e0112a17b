"""What verify concludes (search.verify.verified, verify_report): seed scores and summaries, Pareto dominance over
the study's objectives, ranks and Kendall's tau (each against a slow reference), and the printed comparison, with the
paired test against the baseline, on studies whose verified results are known (old entries among them)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import optuna
import pytest
from optuna.study import StudyDirection

from shapenas.config_schema import ProxyConfig
from shapenas.search.results import pareto
from shapenas.search.verify import reporting as verify_report
from shapenas.search.verify import verified

SETTINGS = {"epochs": 12, "imgsz": 128, "batch": 16, "init": "parent"}


def seeds(*maps: float) -> dict[int, verified.SeedResult]:
    return {seed: verified.SeedResult(map50_95=m, map50=2 * m) for seed, m in enumerate(maps)}


FAILED = verified.SeedResult(failed="loss became nan")


def test_summary_is_the_mean_and_the_range_over_the_seeds_that_finished():
    entry = verified.summary(SETTINGS, {**seeds(0.30, 0.36, 0.33), 3: FAILED}).to_attr()
    assert (entry["epochs"], entry["imgsz"], entry["proxy"]) == (12, 128, SETTINGS)
    assert entry["map50_95"] == pytest.approx(0.33) and entry["map50"] == pytest.approx(0.66)
    assert entry["map50_95_range"] == pytest.approx(0.06) and entry["spread"] == "max - min over seeds"
    assert sorted(entry["seeds"]) == ["0", "1", "2", "3"] and entry["seeds"]["3"] == {"failed": "loss became nan"}
    one = verified.summary(SETTINGS, seeds(0.4)).to_attr()
    assert one["map50_95"] == 0.4 and one["map50_95_range"] is None
    failed = verified.summary(SETTINGS, {0: verified.SeedResult(failed="out of memory")}).to_attr()
    assert failed["map50_95"] is None and failed["map50_95_range"] is None


def test_a_seed_scores_its_best_epoch_and_a_failed_or_incomplete_seed_has_no_score(monkeypatch):
    read = verified.SeedResult.from_attr  # as stored
    result = read({"map50_95": 0.52, "map50": 0.8, "epoch_map50_95": [0.45, 0.52, 0.50]})
    old = read({"map50_95": 0.41, "map50": 0.7})  # written before epoch curves were kept
    assert verified.SCORE == "best epoch" and verified.seed_score(result) == 0.52 and verified.seed_score(old) == 0.41
    assert verified.seed_score(FAILED) is None
    monkeypatch.setattr(verified, "SCORE", "last epoch")
    assert verified.seed_score(result) == 0.50 and verified.seed_score(old) is None
    assert verified.seed_scores({"0": result, "1": old, "2": read({"failed": "x"})}) == {"0": 0.50}
    monkeypatch.setattr(verified, "SCORE", "mean of the last 2 epochs")
    assert verified.seed_score(result) == pytest.approx(0.51)
    other = dataclasses.replace(result, epoch_map50_95=[0.4, 0.48])
    entry = verified.summary(SETTINGS, {0: result, 1: other}).to_attr()
    assert entry["score"] == "mean of the last 2 epochs" and entry["map50_95"] == pytest.approx(0.475)


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
    2; after verification the baseline overtakes trial 1 (but not beyond the paired interval), trial 2 is worse, trial
    3 from off the front is better, and trial 4 has one seed."""
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
    verified_maps = [(0.40, 0.41, 0.42), (0.38, 0.40, 0.39), (0.30, 0.31, 0.305), (0.47, 0.49, 0.48), (0.60,)]
    budget = verified.Budget(ProxyConfig(**SETTINGS, seed=0))
    for number, ((value, gflops, summary), maps) in enumerate(zip(proxy, verified_maps, strict=True)):
        attrs = {"summary": summary, "key": summary, **({"preset": "baseline"} if summary == "baseline" else {})}
        study.add_trial(optuna.trial.create_trial(values=[value, gflops], user_attrs=attrs))
        verified.write_entries(study, number, {budget.key: verified.summary(budget.settings(), seeds(*maps))})
    return study, budget.key


def test_the_report_ranks_tests_each_trial_against_the_baseline_and_names_overtaken_front_members():
    study, key = _study_with_verified_results()
    lines = verify_report.report(study, key).splitlines()
    assert lines[0] == (
        f"every trial verified at 12 epochs, 128 px (budget {key}); score: best epoch mAP50-95 of each seed, verified "
        "mAP = its mean over seeds, range = max - min over seeds; vs baseline: mean difference paired by seed, 95% t "
        "interval over the seeds both trained (n = 1-3), better/worse only when it excludes 0 and n >= 3"
    )
    assert lines[1].split()[:7] == ["trial", "proxy", "mAP", "rank", "verified", "mAP", "range"]
    rows = {int(line.split()[0]): line.split() for line in lines[2:7]}
    assert rows[0][1:8] == ["0.2000", "3", "0.4100", "0.0200", "3", "8.000", "baseline"]
    # trial 1: differences -0.02, -0.01, -0.03; mean -0.02 +- t(0.975, 2) 4.303 x 0.01 / sqrt(3)
    assert rows[1][1:11] == ["0.2500", "1", "0.3900", "0.0200", "4", "8.500", "-0.0200", "[-0.0448,", "+0.0048]"] + [
        "inconclusive"
    ]
    assert rows[2][1:11] == ["0.1500", "4", "0.3050", "0.0100", "5", "7.000", "-0.1050", "[-0.1265,", "-0.0835]"] + [
        "worse"
    ]
    assert rows[3][1:11] == ["0.1000", "5", "0.4800", "0.0200", "2", "9.000", "+0.0700", "[+0.0452,", "+0.0948]"] + [
        "better"
    ]
    # one seed, paired with the baseline's seed 0 (0.40), not with its mean
    assert rows[4][1:11] == ["0.2200", "2", "0.6000", "-", "1", "9.500", "+0.2000", "inconclusive", "(1", "seed)"]
    tau = _tau_b_reference([0.20, 0.25, 0.15, 0.10, 0.22], [0.41, 0.39, 0.305, 0.48, 0.60])
    assert lines[7] == f"Kendall tau between proxy and verified mAP50-95 over 5 verified trials: {tau:.2f}"
    assert lines[8] == (
        "3 verified members of the proxy's front; not dominated after verification: trial 0, trial 2; "
        "dominated: trial 1 (by trial 0)"
    )
    assert lines[9] == (
        "verified front, by GFLOPs: trial 2, trial 0, trial 3, trial 4 (trial 3, trial 4 not on the proxy's front)"
    )


def test_tau_over_fewer_than_three_trials_is_na_with_why_and_counts_of_one_are_singular():
    study, key = _study_with_verified_results()
    rows = verify_report.rows(study, key)
    head = "Kendall tau between proxy and verified mAP50-95 over"
    why = "n/a (needs 3 or more: over 2 trials it can only be -1 or +1)"
    assert verify_report.tau_line(rows[:2]) == f"{head} 2 verified trials: {why}"
    assert verify_report.tau_line(rows[:1]) == f"{head} 1 verified trial: {why}"
    tied = [verify_report.Row(n, "", [0.2, 8.0], [0.3 + n, 8.0], {}, False) for n in range(3)]
    assert (
        verify_report.tau_line(tied)
        == f"{head} 3 verified trials: n/a (the proxy or the verified values are all equal)"
    )
    assert verify_report.front_lines(study, rows[:1])[0].startswith("1 verified member of the proxy's front;")


def test_three_objectives_the_report_shows_every_cost_and_keeps_a_faster_trial_on_the_verified_front(tmp_path):
    """Latency as a third objective: trial 1 is beaten by the baseline in mAP50-95 and GFLOPs once verified, but it
    is faster, so it stays on the verified front; the table and the plot show both costs."""
    from shapenas.search.verify.plot import plot_verified

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
        verified.write_entries(study, number, {budget.key: verified.summary(budget.settings(), seeds(*maps))})
    lines = verify_report.report(study, budget.key).splitlines()
    assert "GFLOPs@640" in lines[1] and "latency/base@640" in lines[1]
    rows = {int(line.split()[0]): line.split() for line in lines[2:5]}
    assert rows[1][1:8] == ["0.2500", "1", "0.3900", "0.0200", "2", "8.500", "0.900"]
    assert lines[-1] == "verified front, by GFLOPs@640 and latency/base@640: trial 0, trial 1"
    path = tmp_path / "verified.png"
    plot_verified(study, verify_report.rows(study, budget.key), budget.key, path)
    width, height = (int.from_bytes(path.read_bytes()[i : i + 4], "big") for i in (16, 20))
    assert width > 2 * height  # one panel per cost, side by side


def _old_entry(*seed_results: dict) -> dict:
    """An entry as older versions wrote it: no `score`, the mean and range of the best epochs stored beside."""
    maps = [r["map50_95"] for r in seed_results if "failed" not in r]
    return {
        "epochs": 12,
        "imgsz": 128,
        "proxy": SETTINGS,
        "seeds": {str(seed): result for seed, result in enumerate(seed_results)},
        "spread": "max - min over seeds",
        "map50_95": sum(maps) / len(maps),
        "map50": 0.5,
        "map50_95_range": max(maps) - min(maps),
    }


def test_old_entries_read_with_todays_score_and_a_failed_seed_drops_its_pair(monkeypatch):
    """The baseline's seed 2 failed, so the trial pairs on seeds 0 and 1 only; the trial's seed 1 has no epoch curve
    (written before curves were kept), so scoring by the last epoch leaves it out too."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    curve = lambda best, last: {"map50_95": best, "map50": 0.5, "epoch_map50_95": [best - 0.1, best, last]}  # noqa: E731
    baseline = _old_entry(curve(0.40, 0.38), curve(0.42, 0.41), {"failed": "out of memory"})
    trial = _old_entry(curve(0.45, 0.44), {"map50_95": 0.47, "map50": 0.5}, curve(0.46, 0.45))
    for number, (entry, preset) in enumerate([(baseline, "baseline"), (trial, "x")]):
        attrs = {"summary": preset, "key": preset, "preset": preset}
        study.add_trial(optuna.trial.create_trial(values=[0.3, 8.0], user_attrs=attrs))
        study.set_user_attr(verified.attr_name(number), {"old": entry})
    lines = verify_report.report(study, "old").splitlines()
    assert "score: best epoch mAP50-95" in lines[0] and "(n = 2)" in lines[0]
    assert lines[3].split()[3:5] == ["0.4600", "0.0200"]  # the trial's three seeds, ranged
    assert lines[3].split()[7:10] == ["+0.0500", "inconclusive", "(2"]  # (0.05 + 0.05) / 2, seed 2 unpaired
    monkeypatch.setattr(verified, "SCORE", "last epoch")
    lines = verify_report.report(study, "old").splitlines()
    assert "score: last epoch mAP50-95" in lines[0] and "(n = 1)" in lines[0]
    assert lines[2].split()[3] == "0.3950" and lines[3].split()[3:5] == ["0.4450", "0.0100"]
    assert lines[3].split()[7:10] == ["+0.0600", "inconclusive", "(1"]  # seed 0 only: 0.44 - 0.38
