"""What `shapenas verify` found: each trial's results at a higher budget, and how they compare with the proxy's.

Optuna never changes a finished trial (its storages raise `UpdateFinishedTrialError`), so a trial's verified results
are kept in the study user attribute `verified:<trial number>`: a dict keyed by budget (`Budget.key`), so a trial
verified at 12 and at 30 epochs keeps both. Each entry holds the budget (`epochs`, `imgsz`, the proxy settings it
trained with), every seed's result under `seeds`, their mean `map50_95` and `map50`, and the seed spread
`map50_95_range` (max - min over the seeds; None with one seed).

Real or noise: a trial's difference from the baseline is called real when it is larger than the seed range of the
trial and larger than the seed range of the baseline. With one seed there is no range, and nothing can be called real.
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


def summary(settings: dict, seeds: dict[int, dict]) -> dict:
    """The entry for one trial at one budget (`Budget.settings()`) from its seeds' results (failed seeds are kept,
    not averaged)."""
    good = {seed: result for seed, result in seeds.items() if "failed" not in result}
    maps = [good[seed]["map50_95"] for seed in sorted(good)]
    entry = {
        "epochs": settings["epochs"],
        "imgsz": settings["imgsz"],
        "proxy": settings,
        "seeds": {str(seed): _own(seeds[seed]) for seed in sorted(seeds)},
        "spread": SPREAD,
        "map50_95": round(statistics.fmean(maps), 6) if maps else None,
        "map50": round(statistics.fmean(good[s]["map50"] for s in good), 6) if maps else None,
        "map50_95_range": round(max(maps) - min(maps), 6) if len(maps) > 1 else None,
    }
    return entry


def _own(result: dict) -> dict:
    """A seed's result without what the entry says once for all seeds."""
    return {k: v for k, v in result.items() if k not in ("trial", "seed", "budget", "proxy")}


def verdict(trial: dict, baseline: dict) -> str:
    """ "real" or "noise" for a trial's difference from the baseline (entries at one budget; see the module doc)."""
    if trial["map50_95_range"] is None or baseline["map50_95_range"] is None:
        return "n/a (1 seed)"
    difference = abs(trial["map50_95"] - baseline["map50_95"])
    return "real" if difference > trial["map50_95_range"] and difference > baseline["map50_95_range"] else "noise"


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
