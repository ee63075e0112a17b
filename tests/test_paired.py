"""The paired test of a trial against the baseline (search.verify.paired), against scipy on fixed numbers, and its
edge cases: too few pairs, no spread, unpaired and failed seeds."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from shapenas.search.verify import paired

BASELINE = {0: 0.4830, 1: 0.4957, 2: 0.5050, 3: 0.4912, 4: 0.5003}
TRIAL = {0: 0.5012, 1: 0.5035, 2: 0.5101, 3: 0.4899, 4: 0.5155}


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_the_interval_is_scipys_paired_t_interval(n):
    trial, baseline = [TRIAL[s] for s in range(n)], [BASELINE[s] for s in range(n)]
    result = paired.compare({s: TRIAL[s] for s in range(n)}, {s: BASELINE[s] for s in range(n)})
    rel = stats.ttest_rel(trial, baseline).confidence_interval(0.95)
    one = stats.ttest_1samp([t - b for t, b in zip(trial, baseline, strict=True)], 0).confidence_interval(0.95)
    assert (result.low, result.high) == pytest.approx((rel.low, rel.high), abs=1e-12)
    assert (result.low, result.high) == pytest.approx((one.low, one.high), abs=1e-12)
    assert result.mean == pytest.approx(sum(trial) / n - sum(baseline) / n, abs=1e-12) and result.pairs == n


def test_better_worse_or_inconclusive_by_where_the_interval_lies():
    assert paired.compare(TRIAL, BASELINE).verdict == "inconclusive"  # [-0.0007, +0.0187]: contains 0
    ahead = {s: v + 0.01 for s, v in TRIAL.items()}
    assert paired.compare(ahead, BASELINE).verdict == "better"
    assert paired.compare(BASELINE, ahead).verdict == "worse"
    text = paired.compare(TRIAL, BASELINE).text()
    assert text == "+0.0090 [-0.0007, +0.0187] inconclusive"


@pytest.mark.parametrize("n", [1, 2])
def test_fewer_than_three_pairs_are_inconclusive_however_large_the_difference(n):
    result = paired.compare({s: 0.9 + s / 100 for s in range(n)}, {s: 0.1 for s in range(n)})
    assert result.verdict == "inconclusive" and result.pairs == n
    assert result.why == f"inconclusive ({n} seed{'s' if n > 1 else ''})"
    assert result.text() == f"{result.mean:+.4f} {result.why}"
    assert math.isnan(result.low) == (n == 1)


def test_three_pairs_can_decide():
    result = paired.compare({0: 0.52, 1: 0.53, 2: 0.54}, {0: 0.50, 1: 0.50, 2: 0.51})
    assert result.pairs == 3 and result.verdict == "better" and result.why == "better"


@pytest.mark.parametrize(
    "trial, verdict",
    [((0.6, 0.6, 0.6), "better"), ((0.4, 0.4, 0.4), "worse"), ((0.5, 0.5, 0.5), "inconclusive")],
)
def test_differences_without_spread_give_the_point_as_interval(trial, verdict):
    result = paired.compare(dict(enumerate(trial)), {0: 0.5, 1: 0.5, 2: 0.5})
    assert result.low == result.high == result.mean and result.verdict == verdict


def test_only_seeds_both_finished_are_paired():
    """Seed 3 only the trial has, seed 4 only the baseline; a failed seed has no score, so its pair goes too."""
    trial = {"0": 0.52, "1": 0.53, "2": 0.54, "3": 0.99}
    baseline = {"0": 0.50, "1": 0.50, "2": 0.51, "4": 0.01}
    assert paired.differences(trial, baseline) == pytest.approx([0.02, 0.03, 0.03])
    assert paired.compare(trial, baseline) == paired.compare({k: trial[k] for k in "012"}, baseline)
    assert paired.compare({}, baseline).text() == "no paired seeds"
