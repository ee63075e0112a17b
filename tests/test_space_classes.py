"""`shapenas space --sample` costs candidates with the class count a search trial uses (the dataset's, when the
config's data is here), says which count it uses, and its `--out` YAMLs carry it."""

from __future__ import annotations

import re

import pytest
import yaml

from shapenas.cli import main
from shapenas.cost import yaml_cost

CONFIG = {
    "base": "yolov8n.yaml",
    "space": {"slots": [13]},
    "cost": {"imgsz": 64},
    "search": {"seed": 0, "presets": ["baseline"]},
}


@pytest.mark.parametrize("has_data", [True, False], ids=["data-here", "data-missing"])
def test_space_samples_cost_with_the_class_count_it_names(tmp_path, tiny_data, capsys, has_data):
    data = tiny_data if has_data else tmp_path / "gone" / "data.yaml"
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "data": str(data)}))
    assert main(["space", str(config), "--sample", "1", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    classes = len(yaml.safe_load(open(tiny_data))["names"]) if has_data else 80  # the synthetic data has no nc
    source = f"from data {tiny_data}" if has_data else "the base's (data: no such dataset YAML"
    assert f"costed with {classes} classes, {source}" in out, out
    (written,) = (tmp_path / "out").glob("sample_01_*.yaml")
    model_yaml = yaml.safe_load(written.read_text())
    assert model_yaml["nc"] == classes
    gflops = float(re.search(r"  (\d+\.\d{3}) GFLOPs @64", out).group(1))
    assert gflops == pytest.approx(yaml_cost(model_yaml, 64).gflops, abs=5e-4)
