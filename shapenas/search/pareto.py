"""The Pareto front of mAP50-95 against GFLOPs: rows, the knee, a table, CSV/JSON files and plots.

The front itself is Optuna's (`study.best_trials`, which drops infeasible trials when constraints are set), of trained
trials only (`shapenas.search.record.is_trained`: a candidate rejected by a constraint was never trained).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

import optuna

from shapenas.search import record

COLUMNS = ("trial", "map50_95", "map50", "gflops", "params", "summary")


@dataclass(frozen=True)
class FrontRow:
    trial: int
    map50_95: float
    map50: float
    gflops: float
    params: int
    summary: str


def _row(trial: optuna.trial.FrozenTrial) -> FrontRow:
    stored = record.read(trial)
    map50 = stored.map50 if stored.map50 is not None else float("nan")
    return FrontRow(trial.number, trial.values[0], map50, trial.values[1], stored.params or 0, stored.summary)


def front(study: optuna.Study) -> list[FrontRow]:
    """Front rows sorted by GFLOPs; a YAML trained twice (a reused twin) appears once."""
    rows, seen = [], set()
    for trial in sorted(study.best_trials, key=lambda t: (t.values[1], -t.values[0], t.number)):
        key = record.read(trial).key
        if not record.is_trained(trial) or key in seen:
            continue
        seen.add(key)
        rows.append(_row(trial))
    return rows


def knee(rows: list[FrontRow]) -> FrontRow:
    """The front point farthest from the line joining its two ends, both axes scaled to [0, 1]."""
    if len(rows) <= 2:
        return max(rows, key=lambda r: (r.map50_95, -r.gflops))
    lo, hi = rows[0], rows[-1]
    g_span = (hi.gflops - lo.gflops) or 1.0
    m_span = (hi.map50_95 - lo.map50_95) or 1.0

    def distance(r: FrontRow) -> float:
        x, y = (r.gflops - lo.gflops) / g_span, (r.map50_95 - lo.map50_95) / m_span
        return y - x  # above the diagonal from (0, 0) to (1, 1): more mAP than the straight trade-off

    return max(rows, key=distance)


def table(rows: list[FrontRow]) -> str:
    lines = [f"{'trial':>5}  {'mAP50-95':>8}  {'mAP50':>6}  {'GFLOPs':>7}  {'params':>9}  choices"]
    for r in rows:
        lines.append(
            f"{r.trial:>5}  {r.map50_95:>8.4f}  {r.map50:>6.4f}  {r.gflops:>7.3f}  {r.params:>9,}  {r.summary}"
        )
    return "\n".join(lines)


def to_csv(rows: list[FrontRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def to_json(rows: list[FrontRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
