"""The Pareto front of mAP50-95 against the study's costs (GFLOPs, latency): rows, the knee, a table, CSV/JSON files.

The front itself is Optuna's (`study.best_trials`, over every objective; it drops infeasible trials when constraints
are set), of trained trials only (`search.results.record.is_trained`: a candidate rejected by a constraint was never
trained). GFLOPs and latency are those measured at `cost.imgsz`; latency is in the rows whenever it was measured.
Each row carries its difference from the baseline trial and, when the study measured its proxy's noise
(`shapenas.search.results.noise`), whether that difference is a tie.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import optuna
from optuna.study import StudyDirection

from shapenas.search.results import record
from shapenas.search.results.noise import ProxyNoise, baseline_trial, cannot_rank_line, study_noise
from shapenas.search.results.objectives import SPECS, Objectives

COLUMNS = ("trial", "map50_95", "map50", "gflops", "params", "latency_ms", "latency_ratio", "summary")
COLUMNS += ("vs_baseline", "noise_band", "tie")


@dataclass(frozen=True)
class FrontRow:
    trial: int
    map50_95: float
    map50: float
    gflops: float
    params: int
    latency_ms: float | None  # None: latency was not measured
    latency_ratio: float | None  # to the base model, timed interleaved with it
    summary: str
    vs_baseline: float | None = None  # mAP50-95 minus the baseline trial's (None: no trained baseline)
    noise_band: float | None = None  # the study's noise band (`ProxyNoise.band`; None: not measured)
    tie: bool | None = None  # the difference lies within the band

    def value(self, key: str) -> float | None:
        """The row's value of an objective (`map50_95`, `gflops`, `latency`)."""
        return getattr(self, SPECS[key].field)


def _row(trial: optuna.trial.FrozenTrial) -> FrontRow:
    stored = record.read(trial)
    map50 = stored.map50 if stored.map50 is not None else float("nan")
    return FrontRow(
        trial.number,
        trial.values[0],
        map50,
        stored.gflops,
        stored.params or 0,
        stored.latency_ms,
        stored.latency_ratio,
        stored.summary,
    )


def _against_baseline(row: FrontRow, baseline: float | None, noise: ProxyNoise | None) -> FrontRow:
    if baseline is None:
        return row
    difference = row.map50_95 - baseline
    band = None if noise is None else noise.band
    tie = None if noise is None else noise.is_tie(difference)
    return dataclasses.replace(row, vs_baseline=round(difference, 6), noise_band=band, tie=tie)


def front(study: optuna.Study) -> list[FrontRow]:
    """Front rows sorted by their costs (the study's later objectives); a YAML trained twice (a reused twin) appears
    once."""
    rows, seen = [], set()
    baseline, noise = baseline_trial(study), study_noise(study)
    baseline_map = None if baseline is None else baseline.values[0]
    for trial in sorted(study.best_trials, key=lambda t: (t.values[1:], -t.values[0], t.number)):
        key = record.read(trial).key
        if not record.is_trained(trial) or key in seen:
            continue
        seen.add(key)
        rows.append(_against_baseline(_row(trial), baseline_map, noise))
    return rows


def within_noise_of_front(study: optuna.Study, rows: list[FrontRow], noise: ProxyNoise | None = None) -> list[int]:
    """Trained trials off the front that no front member dominating them beats by more than the noise band in
    mAP50-95: with another seed they could be on it. `noise`: the study's, when the caller read it already."""
    noise = study_noise(study) if noise is None else noise
    if noise is None or noise.band is None:
        return []
    on_front = {r.trial for r in rows}
    trained = record.trained(study)  # one read of the storage for both loops
    members = [t for t in trained if t.number in on_front]
    near = []
    for trial in trained:
        beaters = [m for m in members if dominates(m.values, trial.values, study.directions)]
        if (
            trial.number not in on_front
            and beaters
            and all(m.values[0] - trial.values[0] <= noise.band for m in beaters)
        ):
            near.append(trial.number)
    return near


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[StudyDirection] | None = None) -> bool:
    """`a` is at least as good as `b` in every objective and better in one. `directions`: Optuna's, one per value;
    None: a shapenas study's order, mAP50-95 maximised, then every cost minimised."""
    if directions is None:
        directions = [StudyDirection.MAXIMIZE] + [StudyDirection.MINIMIZE] * (len(a) - 1)
    sign = [1 if d == StudyDirection.MAXIMIZE else -1 for d in directions]
    at_least = all(s * x >= s * y for s, x, y in zip(sign, a, b, strict=True))
    return at_least and any(s * x > s * y for s, x, y in zip(sign, a, b, strict=True))


def pair_front(rows: list[FrontRow], cost: str) -> list[FrontRow]:
    """The rows no other row beats in both mAP50-95 and `cost` (the front of that pair of objectives), by `cost`."""
    points = {r.trial: (r.map50_95, r.value(cost)) for r in rows}
    kept = [r for r in rows if not any(dominates(points[o.trial], points[r.trial]) for o in rows)]
    return sorted(kept, key=lambda r: (r.value(cost), -r.map50_95, r.trial))


def knee(rows: list[FrontRow], cost: str = "gflops") -> FrontRow:
    """The knee of the front of mAP50-95 against `cost`: the point farthest above the line joining the pair front's
    two ends, both axes scaled to [0, 1]."""
    rows = pair_front(rows, cost)
    if len(rows) <= 2:
        return max(rows, key=lambda r: (r.map50_95, -r.value(cost)))
    lo, hi = rows[0], rows[-1]
    c_span = (hi.value(cost) - lo.value(cost)) or 1.0
    m_span = (hi.map50_95 - lo.map50_95) or 1.0

    def distance(r: FrontRow) -> float:
        x, y = (r.value(cost) - lo.value(cost)) / c_span, (r.map50_95 - lo.map50_95) / m_span
        return y - x  # above the diagonal from (0, 0) to (1, 1): more mAP than the straight trade-off

    return max(rows, key=distance)


def table(rows: list[FrontRow], objectives: Objectives) -> str:
    """The front as text: every objective, latency in ms and as a ratio to the base whenever it was measured."""
    latency = any(r.latency_ms is not None for r in rows)
    gflops = objectives.name("gflops")
    head = f"{'trial':>5}  {'mAP50-95':>8}  {'vs baseline':>12}  {'mAP50':>6}  {gflops:>11}  {'params':>9}"
    head += f"  {'latency ms':>10}  {'x base':>6}" if latency else ""
    lines = [head + "  choices"]
    for r in rows:
        line = f"{r.trial:>5}  {r.map50_95:>8.4f}  {_versus(r):>12}  {r.map50:>6.4f}  {r.gflops:>11.3f}  {r.params:>9,}"
        if latency:
            line += f"  {_number(r.latency_ms, '.1f'):>10}  {_number(r.latency_ratio, '.3f'):>6}"
        lines.append(f"{line}  {r.summary}")
    return "\n".join(lines)


def noise_notes(study: optuna.Study, rows: list[FrontRow]) -> list[str]:
    """What the front table means under the study's proxy noise: the figure, the trials within it of the front, and
    a warning when it is wider than the trained trials' whole spread."""
    noise = study_noise(study)
    if noise is None:
        return ["proxy noise: not measured (proxy.noise_seeds 0): no difference here can be told from seed noise"]
    notes = [noise.describe()]
    near = within_noise_of_front(study, rows, noise)
    if near:
        notes.append(f"within the noise of the front (could be on it with another seed): trials {_numbers(near)}")
    warning = cannot_rank_line(noise, [t.values[0] for t in record.trained(study)])
    return notes + ([warning] if warning else [])


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def _versus(row: FrontRow) -> str:
    """ "+0.0123", "+0.0123 tie" (within the noise band), "baseline" itself, or "-" without a trained baseline."""
    if row.vs_baseline is None:
        return "-"
    if row.summary == "baseline" and row.vs_baseline == 0:
        return "baseline"
    return f"{row.vs_baseline:+.4f}" + (" tie" if row.tie else "")


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def to_csv(rows: list[FrontRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def to_json(rows: list[FrontRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
