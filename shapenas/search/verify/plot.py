"""`shapenas pareto --verified --plot F.png`: each verified trial at its proxy and at its verified position (same
cost, the first objective re-measured), joined by an arrow; the seeds' min-max as an error bar; the verified front.
One panel per cost objective (GFLOPs, latency), each against mAP50-95."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402

from shapenas.search.verify.reporting import Row, verified_front  # noqa: E402
from shapenas.text import count  # noqa: E402


def _draw_trial(ax, row: Row, cost: int) -> None:
    x, proxy, mean = row.proxy[cost], row.proxy[0], row.verified[0]
    maps = row.seed_maps
    color = "tab:red" if row.is_baseline else "tab:blue"
    ax.scatter([x], [proxy], s=22, facecolors="none", edgecolors=color, zorder=3)
    ax.annotate("", xy=(x, mean), xytext=(x, proxy), arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.8})
    ax.errorbar([x], [mean], yerr=[[mean - min(maps)], [max(maps) - mean]], fmt="o", ms=5, c=color, capsize=3, zorder=4)
    ax.annotate(str(row.trial), (x, mean), textcoords="offset points", xytext=(5, 3), fontsize=7)


def _panel(ax, rows: list[Row], front: list[Row], cost: int, names: list[str]) -> None:
    """Objective `cost` (an index into the values) on the x axis, mAP50-95 on the y axis."""
    for row in rows:
        if row.verified is not None:
            _draw_trial(ax, row, cost)
    front = sorted(front, key=lambda r: r.verified[cost])
    xs, ys = [r.verified[cost] for r in front], [r.verified[0] for r in front]
    # A marker on each member: a line alone draws nothing for a one-trial front
    ax.plot(xs, ys, "s-" if len(names) == 2 else "s", c="tab:green", mfc="none", ms=9, label="verified front")
    ax.set_xlabel(names[cost])
    ax.set_ylabel(f"{names[0]}: proxy, then verified")
    ax.grid(alpha=0.3)


def plot_verified(study: optuna.Study, rows: list[Row], budget_key: str, path: Path) -> None:
    names = study.metric_names or ["mAP50-95", "GFLOPs"]
    costs = range(1, len(study.directions))
    fig, axes = plt.subplots(1, len(costs), figsize=(7 * len(costs), 4.5), dpi=120, squeeze=False)
    front = verified_front(study, rows)
    for ax, cost in zip(axes[0], costs, strict=True):
        _panel(ax, rows, front, cost, names)
    ax = axes[0][0]
    ax.scatter([], [], s=22, facecolors="none", edgecolors="0.3", label="proxy")
    ax.errorbar([], [], yerr=[], fmt="o", c="0.3", label="verified (mean, seed min-max)")
    ax.scatter([], [], c="tab:red", label="baseline")
    ax.legend(loc="best", fontsize=8)
    entry = rows[0].entry
    fig.suptitle(
        f"study {study.study_name}: verified at {count(entry.epochs, 'epoch')}, {entry.imgsz} px (budget {budget_key})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
