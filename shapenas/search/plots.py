"""Plots of a study: every trial with the front highlighted and the baseline marked; hypervolume over trials."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402

from shapenas.search.pareto import FrontRow  # noqa: E402
from shapenas.search.record import read, trained  # noqa: E402


def _baseline(study: optuna.Study):
    return next((t for t in trained(study) if read(t).preset == "baseline"), None)


def plot_front(study: optuna.Study, rows: list[FrontRow], path: Path) -> None:
    trials = trained(study)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.scatter([t.values[1] for t in trials], [t.values[0] for t in trials], s=18, c="0.65", label="trials")
    ax.plot([r.gflops for r in rows], [r.map50_95 for r in rows], "o-", c="tab:blue", label="Pareto front")
    for r in rows:
        ax.annotate(str(r.trial), (r.gflops, r.map50_95), textcoords="offset points", xytext=(4, 4), fontsize=7)
    baseline = _baseline(study)
    if baseline is not None:
        ax.scatter(
            [baseline.values[1]], [baseline.values[0]], marker="*", s=160, c="tab:red", label="baseline", zorder=3
        )
    ax.set_xlabel("GFLOPs (at the proxy image size)")
    ax.set_ylabel("mAP50-95 (proxy)")
    ax.set_title(f"study {study.study_name}: {len(trials)} trained trials")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def plot_hypervolume(study: optuna.Study, path: Path) -> None:
    """Optuna's hypervolume history; reference point: mAP 0 and 1.1 x the largest GFLOPs trained."""
    trials = trained(study)
    worst_gflops = max(t.values[1] for t in trials) * 1.1
    ax = optuna.visualization.matplotlib.plot_hypervolume_history(study, reference_point=[0.0, worst_gflops])
    ax.figure.set_size_inches(7, 4)
    ax.figure.tight_layout()
    ax.figure.savefig(path, format="png", dpi=120)
    plt.close(ax.figure)
