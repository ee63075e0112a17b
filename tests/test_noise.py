"""The proxy's noise as a study holds it (`search.results.noise`) and how the front reads it: the figure on fixed
numbers, ties against the baseline, trials within the noise of the front, and the line that says the proxy cannot
rank. Studies are made directly through Optuna (no training); the noise runs themselves are trained in
tests/test_parent.py (one maker among two workers, reused on resume)."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from shapenas.search.loop.environment import ENVIRONMENT_ATTR, differences, environment, note_differences
from shapenas.search.results import pareto
from shapenas.search.results.noise import NOISE_ATTR, NoiseRuns, ProxyNoise, cannot_rank_line, study_noise
from shapenas.search.results.objectives import Objectives


def test_the_figure_is_the_sample_sd_and_the_band_that_of_a_difference_of_two_runs():
    noise = ProxyNoise({0: 0.4830, 1: 0.4957, 2: 0.5050})
    sd = float(np.std([0.4830, 0.4957, 0.5050], ddof=1))
    assert noise.sd == pytest.approx(sd, abs=1e-12)
    assert noise.band == pytest.approx(1.959964 * math.sqrt(2) * sd, abs=1e-9)
    assert noise.is_tie(noise.band - 1e-9) and not noise.is_tie(-(noise.band + 1e-9))
    assert ProxyNoise({0: 0.5}).sd is None and ProxyNoise({0: 0.5}).is_tie(0.0) is None
    assert "sd 0.0110" in noise.describe() and "seeds 0, 1, 2" in noise.describe()


def _trial(map50_95: float, gflops: float, summary: str, preset: str | None = None):
    attrs = {"summary": summary, "key": summary, "gflops": gflops, "params": 1, "map50": 0.0}
    if preset:
        attrs["preset"] = preset
    return optuna.trial.create_trial(values=[map50_95, gflops], user_attrs=attrs)


def _study(noise_runs: dict | None, trials) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    if noise_runs is not None:
        study.set_user_attr(NOISE_ATTR, noise_runs)
    for trial in trials:
        study.add_trial(trial)
    return study


RUNS = {"base_seed": 0, "seeds": {"1": {"map50_95": 0.49}, "2": {"map50_95": 0.51}, "3": {"failed": "nan loss"}}}
TRIALS = [
    _trial(0.50, 8.0, "baseline", "baseline"),
    _trial(0.52, 8.5, "A"),  # +0.02: within the band
    _trial(0.60, 9.0, "B"),  # +0.10: beyond it
    _trial(0.59, 9.5, "C"),  # off the front, 0.01 below B which dominates it
    _trial(0.30, 9.9, "D"),  # off the front, far below
]


def test_noise_runs_read_what_is_stored_and_write_it_back_in_the_same_spelling():
    runs = NoiseRuns.from_attr({**RUNS, "added_later": 1})
    assert runs.base_seed == 0 and runs.seeds[1].map50_95 == 0.49 and runs.seeds[3].failed == "nan loss"
    assert runs.to_attr() == {**RUNS, "environment": None}
    assert NoiseRuns.from_attr("not a dict") is None


def test_study_noise_adds_the_baseline_trial_as_its_seed_and_skips_failed_runs():
    noise = study_noise(_study(RUNS, TRIALS))
    assert noise.scores == {0: 0.50, 1: 0.49, 2: 0.51}
    assert study_noise(_study(None, TRIALS)) is None


def test_front_rows_carry_their_difference_from_the_baseline_and_whether_it_is_a_tie():
    study = _study(RUNS, TRIALS)
    rows = {row.summary: row for row in pareto.front(study)}
    band = ProxyNoise({0: 0.50, 1: 0.49, 2: 0.51}).band  # 0.0277
    assert set(rows) == {"baseline", "A", "B"}
    assert rows["A"].vs_baseline == pytest.approx(0.02) and rows["A"].tie is True
    assert rows["B"].vs_baseline == pytest.approx(0.10) and rows["B"].tie is False
    assert rows["B"].noise_band == pytest.approx(band)
    text = pareto.table(list(rows.values()), Objectives(("map50_95", "gflops"), imgsz=640))
    assert "+0.0200 tie" in text and "+0.1000  " in text and " baseline " in text
    assert "tie" in pareto.to_csv(list(rows.values())).splitlines()[0]
    assert pareto.within_noise_of_front(study, list(rows.values())) == [3]  # C; not D


def test_without_noise_runs_the_table_says_so_and_marks_nothing():
    study = _study(None, TRIALS)
    rows = pareto.front(study)
    assert all(row.tie is None for row in rows) and pareto.within_noise_of_front(study, rows) == []
    assert pareto.noise_notes(study, rows)[0].startswith("proxy noise: not measured")


def test_a_band_wider_than_the_spread_says_the_proxy_cannot_rank():
    noise = ProxyNoise({0: 0.40, 1: 0.50, 2: 0.45})
    assert "cannot rank these candidates" in cannot_rank_line(noise, [0.44, 0.46, 0.45])
    assert cannot_rank_line(noise, [0.10, 0.60]) is None
    assert cannot_rank_line(None, [0.1, 0.9]) is None


def test_a_process_with_another_environment_says_so_once(capsys):
    mine = environment("cpu")
    assert set(mine) >= {"torch", "ultralytics", "optuna", "device", "python"}
    assert differences(mine, dict(mine)) == []
    note_differences(mine, {ENVIRONMENT_ATTR: {**mine, "torch": "1.0"}}, "s")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"torch 1.0 -> {mine['torch']}" in err[0]
    note_differences(mine, {ENVIRONMENT_ATTR: dict(mine)}, "s")
    assert capsys.readouterr().err == ""
