"""`shapenas pareto --verified --plot F.png`: each verified trial at its proxy and at its verified position (same
cost, the first objective re-measured), joined by an arrow; the seeds' min-max as an error bar; the verified front.
Drawn against the study's second objective (GFLOPs); a study with more objectives is drawn in its first two."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402

from shapenas.search.verify_report import Row, verified_front  # noqa: E402


def _draw_trial(ax, row: Row) -> None:
    x, proxy, mean = row.proxy[1], row.proxy[0], row.verified[0]
    maps = row.seed_maps
    color = "tab:red" if row.is_baseline else "tab:blue"
    ax.scatter([x], [proxy], s=22, facecolors="none", edgecolors=color, zorder=3)
    ax.annotate("", xy=(x, mean), xytext=(x, proxy), arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.8})
    ax.errorbar([x], [mean], yerr=[[mean - min(maps)], [max(maps) - mean]], fmt="o", ms=5, c=color, capsize=3, zorder=4)
    ax.annotate(str(row.trial), (x, mean), textcoords="offset points", xytext=(5, 3), fontsize=7)


def plot_verified(study: optuna.Study, rows: list[Row], budget_key: str, path: Path) -> None:
    names = study.metric_names or ["mAP50-95", "GFLOPs"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for row in rows:
        if row.verified is not None:
            _draw_trial(ax, row)
    front = verified_front(study, rows)
    ax.plot([r.verified[1] for r in front], [r.verified[0] for r in front], "-", c="tab:green", label="verified front")
    ax.scatter([], [], s=22, facecolors="none", edgecolors="0.3", label="proxy")
    ax.errorbar([], [], yerr=[], fmt="o", c="0.3", label="verified (mean, seed min-max)")
    ax.scatter([], [], c="tab:red", label="baseline")
    entry = rows[0].entry
    ax.set_xlabel(names[1])
    ax.set_ylabel(f"{names[0]}: proxy, then verified")
    ax.set_title(
        f"study {study.study_name}\nverified at {entry['epochs']} epochs, {entry['imgsz']} px (budget {budget_key})",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
