"""A trial's proposal: the candidate its params stand for and the model YAML it renders to, with what is stored.

The one path from an Optuna trial to a model YAML, used by the search's objective and by `shapenas space --sample`,
so both show and measure the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from shapenas.modules.akconv_shapes import ascii_grid
from shapenas.spaces import SearchSpace
from shapenas.spaces.candidate import Candidate
from shapenas.spaces.yaml_text import model_yaml_text


def akconv_grids(candidate: Candidate) -> dict[str, str]:
    """Per AKConv layer (`L<index>`), its sampled points drawn as an ASCII grid."""
    return {f"L{i}": ascii_grid(c.get("points")) for i, c in candidate.choices if c.module == "AKConv"}


@dataclass(frozen=True)
class Proposal:
    candidate: Candidate
    model_yaml: dict

    def record(self) -> dict[str, Any]:
        """The fields of `shapenas.search.results.record.TrialRecord` a proposal fills, before anything is measured."""
        fields = {
            "key": self.candidate.key(),
            "summary": self.candidate.summary(),
            "candidate": self.candidate.to_dict(),
            "yaml": model_yaml_text(self.model_yaml),
        }
        grids = akconv_grids(self.candidate)
        return {**fields, "akconv_shapes": grids} if grids else fields


def render(space: SearchSpace, candidate: Candidate, classes: int | None = None) -> dict:
    """The candidate's model YAML; `classes` (the dataset's) replaces the base's `nc`, so the model costed and
    exported is the one trained."""
    model_yaml = space.render(candidate)
    if classes is not None:
        model_yaml["nc"] = classes
    return model_yaml


def propose(space: SearchSpace, trial: optuna.Trial, classes: int | None = None) -> Proposal:
    """Suggest a candidate from `trial` and render it (see `render`)."""
    candidate = space.suggest(trial)
    return Proposal(candidate, render(space, candidate, classes))
