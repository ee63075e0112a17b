"""`SearchSpace`: a base model and a search config -> Optuna parameters <-> `Candidate` -> model YAML dict.

`suggest(trial)` uses only Optuna's public `suggest_*` API; `to_params` gives the params that `study.enqueue_trial`
needs to replay a candidate, and `from_params` reads a finished trial back. `render` is deterministic.
"""

from __future__ import annotations

import copy
from math import prod

from optuna.trial import FixedTrial

from shapenas.config import Config
from shapenas.errors import UserError, first_line
from shapenas.modules.akconv_shapes import canonical, regular
from shapenas.spaces.candidate import Candidate, Choice
from shapenas.spaces.choices import SlotChoices
from shapenas.spaces.slots import Slot, find_slots, model_rows, select_slots
from shapenas.ultralytics.build import BuildError, build_model

_LOADER_KEYS = ("yaml_file", "scale", "scales", "backbone", "head")  # keys rendered by hand, or added by the loader
# What Ultralytics raises for a model YAML it cannot build (a bad argument, a wrong `from` index, channels that do not
# meet); anything else from building the base is a bug and keeps its traceback.
_BUILD_ERRORS = (BuildError, TypeError, ValueError, IndexError, KeyError, RuntimeError)


class SearchSpace:
    """The candidates a search may try: per selected slot, the stock module or one of the enabled replacements."""

    def __init__(self, config: Config):
        self.config = config
        self.base_yaml = copy.deepcopy(config.base_yaml)
        self.rows = model_rows(self.base_yaml)
        self.slots: list[Slot] = select_slots(self._all_slots(), config.space.slots, self.rows)
        self.choices: dict[int, SlotChoices] = {slot.index: SlotChoices(slot, config.space) for slot in self.slots}
        self._check_presets()

    def _all_slots(self) -> list[Slot]:
        try:
            model = build_model(self.base_yaml)
        except _BUILD_ERRORS as error:  # the user's base model, refused by Ultralytics: a bad `base`, in one line
            raise UserError(
                f"base: Ultralytics cannot build {self.config.base!r} ({type(error).__name__}: {first_line(error)})"
            ) from None
        return find_slots(self.base_yaml, model)

    # -- Optuna ------------------------------------------------------------------------------------------------
    def suggest(self, trial) -> Candidate:
        """One candidate from the trial's parameters (names `L<layer>.module`, `L<layer>.<module>.<name>`)."""
        return Candidate.of({index: choices.suggest(trial) for index, choices in self.choices.items()})

    def to_params(self, candidate: Candidate) -> dict:
        """Params that make `suggest` return `candidate` (for `study.enqueue_trial`); `ValueError` if not in space."""
        unknown = [i for i, _ in candidate.choices if i not in self.choices]
        if unknown:
            raise ValueError(f"candidate changes layers {unknown}, which are not slots of this space")
        params: dict = {}
        for index, choices in self.choices.items():
            params.update(choices.to_params(candidate.choice_at(index)))
        return params

    def check(self, candidate: Candidate) -> None:
        """`ValueError` naming what does not fit unless `candidate` belongs to this space: its layers are slots, and
        each choice is one of its slot's options (the same test `to_params` needs to pass)."""
        self.to_params(candidate)

    def contains(self, candidate: Candidate) -> bool:
        try:
            self.check(candidate)
        except ValueError:
            return False
        return True

    def from_params(self, params: dict) -> Candidate:
        """The candidate a trial with these params stands for; `ValueError` on a missing, unknown or bad param."""
        trial = FixedTrial(dict(params))
        candidate = self.suggest(trial)
        self.check(candidate)  # FixedTrial only warns on an out-of-range number: be strict
        unused = sorted(set(params) - set(trial.params))
        if unused:
            raise ValueError(f"params not used by this space: {', '.join(unused)}")
        return candidate

    # -- YAML --------------------------------------------------------------------------------------------------
    def render(self, candidate: Candidate) -> dict:
        """The model YAML dict: the base's keys in order, only the chosen scale, changed rows rewritten."""
        self.check(candidate)  # a candidate from elsewhere must belong to this space
        rows = copy.deepcopy(self.rows)
        for index, choice in candidate.choices:
            row = rows[index]
            row[2], row[3] = choice.module, self.choices[index].row_args(choice, row[3])
        model = {k: copy.deepcopy(v) for k, v in self.base_yaml.items() if k not in _LOADER_KEYS}
        scale = self.config.scale
        if scale:
            # Only the chosen entry: a file built from this dict keeps this scale. (Ultralytics reads a scale letter
            # from a file name like yolov8s-x.yaml and would then look for that entry, so export names avoid one.)
            model["scales"] = {scale: list(self.base_yaml["scales"][scale])}
            model["scale"] = scale
        n_backbone = len(self.base_yaml["backbone"])
        model["backbone"], model["head"] = rows[:n_backbone], rows[n_backbone:]
        return model

    # -- candidates worth trying first -------------------------------------------------------------------------
    def baseline(self) -> Candidate:
        return Candidate()

    def akconv_authors(self, num_param: int) -> Candidate:
        """The AKConv authors' placement: every stride-2 3x3 Conv but the stem -> AKConv(N, regular shape)."""
        points = canonical(regular(num_param))
        choice = Choice.of("AKConv", "regular", num_param=num_param, points=points)
        return Candidate.of({s.index: choice for s in self.slots if s.is_downsample and not s.is_stem})

    def presets(self) -> dict[str, Candidate]:
        """The presets this space can express, by name: always 'baseline'; 'akconv_authors' when AKConv can go there."""
        presets = {"baseline": self.baseline()}
        authors = self.akconv_authors(self.config.search.akconv_authors_n)
        if authors.choices and self.contains(authors):
            presets["akconv_authors"] = authors
        return presets

    def enqueued_presets(self) -> list[tuple[str, Candidate]]:
        """The presets `search.presets` asks for, in that order."""
        presets = self.presets()
        return [(name, presets[name]) for name in self.config.search.presets]

    def _check_presets(self) -> None:
        available = self.presets()
        for name in self.config.search.presets:
            if name not in available:
                raise UserError(
                    f"search.presets: {name!r} does not fit this space (it needs stride-2 Conv slots past the stem "
                    f"with AKConv, N={self.config.search.akconv_authors_n} and a regular or free shape); "
                    f"slots: {', '.join(s.name for s in self.slots) or 'none'}"
                )

    # -- size --------------------------------------------------------------------------------------------------
    def size(self) -> int:
        """Number of distinct candidates (distinct YAMLs); exact, may be huge."""
        return prod(choices.count() for choices in self.choices.values())
