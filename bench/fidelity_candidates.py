"""The fixed candidates the fidelity and early-stopping benchmarks train: the baseline, the presets, the extremes of
the space, and a seeded random spread. The same list for every arm, so that rankings compare like with like.

The extremes are there so that the long reference's spread is wider than its own seed noise: every conv slot as
AKConv with N = 3, and with N = 9; every conv slot as each dynamic module; every upsample a DySample; every slot
swapped at once.
"""

from __future__ import annotations

import optuna

from shapenas.modules.akconv_shapes import canonical, regular
from shapenas.spaces.candidate import Candidate, Choice


def _everywhere(space, kind: str, choice: Choice) -> Candidate:
    """`choice` at every slot of `kind` where this space offers it with those values."""
    picked = {}
    for slot in space.slots:
        if slot.kind != kind:
            continue
        if space.contains(Candidate.of({slot.index: choice})):
            picked[slot.index] = choice
    return Candidate.of(picked)


def _akconv(n: int) -> Choice:
    return Choice.of("AKConv", "regular", num_param=n, points=canonical(regular(n)))


def extremes(space) -> dict[str, Candidate]:
    return {
        "akconv_n3_all": _everywhere(space, "conv", _akconv(3)),
        "akconv_n9_all": _everywhere(space, "conv", _akconv(9)),
        "odconv_all": _everywhere(space, "conv", Choice.of("ODConv", kernel_num=4)),
        "dynconv_all": _everywhere(space, "conv", Choice.of("DynamicConv", num_experts=4)),
        "spconv_all": _everywhere(space, "conv", Choice.of("SPConv", ratio=0.5)),
        "dysample_all": _everywhere(space, "upsample", Choice.of("DySample", style="lp", groups=4, dyscope=False)),
    }


def _sampled(space, seed: int, count: int, accept) -> list[Candidate]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    found: list[Candidate] = []
    while len(found) < count:
        candidate = space.suggest(study.ask())
        if accept(candidate) and candidate not in found:
            found.append(candidate)
    return found


def fixed_list(space, random_count: int = 9, seed: int = 0) -> list[tuple[str, Candidate]]:
    """(name, candidate) pairs, no two alike: baseline, presets, extremes, every slot swapped, `random_count` more."""
    picked: dict[str, Candidate] = {**space.presets(), **extremes(space)}
    every = len(space.slots)
    picked["every_slot"] = _sampled(space, seed + 100, 1, lambda c: len(c.choices) == every)[0]
    others = _sampled(space, seed, random_count + len(picked), lambda c: c not in picked.values())
    for index, candidate in enumerate(others[:random_count], start=1):
        picked[f"random{index}"] = candidate
    return list(picked.items())
