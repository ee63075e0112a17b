"""What `shapenas verify` found: each trial's results at a higher budget, and how they compare with the proxy's.

Optuna never changes a finished trial (its storages raise `UpdateFinishedTrialError`), so a trial's verified results
are kept in the study user attribute `verified:<trial number>`: a dict keyed by budget (`Budget.key`), so a trial
verified at 12 and at 30 epochs keeps both; `write_entries` writes it, `entries` reads it. Each `VerifiedEntry` holds
the budget (`epochs`, `imgsz`, the proxy settings it trained with), every seed's `SeedResult` under `seeds`, their
mean `map50_95` and `map50`, and the seed spread `map50_95_range` (max - min over the seeds; None with one seed),
scored by `score`. Entries written by older versions lack `score` (they are the best epoch) and some seeds lack
`epoch_map50_95`; readers recompute from `seeds`.

One function, `seed_score`, says what a seed scored (`SCORE` names it); the means, the ranges and the paired test
against the baseline (`search.verify.paired`: each seed trains the trial and the baseline, so the differences pair
by seed) all read it, and the report says which score it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass, fields, replace
from typing import Any

import optuna

from shapenas.config_schema import ProxyConfig
from shapenas.search.results.study_attrs import VERIFIED_PREFIX, FlatRecord, numbered, verified_attr

SPREAD = "max - min over seeds"
NOT_IN_BUDGET = ("seed", "device", "workers", "cache")  # change how a run is executed, not what it trains

# How a seed's training is scored, by name. Ultralytics keeps the best epoch's checkpoint, but on small real datasets
# the best of several noisy epochs is biased upward (notes/real_data.md), so the last epochs may be more faithful.
SCORES = {
    "best epoch": lambda result: result.map50_95,
    "last epoch": lambda result: result.epoch_map50_95[-1],
    "mean of the last 2 epochs": lambda result: statistics.fmean(result.epoch_map50_95[-2:]),
}
SCORE = "best epoch"  # the score verify uses: switch it here


@dataclass(frozen=True)
class Budget:
    """The proxy settings a verification trains with (the seed aside), and the key it is stored under."""

    proxy: ProxyConfig

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.proxy.epochs}ep-{self.proxy.imgsz}px-{digest}"

    def settings(self) -> dict:
        """The proxy settings as a config spells them (JSON-able: stored with every result), the seed aside."""
        return {k: v for k, v in self.proxy.to_dict().items() if k not in NOT_IN_BUDGET}


@dataclass(frozen=True)
class SeedResult(FlatRecord):
    """One seed's training at a budget: a verify claim's result (which trial, seed and budget, the proxy settings)
    and, without those four, each seed of an entry. Seeds written by older versions lack some fields."""

    map50_95: float | None = None
    map50: float | None = None
    epoch_map50_95: list | None = None
    train_seconds: float | None = None
    device: str | None = None
    weights: dict | None = None  # the artifact record of its best.pt, when the study has a store
    failed: str | None = None  # why it failed: then it has no scores
    trial: int | None = None
    seed: int | None = None
    budget: str | None = None
    proxy: dict | None = None

    def own(self) -> SeedResult:
        """Without what an entry says once for all its seeds."""
        return replace(self, trial=None, seed=None, budget=None, proxy=None)


@dataclass(frozen=True)
class VerifiedEntry:
    """One trial at one budget: see the module docstring. `seeds` is None in an entry written without them."""

    epochs: int | None = None
    imgsz: int | None = None
    proxy: dict | None = None
    seeds: dict[str, SeedResult] | None = None
    spread: str | None = None
    score: str | None = None
    map50_95: float | None = None
    map50: float | None = None
    map50_95_range: float | None = None

    def to_attr(self) -> dict[str, Any]:
        stored = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.seeds is None:
            del stored["seeds"]
        else:
            stored["seeds"] = {seed: result.to_attr() for seed, result in self.seeds.items()}
        return stored

    @classmethod
    def from_attr(cls, stored: dict) -> VerifiedEntry:
        seeds = stored.get("seeds")
        if isinstance(seeds, dict):
            seeds = {str(seed): SeedResult.from_attr(r) for seed, r in seeds.items() if isinstance(r, dict)}
        values = {f.name: stored.get(f.name) for f in fields(cls) if f.name != "seeds"}
        return cls(**values, seeds=seeds if isinstance(seeds, dict) else None)


def attr_name(trial_number: int) -> str:
    return verified_attr(trial_number)


def entries(study: optuna.Study) -> dict[int, dict[str, VerifiedEntry]]:
    """Every verified trial's entries: trial number -> {budget key -> entry}."""
    found = {}
    for number, by_budget in numbered(study.user_attrs, VERIFIED_PREFIX).items():
        if isinstance(by_budget, dict):
            found[number] = {k: VerifiedEntry.from_attr(e) for k, e in by_budget.items() if isinstance(e, dict)}
    return found


def write_entries(study: optuna.Study, trial_number: int, by_budget: dict[str, VerifiedEntry]) -> None:
    study.set_user_attr(verified_attr(trial_number), {key: entry.to_attr() for key, entry in by_budget.items()})


def seed_score(result: SeedResult) -> float | None:
    """One seed's score (`SCORE`); None for a failed seed, or an old one without the field the score reads."""
    if result.failed is not None:
        return None
    try:
        return float(SCORES[SCORE](result))
    except (IndexError, TypeError):
        return None


def seed_scores(seeds: dict) -> dict:
    """seed -> score of every seed that has one (an entry's `seeds`, or a summary's input)."""
    scores = {seed: seed_score(result) for seed, result in seeds.items()}
    return {seed: score for seed, score in scores.items() if score is not None}


def summary(settings: dict, seeds: dict[int, SeedResult]) -> VerifiedEntry:
    """The entry for one trial at one budget (`Budget.settings()`) from its seeds' results (failed seeds are kept,
    not averaged)."""
    good = {seed: result for seed, result in seeds.items() if result.failed is None}
    maps = list(seed_scores(good).values())
    return VerifiedEntry(
        epochs=settings["epochs"],
        imgsz=settings["imgsz"],
        proxy=settings,
        seeds={str(seed): seeds[seed].own() for seed in sorted(seeds)},
        spread=SPREAD,
        score=SCORE,
        map50_95=round(statistics.fmean(maps), 6) if maps else None,
        map50=round(statistics.fmean(good[s].map50 for s in good), 6) if good else None,
        map50_95_range=round(max(maps) - min(maps), 6) if len(maps) > 1 else None,
    )


def ranks(scores: list[float]) -> list[int]:
    """1 for the highest score; ties share the better rank."""
    return [1 + sum(other > score for other in scores) for score in scores]


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b of two score lists (NaN when either is constant or shorter than 2)."""
    import warnings

    from scipy.stats import ConstantInputWarning, kendalltau

    if len(a) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        return float(kendalltau(a, b).statistic)
