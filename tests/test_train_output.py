"""`shapenas train` prints one description of the model it trains: our layer table (our modules by name, their real
parameter counts) and GFLOPs labelled with their size, without Ultralytics' stand-in table, its summaries (GFLOPs
without our modules' work) or its scale warning; a YAML's own `scale` is built whatever the file is named."""

from __future__ import annotations

import re

import pytest
import yaml

from shapenas.cost import yaml_cost
from shapenas.ultralytics.build import build_model, load_model_yaml, yolo_model
from tests.worker_helpers import cli
from tests.yaml_fixtures import all_modules_yaml


def _exported(folder, base="yolov8n.yaml", name="best.yaml"):
    """A model YAML as `export` writes it: our modules, `scale` in the file, a name Ultralytics reads no scale from."""
    model = all_modules_yaml(base, nc=5)
    model.pop("yaml_file")
    path = folder / name
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return path, model


def test_a_yaml_builds_at_its_own_scale_whatever_its_name(tmp_path):
    path, model = _exported(tmp_path, base="yolov8s.yaml")
    assert model["scale"] == "s"
    built = sum(p.numel() for p in yolo_model(path).model.parameters())
    assert built == sum(p.numel() for p in build_model(model).parameters())
    assert built > 2 * sum(p.numel() for p in build_model({**model, "scale": "n"}).parameters())
    assert load_model_yaml(str(path))["scale"] == ""  # Ultralytics' own guess from the name: why the fix is needed


@pytest.mark.slow
def test_train_prints_one_consistent_description(tmp_path, tiny_data):
    path, model = _exported(tmp_path)
    args = [f"data={tiny_data}", "epochs=1", "imgsz=64", "batch=8", "device=cpu", "workers=0", f"project={tmp_path}"]
    done = cli("train", path.name, *args, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    gflops = yaml_cost(model, 640).gflops
    assert f"best.yaml: 23 layers, {yaml_cost(model).params:,} parameters, {gflops:.3f} GFLOPs@640" in out, out
    for name in ("AKConv", "ODConv", "SPConv", "DynamicConv", "DySample"):
        assert re.search(rf"^\s+\d+\s+\S+\s+[\d,]+\s+{name}\s", out, re.M), name
    assert not re.search(r"^\S+ summary( \(fused\))?: ", out, re.M), out  # Ultralytics' GFLOPs, ours missing
    assert "ultralytics.nn.modules.conv.Conv" not in out and "no model scale passed" not in out
    assert "trained best.yaml: weights" in out
