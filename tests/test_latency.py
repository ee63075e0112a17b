"""Latency measurement with real parts: a real YOLOv8n at a small image size, fused, on both backends.

No timing thresholds beyond coarse orderings: a model timed against itself gives a ratio of about 1, and a
deliberately slower candidate (every conv slot an AKConv with N = 9) a ratio above 1 and above the self ratio.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from shapenas.evaluators import EvaluationFailed, Job, LatencyEvaluator
from shapenas.latency import BACKENDS, Latency, LatencySettings, pair_orders, time_interleaved
from shapenas.ultralytics.build import build_model, load_model_yaml
from shapenas.ultralytics.export import export_onnx
from tests.trained_state import make_trained_like
from tests.yaml_fixtures import all_modules_yaml

# exporting traces our modules at a fixed size: the tracer's warnings say so, and torch's exporter warns of its future
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
IMGSZ = 128
SETTINGS = {"imgsz": IMGSZ, "device": "cpu", "repeats": 9, "warmup": 2, "threads": 1}


def _every_conv_an_akconv(model_yaml: dict, num_param: int = 9) -> dict:
    slow = copy.deepcopy(model_yaml)
    for row in slow["backbone"] + slow["head"]:
        if row[2] == "Conv":  # yolov8n's top-level Conv rows are its 3x3 conv slots
            row[2], row[3] = "AKConv", [row[3][0], num_param, row[3][2]]
    return slow


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_ratio_about_one_and_a_slower_candidate_above_it(backend, tmp_path):
    base = load_model_yaml("yolov8n.yaml")
    evaluator = LatencyEvaluator(base, LatencySettings(backend=backend, **SETTINGS))
    attrs = evaluator.evaluate(Job(base, tmp_path)).as_attrs()  # what a trial stores
    assert set(attrs) == {f"latency_{key}" for key in Latency.__dataclass_fields__}
    itself = Latency(**{key.removeprefix("latency_"): value for key, value in attrs.items()})
    slower = evaluator.measure(_every_conv_an_akconv(base))
    assert 0.67 < itself.ratio < 1.5, itself
    assert slower.ratio > 1 and slower.ratio > itself.ratio, (itself, slower)
    for result in (itself, slower):
        assert result.ms > 0 and result.base_ms > 0
        assert (result.backend, result.threads, result.imgsz, result.repeats) == (backend, 1, IMGSZ, 9)
        assert result.device  # the CPU's model name


@pytest.mark.parametrize("repeats", [1, 6, 7])
def test_interleaving_runs_adjacent_pairs_in_balanced_orders(repeats):
    calls = []
    base_ms, ms = time_interleaved(lambda: calls.append("b"), lambda: calls.append("c"), repeats, warmup=2)
    assert len(base_ms) == len(ms) == repeats and all(t >= 0 for t in base_ms + ms)
    assert "".join(calls[:4]) == "bcbc"  # the warm-up pairs
    pairs = ["".join(calls[i : i + 2]) for i in range(4, len(calls), 2)]
    assert sorted(set(pairs)) <= ["bc", "cb"] and len(pairs) == repeats
    assert pairs.count("bc") == (repeats + 1) // 2  # balanced: base first in half of the pairs
    assert pair_orders(repeats) == pair_orders(repeats)  # seeded: every candidate gets the same schedule
    if repeats >= 6:
        assert pairs != ["bc", "cb"] * (repeats // 2) and pairs[: repeats // 2] != ["bc"] * (repeats // 2)


def test_onnx_export_is_the_fused_model(tmp_path):
    """The onnxruntime backend runs Ultralytics' export of a model holding every module: batch 1, fixed size, and
    the same output as the fused torch model (our BatchNorms folded by the exporter's fuse)."""
    import onnxruntime

    model = make_trained_like(build_model(all_modules_yaml("yolov8n.yaml"))).eval()
    path = export_onnx(model, IMGSZ, tmp_path / "all.onnx")
    assert path == tmp_path / "all.onnx" and path.exists() and not hasattr(model, "pt_path")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "export must not fuse the model given"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, IMGSZ, IMGSZ]
    image = torch.rand(1, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))
    (got,) = session.run(None, {session.get_inputs()[0].name: image.numpy()})
    with torch.no_grad():
        want = model.fuse(verbose=False)(image)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_a_candidate_that_does_not_build_fails_the_evaluation():
    base = load_model_yaml("yolov8n.yaml")
    broken = copy.deepcopy(base)
    broken["backbone"][1] = [-1, 1, "SPConv", [64, 5, 2]]  # SPConv takes k = 3 only
    with pytest.raises(EvaluationFailed, match="k must be 3"):
        LatencyEvaluator(base, LatencySettings(**SETTINGS)).measure(broken)


def test_device_spellings():
    assert LatencySettings(**{**SETTINGS, "device": "cpu"}).torch_device() == torch.device("cpu")
    auto = LatencySettings(**{**SETTINGS, "device": "auto", "backend": "onnxruntime"})
    assert auto.torch_device() == torch.device("cpu")  # onnxruntime runs on the CPU
    if torch.cuda.is_available():
        assert LatencySettings(**{**SETTINGS, "device": "0"}).torch_device() == torch.device("cuda", 0)


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"imgsz": 100}, "imgsz"),
        ({"imgsz": 0}, "imgsz"),
        ({"imgsz": "640"}, "imgsz"),
        ({"imgsz": True}, "imgsz"),
        ({"backend": "tensorrt"}, "'tensorrt'"),
        ({"device": "gpu"}, "'gpu'"),
        ({"device": -1}, "-1"),
        ({"device": "cuda:0"}, "'cuda:0'"),
        ({"device": 1.0}, "1.0"),
        ({"device": torch.cuda.device_count()}, "CUDA device"),
        ({"backend": "onnxruntime", "device": 0}, "device must be 'auto' or 'cpu', got 0"),
        ({"repeats": 0}, "repeats"),
        ({"repeats": 2.5}, "repeats"),
        ({"warmup": -1}, "warmup"),
        ({"threads": 0}, "threads"),
    ],
)
def test_bad_settings_raise_value_error_naming_the_value(changes, named):
    with pytest.raises(ValueError, match="latency") as error:
        LatencySettings(**{**SETTINGS, **changes})
    message = str(error.value)
    assert named in message and "\n" not in message
    assert any(repr(value) in message or str(value) in message for value in changes.values())
