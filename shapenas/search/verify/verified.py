"""What `shapenas verify` found: each trial's results at a higher budget, and how they compare with the proxy's.

Optuna never changes a finished trial (its storages raise `UpdateFinishedTrialError`), so a trial's verified results
are kept in the study user attribute `verified:<trial number>`: a dict keyed by budget (`Budget.key`), so a trial
verified at 12 and at 30 epochs keeps both. Each entry holds the budget (`epochs`, `imgsz`, the proxy settings it
trained with), every seed's result under `seeds`, their mean `map50_95` and `map50`, and the seed spread
`map50_95_range` (max - min over the seeds; None with one seed), scored by `score`. Entries written by older
versions lack `score` (they are the best epoch) and some seeds lack `epoch_map50_95`; readers recompute from `seeds`.

One function, `seed_score`, says what a seed scored (`SCORE` names it); the means, the ranges and the paired test
against the baseline (`search.verify.paired`: each seed trains the trial and the baseline, so the differences pair
by seed) all read it, and the report says which score it is.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass

import optuna

from shapenas.config_schema import ProxyConfig

ATTR_PREFIX = "verified:"
SPREAD = "max - min over seeds"
NOT_IN_BUDGET = ("seed", "device", "workers", "cache")  # change how a run is executed, not what it trains

# How a seed's training is scored, by name. Ultralytics keeps the best epoch's checkpoint, but on small real datasets
# the best of several noisy epochs is biased upward (notes/real_data.md), so the last epochs may be more faithful.
SCORES = {
    "best epoch": lambda result: result["map50_95"],
    "last epoch": lambda result: result["epoch_map50_95"][-1],
    "mean of the last 2 epochs": lambda result: statistics.fmean(result["epoch_map50_95"][-2:]),
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


def attr_name(trial_number: int) -> str:
    return f"{ATTR_PREFIX}{trial_number}"


def entries(study: optuna.Study) -> dict[int, dict]:
    """Every verified trial's entries: trial number -> {budget key -> entry}."""
    attrs = study.user_attrs
    return {int(name[len(ATTR_PREFIX) :]): value for name, value in attrs.items() if name.startswith(ATTR_PREFIX)}


def seed_score(result: dict) -> float | None:
    """One seed's score (`SCORE`); None for a failed seed, or an old one without the field the score reads."""
    if "failed" in result:
        return None
    try:
        return float(SCORES[SCORE](result))
    except (KeyError, IndexError, TypeError):
        return None


def seed_scores(seeds: dict) -> dict:
    """seed -> score of every seed that has one (an entry's `seeds`, or a summary's input)."""
    scores = {seed: seed_score(result) for seed, result in seeds.items()}
    return {seed: score for seed, score in scores.items() if score is not None}


def summary(settings: dict, seeds: dict[int, dict]) -> dict:
    """The entry for one trial at one budget (`Budget.settings()`) from its seeds' results (failed seeds are kept,
    not averaged)."""
    good = {seed: result for seed, result in seeds.items() if "failed" not in result}
    maps = list(seed_scores(good).values())
    entry = {
        "epochs": settings["epochs"],
        "imgsz": settings["imgsz"],
        "proxy": settings,
        "seeds": {str(seed): _own(seeds[seed]) for seed in sorted(seeds)},
        "spread": SPREAD,
        "score": SCORE,
        "map50_95": round(statistics.fmean(maps), 6) if maps else None,
        "map50": round(statistics.fmean(good[s]["map50"] for s in good), 6) if good else None,
        "map50_95_range": round(max(maps) - min(maps), 6) if len(maps) > 1 else None,
    }
    return entry


def _own(result: dict) -> dict:
    """A seed's result without what the entry says once for all seeds."""
    return {k: v for k, v in result.items() if k not in ("trial", "seed", "budget", "proxy")}


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
