"""How well one ranking of candidates agrees with another: rank correlations with bootstrap intervals, top-k overlap,
and Pareto-front overlap. Plain functions over aligned lists (one entry per candidate)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import ConstantInputWarning, kendalltau, spearmanr


def correlations(a: list[float], b: list[float]) -> tuple[float, float]:
    """(Kendall's tau-b, Spearman's rho); NaN when one side is all ties."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        return float(kendalltau(a, b).statistic), float(spearmanr(a, b).statistic)


def bootstrap_interval(a: list[float], b: list[float], repeats: int = 2000, seed: int = 0) -> dict[str, tuple]:
    """90% percentile intervals of tau and rho over candidates resampled with replacement."""
    rng = np.random.default_rng(seed)
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    taus, rhos = [], []
    for _ in range(repeats):
        pick = rng.integers(0, len(a_arr), len(a_arr))
        tau, rho = correlations(a_arr[pick].tolist(), b_arr[pick].tolist())
        if not (math.isnan(tau) or math.isnan(rho)):  # a resample of all-tied scores has no ranking
            taus.append(tau)
            rhos.append(rho)
    interval = lambda values: (  # noqa: E731
        (float(np.percentile(values, 5)), float(np.percentile(values, 95))) if values else (math.nan, math.nan)
    )
    return {"tau": interval(taus), "rho": interval(rhos)}


def top_overlap(a: list[float], b: list[float], k: int = 3) -> float:
    """Share of b's k best candidates that are also among a's k best."""
    best = lambda scores: set(np.argsort(-np.asarray(scores), kind="stable")[:k])  # noqa: E731
    return len(best(a) & best(b)) / k


def pareto_front(scores: list[float], costs: list[float]) -> set[int]:
    """Indices not dominated in (score up, cost down)."""
    front = set()
    for i, (s, c) in enumerate(zip(scores, costs, strict=True)):
        dominated = any(s2 >= s and c2 <= c and (s2 > s or c2 < c) for s2, c2 in zip(scores, costs, strict=True))
        if not dominated:
            front.add(i)
    return front


def front_overlap(a: list[float], b: list[float], costs: list[float]) -> tuple[float, int, int]:
    """(share of b's front also on a's front, size of a's front, size of b's front)."""
    front_a, front_b = pareto_front(a, costs), pareto_front(b, costs)
    return len(front_a & front_b) / len(front_b), len(front_a), len(front_b)
