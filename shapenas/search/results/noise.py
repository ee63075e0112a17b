"""The proxy's own noise in a study: the baseline fine-tuned again with `proxy.noise_seeds` more seeds, once.

On real images one candidate's proxy score moves by 0.01-0.14 mAP50-95 between seeds, more than most differences
between candidates, so a difference means nothing until it is read against this. After the parent, the one process
that claims the job `noise` (in the parent's companion study, `search.fleet.claims`) trains the baseline at seeds
`proxy.seed + 1 ..`; the study keeps the runs as its attribute `proxy_noise`; workers, resume and the tables read it.
The baseline trial (seed `proxy.seed`) is one more sample once it has trained.

The figure: `sd`, the sample standard deviation of the baseline's proxy scores over its seeds. A difference between
two single proxy runs has standard deviation sd x sqrt(2), so `band` = 1.96 x sqrt(2) x sd is the half-width within
which two runs' difference is a tie at 95%. From 3 seeds sd is itself rough (its 95% interval is about 0.5x to 6x),
and approximately initialised candidates swing more than the baseline (BENCHMARKS.md): the band is the least noise a
comparison carries, not a test. `shapenas verify` gives the test (paired seeds).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import optuna

from shapenas.search.results import record
from shapenas.search.results.study_attrs import NOISE_ATTR, FlatRecord

NOISE_JOB = "noise"
Z_95 = 1.959964  # the normal distribution's 97.5% quantile


@dataclass(frozen=True)
class ProxyNoise:
    """The baseline's proxy mAP50-95 by seed: the noise runs, and the baseline trial once trained."""

    scores: dict[int, float]

    @property
    def sd(self) -> float | None:
        values = list(self.scores.values())
        return statistics.stdev(values) if len(values) >= 2 else None

    @property
    def band(self) -> float | None:
        """Half-width of the 95% band of a difference between two single proxy runs."""
        return None if self.sd is None else Z_95 * math.sqrt(2) * self.sd

    def is_tie(self, difference: float) -> bool | None:
        return None if self.band is None else abs(difference) <= self.band

    def describe(self) -> str:
        runs = ", ".join(f"{self.scores[seed]:.4f}" for seed in sorted(self.scores))
        seeds = f"the baseline's proxy mAP50-95 over seeds {', '.join(map(str, sorted(self.scores)))}: {runs}"
        if self.sd is None:
            return f"proxy noise: {seeds} (one seed: no noise figure yet)"
        return f"proxy noise: {seeds}; sd {self.sd:.4f}, so differences within ±{self.band:.4f} are ties (95%)"


@dataclass(frozen=True)
class NoiseRun(FlatRecord):
    """One seed's training of the baseline's proxy: its scores, or why it failed."""

    map50_95: float | None = None
    epoch_map50_95: list | None = None
    train_seconds: float | None = None
    failed: str | None = None


@dataclass(frozen=True)
class NoiseRuns:
    """The study attribute `proxy_noise`: the baseline's proxy at seeds `base_seed + 1 ..`, and the environment that
    trained them. Written by `search.loop.noise_runs`, read by `study_noise`; JSON only."""

    base_seed: int | None
    seeds: dict[int, NoiseRun] = field(default_factory=dict)
    environment: dict | None = None

    def to_attr(self) -> dict[str, Any]:
        seeds = {str(seed): run.to_attr() for seed, run in self.seeds.items()}
        return {"base_seed": self.base_seed, "seeds": seeds, "environment": self.environment}

    @classmethod
    def from_attr(cls, stored: Any) -> NoiseRuns | None:
        """None for anything but a dict (nothing a study holds is trusted to be well formed)."""
        if not isinstance(stored, dict):
            return None
        runs = stored.get("seeds", {}).items()
        seeds = {int(seed): NoiseRun.from_attr(run) for seed, run in runs if isinstance(run, dict)}
        return cls(stored.get("base_seed"), seeds, stored.get("environment"))


def write_noise_runs(study: optuna.Study, runs: NoiseRuns) -> None:
    study.set_user_attr(NOISE_ATTR, runs.to_attr())


def read_noise_runs(study: optuna.Study) -> NoiseRuns | None:
    return NoiseRuns.from_attr(study.user_attrs.get(NOISE_ATTR))


def baseline_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    return next((t for t in record.trained(study) if record.read(t).preset == "baseline"), None)


def study_noise(study: optuna.Study) -> ProxyNoise | None:
    """The study's noise figure from its noise runs and its baseline trial; None when it has no noise runs."""
    runs = read_noise_runs(study)
    if runs is None:
        return None
    scores = {seed: run.map50_95 for seed, run in runs.seeds.items() if run.map50_95 is not None}
    baseline = baseline_trial(study)
    if baseline is not None and runs.base_seed is not None:
        scores[int(runs.base_seed)] = baseline.values[0]
    return ProxyNoise(scores) if scores else None


def cannot_rank_line(noise: ProxyNoise | None, scores: list[float]) -> str | None:
    """One line when the noise band is wider than the spread of the trained trials' proxy mAP50-95."""
    if noise is None or noise.band is None or len(scores) < 2:
        return None
    spread = max(scores) - min(scores)
    if noise.band <= spread:
        return None
    return (
        f"the proxy's noise band (±{noise.band:.4f}) is wider than the spread of the trained trials' mAP50-95 "
        f"({spread:.4f}): the proxy cannot rank these candidates here; verify with seeds or raise proxy.epochs"
    )
