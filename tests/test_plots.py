"""What the plots draw (issue 21, item 9): every trial numbered on the front plot, presets by name; a one-trial
verified front still drawn; the hypervolume plot's title naming the study and the reference point's objectives."""

from __future__ import annotations

import matplotlib.pyplot as plt
import optuna
import pytest

from shapenas.config_schema import ProxyConfig
from shapenas.search.results import pareto, plots
from shapenas.search.results.record import trained
from shapenas.search.verify import plot as verify_plot
from shapenas.search.verify import reporting as verify_report
from shapenas.search.verify import verified
from tests.helpers import GFLOPS_AT_64
from tests.test_verified import SETTINGS, seeds


def _study(trials: list[tuple[float, float, str, str | None]]) -> optuna.Study:
    """Trained-looking trials (mAP50-95, GFLOPs, key, preset); equal keys are twins."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", directions=["maximize", "minimize"])
    study.set_metric_names(["mAP50-95", "GFLOPs@640"])
    for value, gflops, key, preset in trials:
        attrs = {"key": key, "summary": preset or key, "gflops": gflops, **({"preset": preset} if preset else {})}
        study.add_trial(optuna.trial.create_trial(values=[value, gflops], user_attrs=attrs))
    return study


def test_the_front_plot_numbers_every_trial_off_the_front_lighter_and_presets_by_name(tmp_path):
    study = _study(
        [
            (0.50, 8.0, "base", "baseline"),
            (0.40, 9.0, "ak", "akconv_authors"),  # off the front
            (0.55, 8.5, "a", None),
            (0.45, 8.8, "b", None),  # off the front
            (0.55, 8.5, "a", None),  # trial 2's twin, at the same point
        ]
    )
    fig, ax = plt.subplots()
    plots._panel(ax, trained(study), pareto.front(study), GFLOPS_AT_64, 1, 0)
    labels = {text.get_text(): text.get_color() for text in ax.texts}
    plt.close(fig)
    assert labels == {"0 baseline": "black", "1 akconv_authors": "0.5", "2, 4": "black", "3": "0.5"}
    plots.plot_front(study, pareto.front(study), GFLOPS_AT_64, tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0


def test_the_hypervolume_title_names_the_study_and_each_objective_of_the_reference_point(tmp_path, monkeypatch):
    study = _study([(0.50, 8.0, "base", "baseline"), (0.55, 8.5, "a", None)])
    closed = []
    monkeypatch.setattr(plots.plt, "close", closed.append)  # keep the figure to read its title
    plots.plot_hypervolume(study, tmp_path / "hv.png", reference_point=[0.0, 9.35])
    (title,) = {ax.get_title() for ax in closed[0].axes}
    assert title.startswith("study s: ") and title.endswith("\nreference point: mAP50-95 0, GFLOPs@640 9.35")
    plt.close(closed[0])


@pytest.mark.parametrize("objectives", [2, 3])
def test_a_one_trial_verified_front_is_drawn(tmp_path, objectives):
    """The baseline beats trial 1 once verified (better mAP50-95, fewer GFLOPs), so the verified front is one trial:
    a line through one point draws nothing, so each member has a marker."""
    study = _study([(0.50, 8.0, "base", "baseline"), (0.55, 8.5, "a", None)])
    budget = verified.Budget(ProxyConfig(**SETTINGS, seed=0))
    for number, maps in enumerate([(0.40, 0.42), (0.30, 0.31)]):
        verified.write_entries(study, number, {budget.key: verified.summary(budget.settings(), seeds(*maps))})
    rows = verify_report.rows(study, budget.key)
    front = verify_report.verified_front(study, rows)
    assert [r.trial for r in front] == [0]
    names = ["mAP50-95", "GFLOPs@640", "latency"][:objectives]
    fig, ax = plt.subplots()
    verify_plot._panel(ax, rows, front, 1, names)
    (line,) = [line for line in ax.lines if line.get_label() == "verified front"]
    plt.close(fig)
    assert line.get_marker() == "s" and list(line.get_xdata()) == [8.0]
    verify_plot.plot_verified(study, rows, budget.key, tmp_path / "verified.png")
    assert (tmp_path / "verified.png").stat().st_size > 0
