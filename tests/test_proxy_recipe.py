"""The proxy's fine-tune recipe as it really trains (Ultralytics, a few iterations on tiny generated data):
`proxy.bn: frozen` keeps the parent's BatchNorm statistics, `train` lets the batches replace part of them."""

from __future__ import annotations

import pytest
import torch

from shapenas.config import config_from_dict
from shapenas.data.check import class_count
from shapenas.evaluators import Job, ProxyTrainer
from shapenas.spaces import SearchSpace
from shapenas.ultralytics.build import build_model
from shapenas.ultralytics.checkpoint import load_detection_model
from shapenas.ultralytics.images import probe_batch

pytestmark = pytest.mark.slow


def _batchnorm_statistics(model) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}


@pytest.mark.parametrize("bn, kept", [("frozen", True), ("train", False)])
def test_frozen_batchnorm_keeps_the_parents_statistics_while_the_weights_train(tmp_path, tiny_data, bn, kept):
    proxy = {"epochs": 1, "imgsz": 64, "batch": 8, "device": "cpu", "init": "parent", "bn": bn}
    proxy["train_args"] = {"lr0": 0.01, "warmup_epochs": 0, "mosaic": 0.0}
    config = config_from_dict(
        {"base": "yolov8n.yaml", "data": str(tiny_data), "space": {"slots": [16]}, "proxy": proxy}
    )
    space = SearchSpace(config)
    model_yaml = {**space.render(space.baseline()), "nc": class_count(str(tiny_data))}
    torch.manual_seed(0)
    parent = build_model(model_yaml)
    trainer = ProxyTrainer(config.proxy, str(tiny_data), parent=parent, probe=probe_batch(str(tiny_data), 64))
    result = trainer.evaluate(Job(model_yaml, tmp_path, "yolov8n"))
    trained = load_detection_model(result.weights)
    before, after = _batchnorm_statistics(parent), _batchnorm_statistics(trained)
    same = [torch.allclose(before[k], after[k], rtol=1e-3, atol=1e-5) for k in before]
    assert all(same) if kept else not any(same)
    weights_moved = any(
        not torch.allclose(p.float(), trained.state_dict()[k].float()) for k, p in parent.state_dict().items()
    )
    assert weights_moved  # the weights trained either way
