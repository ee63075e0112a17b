"""Plots of a study: every trial with the front highlighted and the baseline marked; hypervolume over trials.

Two objectives make one panel (mAP50-95 against the cost). Three make one panel per pair of objectives, each the
projection of the same trials, with the members of the three-objective front highlighted (in a projection they need
not form a curve, so they are not joined).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402

from shapenas.search.results.noise import study_noise  # noqa: E402
from shapenas.search.results.objectives import Objectives  # noqa: E402
from shapenas.search.results.pareto import FrontRow  # noqa: E402
from shapenas.search.results.record import read, trained  # noqa: E402
from shapenas.text import count  # noqa: E402


def _label(trial: optuna.trial.FrozenTrial) -> str:
    """A trial's number, and a preset's name after it ("1 akconv_authors")."""
    preset = read(trial).preset
    return f"{trial.number} {preset}" if preset else str(trial.number)


def _number(ax, trials: list, on_front: set[int], x: int, y: int) -> None:
    """Every trial's label, so any trial of the table can be found: the front's in black, the others' lighter.
    Trials at one point (a reused twin and the trial it copied) share one label rather than overprint."""
    at: dict[tuple[float, float], list] = {}
    for t in trials:
        at.setdefault((t.values[x], t.values[y]), []).append(t)
    for position, group in at.items():
        color = "black" if any(t.number in on_front for t in group) else "0.5"
        text = ", ".join(_label(t) for t in group)
        ax.annotate(text, position, textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)


def _panel(ax, trials: list, rows: list[FrontRow], objectives: Objectives, x: int, y: int, band=None) -> None:
    """The trained `trials`, objective `x` against objective `y` (indices into their values); `band`, the study's
    noise band, is drawn around the baseline's mAP50-95."""
    on_front = {r.trial for r in rows}
    ax.scatter([t.values[x] for t in trials], [t.values[y] for t in trials], s=18, c="0.65", label="trials")
    front = sorted((t for t in trials if t.number in on_front), key=lambda t: t.values[x])
    style = "o-" if len(objectives.keys) == 2 else "o"
    ax.plot([t.values[x] for t in front], [t.values[y] for t in front], style, c="tab:blue", label="Pareto front")
    _number(ax, trials, on_front, x, y)
    baseline = next((t for t in trials if read(t).preset == "baseline"), None)
    if baseline is not None:
        point = ([baseline.values[x]], [baseline.values[y]])
        ax.scatter(*point, marker="*", s=160, c="tab:red", label="baseline", zorder=3)
        if band is not None and y == 0:
            level = baseline.values[0]
            ax.axhspan(level - band, level + band, color="tab:red", alpha=0.1, label=f"baseline ± noise ({band:.3f})")
    names = objectives.names
    ax.set_xlabel(names[x] + (" (proxy)" if x == 0 else ""))
    ax.set_ylabel(names[y] + (" (proxy)" if y == 0 else ""))
    ax.grid(alpha=0.3)


def plot_front(study: optuna.Study, rows: list[FrontRow], objectives: Objectives, path: Path) -> None:
    """mAP50-95 against each cost, and the costs against each other when there are two."""
    trials = trained(study)
    pairs = [(x, y) for y, x in combinations(range(len(objectives.keys)), 2)]  # mAP on the y axis, costs on x
    fig, axes = plt.subplots(1, len(pairs), figsize=(7 * len(pairs), 4.5), dpi=120, squeeze=False)
    noise = study_noise(study)
    band = None if noise is None else noise.band
    for ax, (x, y) in zip(axes[0], pairs, strict=True):
        _panel(ax, trials, rows, objectives, x, y, band)
    axes[0][0].legend(loc="lower right")
    fig.suptitle(f"study {study.study_name}: {count(len(trials), 'trained trial')}; costs at {objectives.imgsz} px")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def default_reference_point(study: optuna.Study) -> list[float]:
    """mAP50-95 0, and 1.1 x the worst value of each cost among the trained trials."""
    trials = trained(study)
    costs = range(1, len(study.directions))
    return [0.0, *(1.1 * max(t.values[i] for t in trials) for i in costs)]


def plot_hypervolume(study: optuna.Study, path: Path, reference_point: list[float] | None = None) -> None:
    """Optuna's hypervolume history, against `reference_point` (one value per objective; default
    `default_reference_point`)."""
    reference = reference_point or default_reference_point(study)
    ax = optuna.visualization.matplotlib.plot_hypervolume_history(study, reference_point=reference)
    names = study.metric_names or [f"objective {i}" for i in range(len(reference))]
    point = ", ".join(f"{name} {value:g}" for name, value in zip(names, reference, strict=True))
    ax.set_title(f"study {study.study_name}: {ax.get_title()}\nreference point: {point}", fontsize=9)
    ax.figure.set_size_inches(7, 4)
    ax.figure.tight_layout()
    ax.figure.savefig(path, format="png", dpi=120)
    plt.close(ax.figure)
