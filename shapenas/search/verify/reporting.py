"""The comparison `shapenas verify` prints (and `shapenas pareto --verified` draws): proxy against verified results.

Written over the study's objectives: the first (mAP50-95) is what verification re-measures; the others (GFLOPs, and
any later cost objective) are properties of the architecture and carry over unchanged. Every verified figure is
computed from the stored seeds with `verified.seed_score`, so old entries read with today's score; each trial is
compared with the baseline by the paired test of `shapenas.search.verify.paired`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import optuna

from shapenas.search.results import pareto, record
from shapenas.search.verify import paired, verified
from shapenas.text import count


@dataclass(frozen=True)
class Row:
    """One verified trial at one budget."""

    trial: int
    summary: str
    proxy: list[float]  # the study's objective values
    verified: list[float] | None  # the same, with the first replaced by the verified mean (None: every seed failed)
    entry: verified.VerifiedEntry
    is_baseline: bool

    @property
    def scores(self) -> dict[str, float]:
        """seed -> score of every seed that has one."""
        return verified.seed_scores(self.entry.seeds or {})

    @property
    def seed_maps(self) -> list[float]:
        return list(self.scores.values())


def _mean(entry: verified.VerifiedEntry) -> float | None:
    """The mean score over the seeds (the stored mean only for an entry without seeds)."""
    if entry.seeds is None:
        return entry.map50_95
    scores = verified.seed_scores(entry.seeds)
    return statistics.fmean(scores.values()) if scores else None


def rows(study: optuna.Study, budget_key: str) -> list[Row]:
    """Every trial verified at `budget_key`, the baseline first, then by trial number."""
    found = []
    for number, by_budget in sorted(verified.entries(study).items()):
        entry = by_budget.get(budget_key)
        if entry is None:
            continue
        trial = study.trials[number]
        values = list(trial.values)
        mean = _mean(entry)
        stored = record.read(trial)
        row_values = None if mean is None else [mean, *values[1:]]
        found.append(Row(number, stored.summary, values, row_values, entry, stored.preset == "baseline"))
    return sorted(found, key=lambda r: (not r.is_baseline, r.trial))


def budgets(study: optuna.Study) -> dict[str, int]:
    """Every budget some trial was verified at, with how many trials it holds."""
    counts: dict[str, int] = {}
    for by_budget in verified.entries(study).values():
        for key in by_budget:
            counts[key] = counts.get(key, 0) + 1
    return counts


def _rank_text(rows_: list[Row]) -> tuple[list[int], list[int | None]]:
    scored = [r for r in rows_ if r.verified is not None]
    proxy_ranks = verified.ranks([r.proxy[0] for r in rows_])
    verified_by_trial = dict(
        zip([r.trial for r in scored], verified.ranks([r.verified[0] for r in scored]), strict=True)
    )
    return proxy_ranks, [verified_by_trial.get(r.trial) for r in rows_]


def table(study: optuna.Study, rows_: list[Row]) -> str:
    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    baseline = next((r for r in rows_ if r.is_baseline and r.verified is not None), None)
    proxy_ranks, verified_ranks = _rank_text(rows_)
    widths = [max(9, len(name)) for name in names[1:]]
    others = "".join(f"  {name:>{width}}" for name, width in zip(names[1:], widths, strict=True))
    versus = [_versus(row, baseline) for row in rows_]
    vs_width = max(len("vs baseline"), *map(len, versus))
    lines = [f"trial  proxy mAP  rank  verified mAP   range  rank{others}  {'vs baseline':<{vs_width}}  choices"]
    for row, p_rank, v_rank, vs in zip(rows_, proxy_ranks, verified_ranks, versus, strict=True):
        mean = "failed" if row.verified is None else f"{row.verified[0]:.4f}"
        maps = row.seed_maps
        spread = f"{max(maps) - min(maps):.4f}" if len(maps) > 1 else "-"
        cost = "".join(f"  {value:>{width}.3f}" for value, width in zip(row.proxy[1:], widths, strict=True))
        lines.append(
            f"{row.trial:>5}  {row.proxy[0]:>9.4f}  {p_rank:>4}  {mean:>12}  {spread:>6}  {v_rank or '-':>4}{cost}"
            f"  {vs:<{vs_width}}  {row.summary}"
        )
    return "\n".join(lines)


def _versus(row: Row, baseline: Row | None) -> str:
    if row.is_baseline:
        return "baseline"
    if baseline is None or row.verified is None:
        return "-"
    return paired.compare(row.scores, baseline.scores).text()


MIN_TAU_TRIALS = 3  # over two trials tau can only be -1 or +1: a coin toss, not a correlation


def tau_line(rows_: list[Row]) -> str:
    """Kendall's tau of proxy against verified mAP50-95, or n/a with why."""
    scored = [r for r in rows_ if r.verified is not None]
    tau = verified.kendall_tau([r.proxy[0] for r in scored], [r.verified[0] for r in scored])
    if len(scored) < MIN_TAU_TRIALS:
        value = f"n/a (needs {MIN_TAU_TRIALS} or more: over 2 trials it can only be -1 or +1)"
    else:
        value = "n/a (the proxy or the verified values are all equal)" if math.isnan(tau) else f"{tau:.2f}"
    return f"Kendall tau between proxy and verified mAP50-95 over {count(len(scored), 'verified trial')}: {value}"


def front_members(study: optuna.Study, rows_: list[Row]) -> dict[int, int | None]:
    """Each verified member of the proxy's front -> a verified trial whose verified values dominate it (or None)."""
    on_front = {r.trial for r in pareto.front(study)}
    scored = [r for r in rows_ if r.verified is not None]
    found = {}
    for row in scored:
        if row.trial in on_front:
            by = [o.trial for o in scored if pareto.dominates(o.verified, row.verified, study.directions)]
            found[row.trial] = by[0] if by else None
    return found


def verified_front(study: optuna.Study, rows_: list[Row]) -> list[Row]:
    """The verified rows no other verified row dominates, by cost (the study's second objective)."""
    scored = [r for r in rows_ if r.verified is not None]
    front = [r for r in scored if not any(pareto.dominates(o.verified, r.verified, study.directions) for o in scored)]
    return sorted(front, key=lambda r: (r.verified[1:], r.trial))


def front_lines(study: optuna.Study, rows_: list[Row]) -> list[str]:
    """Which proxy front members the verified results dominate, and the verified front."""
    members = front_members(study, rows_)
    kept = [f"trial {t}" for t, by in members.items() if by is None]
    lost = [f"trial {t} (by trial {by})" for t, by in members.items() if by is not None]
    first = (
        f"{count(len(members), 'verified member')} of the proxy's front; not dominated after verification: "
        f"{', '.join(kept) or 'none'}; dominated: {', '.join(lost) or 'none'}"
        if members
        else "no member of the proxy's Pareto front was verified"
    )
    front = verified_front(study, rows_)
    new = [f"trial {r.trial}" for r in front if r.trial not in {r.trial for r in pareto.front(study)}]
    second = f"verified front, by {' and '.join((study.metric_names or ['', 'cost'])[1:])}: " + ", ".join(
        f"trial {r.trial}" for r in front
    )
    return [first, second + (f" ({', '.join(new)} not on the proxy's front)" if new else "")]


def _pairs_text(rows_: list[Row]) -> str:
    """How many seeds pair each trial with the baseline: "3", or "2-3" when some seed failed."""
    baseline = next((r for r in rows_ if r.is_baseline), None)
    others = [r for r in rows_ if not r.is_baseline]
    if baseline is None or not others:
        return "0"
    counts = [len(paired.differences(r.scores, baseline.scores)) for r in others]
    return str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"


def head_line(rows_: list[Row], budget_key: str) -> str:
    """What the table's figures are: the budget, the score, the range and how the paired interval is computed."""
    first = rows_[0].entry
    return (
        f"every trial verified at {count(first.epochs, 'epoch')}, {first.imgsz} px (budget {budget_key}); "
        f"score: {verified.SCORE} mAP50-95 of each seed, verified mAP = its mean over seeds, "
        f"range = {verified.SPREAD}; "
        f"vs baseline: mean difference paired by seed, {paired.LEVEL:.0%} {paired.METHOD} interval over the seeds "
        f"both trained (n = {_pairs_text(rows_)}), better/worse only when it excludes 0 and n >= {paired.MIN_PAIRS}"
    )


def report(study: optuna.Study, budget_key: str) -> str:
    rows_ = rows(study, budget_key)
    return "\n".join([head_line(rows_, budget_key), table(study, rows_), tau_line(rows_), *front_lines(study, rows_)])


def pick_budget(study: optuna.Study, wanted: str | None) -> str:
    """`wanted` when trials were verified at it, else the budget with the most epochs (then the most trials)."""
    from shapenas.errors import UserError

    counts = budgets(study)
    if not counts:
        raise UserError(f"--verified: no trial of study {study.study_name!r} was verified yet (shapenas verify)")
    if wanted:
        if wanted not in counts:
            raise UserError(
                f"--verified {wanted!r}: no trial was verified at that budget (it has: {', '.join(counts)})"
            )
        return wanted
    epochs = {key: entry.epochs for by_budget in verified.entries(study).values() for key, entry in by_budget.items()}
    return max(counts, key=lambda key: (epochs[key], counts[key], key))
