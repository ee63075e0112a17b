"""Fused inference on a whole Ultralytics model holding every registered module: Ultralytics' own `model.fuse()`
folds our modules' BatchNorms too (through the seam's wrapper) and keeps the eval-mode output."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shapenas.modules import MODULES
from shapenas.ultralytics.build import build_model
from shapenas.ultralytics.fuse import fuse_custom_modules
from tests.helpers import one_thread  # noqa: F401  (a fixture, used below)
from tests.trained_state import make_trained_like
from tests.yaml_fixtures import all_modules_yaml, used_modules

pytestmark = pytest.mark.usefixtures("one_thread")


def _trained_like_model() -> nn.Module:
    model_dict = all_modules_yaml("yolov8n.yaml")
    assert set(MODULES) <= used_modules(model_dict)
    torch.manual_seed(0)
    return make_trained_like(build_model(model_dict)).eval()


def test_ultralytics_fuse_folds_our_modules_and_keeps_the_output():
    model = _trained_like_model()
    ours = [m for m in model.modules() if isinstance(m, tuple(spec.cls for spec in MODULES.values()))]
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = model(x)[0]
        assert model.fuse(verbose=False) is model  # Ultralytics' BaseModel.fuse, as export, predict and val call it
        after = model(x)[0]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "a BatchNorm was left unfused"
    assert {type(m).__name__ for m in ours} == set(MODULES)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_fusing_again_changes_nothing():
    model = _trained_like_model()
    with torch.no_grad():
        model.fuse(verbose=False)
        once = model(torch.zeros(1, 3, 64, 64))[0]
        fused = fuse_custom_modules(model)  # every hook is idempotent
        model.fuse(verbose=False)
        torch.testing.assert_close(model(torch.zeros(1, 3, 64, 64))[0], once, rtol=0, atol=0)
    hooked = tuple(spec.cls for spec in MODULES.values() if spec.fuse is not None)
    assert fused == sum(1 for m in model.modules() if isinstance(m, hooked)) > 0
