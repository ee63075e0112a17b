"""A paired test of a trial against the baseline: each seed trains both, so the differences trial - baseline share
the seed's data order and augmentation, and their spread is the noise that matters for this comparison.

The 95% interval is Student's t over the paired differences (the interval of `scipy.stats.ttest_rel`). A trial is
`better` or `worse` only when the interval excludes 0; with fewer than `MIN_PAIRS` pairs it is `inconclusive`, since
two differences cannot estimate a noise level.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

MIN_PAIRS = 3
LEVEL = 0.95
METHOD = "t"


@dataclass(frozen=True)
class Paired:
    """The mean paired difference (trial - baseline), its 95% t interval (NaN below 2 pairs), the number of pairs,
    and the verdict: "better", "worse" or "inconclusive"."""

    mean: float
    low: float
    high: float
    pairs: int
    verdict: str

    @property
    def why(self) -> str:
        """The verdict with its reason when too few pairs forced it."""
        if self.pairs < MIN_PAIRS:
            return f"{self.verdict} ({self.pairs} seed{'s' if self.pairs != 1 else ''})"
        return self.verdict

    def text(self) -> str:
        """`+0.0123 [-0.0040, +0.0286] inconclusive`; the interval only from `MIN_PAIRS` pairs, where it decides."""
        if self.pairs == 0:
            return "no paired seeds"
        if self.pairs < MIN_PAIRS:
            return f"{self.mean:+.4f} {self.why}"
        return f"{self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}] {self.why}"


def differences(trial: dict, baseline: dict) -> list[float]:
    """trial - baseline for each seed both have a score for (seed -> score maps), in seed order."""
    common = sorted(set(trial) & set(baseline), key=str)
    return [trial[seed] - baseline[seed] for seed in common]


def interval(diffs: list[float]) -> tuple[float, float]:
    """The 95% t interval of the mean of `diffs` (NaN below 2 values; the point itself when they are all equal)."""
    from scipy.stats import t

    n = len(diffs)
    if n < 2:
        return math.nan, math.nan
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    if sd == 0:  # no spread: scipy would give NaN; the interval is the point
        return mean, mean
    half = float(t.ppf((1 + LEVEL) / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def compare(trial: dict, baseline: dict) -> Paired:
    """The paired result of a trial's per-seed scores against the baseline's (seed -> score; unpaired seeds are
    dropped)."""
    diffs = differences(trial, baseline)
    mean = statistics.fmean(diffs) if diffs else math.nan
    low, high = interval(diffs)
    verdict = "inconclusive"
    if len(diffs) >= MIN_PAIRS and low > 0:
        verdict = "better"
    elif len(diffs) >= MIN_PAIRS and high < 0:
        verdict = "worse"
    return Paired(mean, low, high, len(diffs), verdict)
