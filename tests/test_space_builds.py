"""Every candidate a space can produce builds and runs: 200+ random candidates over yolov5n, yolov8n and yolo11n.

Each is rendered, built with the bridge's `build_model` and run forward once at 64x64 in eval mode; the output has
the stock model's shape and each changed layer really is the chosen module. Slow-ish (a couple of minutes on two
cores), so it is marked `slow` to be selectable, but it is part of the normal suite.
"""

import optuna
import pytest
import torch

from shapenas.config import config_from_dict
from shapenas.modules import MODULES
from shapenas.spaces import SearchSpace
from shapenas.ultralytics.build import build_model
from tests.helpers import one_thread  # noqa: F401  (a fixture, used below)

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASES = {"yolov5n.yaml": 68, "yolov8n.yaml": 67, "yolo11n.yaml": 67}  # 202 candidates in all
IMGSZ = 64


def _forward(model) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, IMGSZ, IMGSZ))
    return out[0] if isinstance(out, (tuple, list)) else out


def _candidates(space, count: int, seed: int):
    """The presets, then random candidates (duplicates skipped: they would build the same model)."""
    seen, candidates = set(), []
    for candidate in space.presets().values():
        seen.add(candidate.key())
        candidates.append(candidate)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while len(candidates) < count:
        candidate = space.suggest(study.ask())
        if candidate.key() not in seen:
            seen.add(candidate.key())
            candidates.append(candidate)
    return candidates


@pytest.mark.slow
@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.usefixtures("one_thread")
def test_random_candidates_build_and_run(base):
    torch.manual_seed(0)
    space = SearchSpace(config_from_dict({"base": base}))
    expected_shape = _forward(build_model(space.render(space.baseline()))).shape
    candidates = _candidates(space, BASES[base], seed=len(base))
    modules_seen = set()
    for candidate in candidates:
        model = build_model(space.render(candidate))
        for index, choice in candidate.choices:
            assert type(model.model[index]).__name__ == choice.module, (candidate.summary(), index)
            modules_seen.add(choice.module)
        assert _forward(model).shape == expected_shape, candidate.summary()
    assert modules_seen == set(MODULES)
