"""The bridge: Ultralytics builds our YAML rows with inferred input and width-scaled output channels.

If a new Ultralytics version changes `parse_model` in a way the bridge relies on, these tests fail loudly.
"""

import inspect

import pytest
import torch
import ultralytics
from ultralytics.nn import tasks
from ultralytics.nn.modules import Conv

import shapenas  # noqa: F401
from shapenas.ultralytics_bridge import CUSTOM_MODULES, BuildError, build_model
from tests.yaml_fixtures import all_modules_yaml


def test_parse_model_is_wrapped_and_has_the_signature_the_bridge_expects():
    assert hasattr(tasks.parse_model, "shapenas_original"), "import shapenas did not install the bridge"
    original = tasks.parse_model.shapenas_original
    assert list(inspect.signature(original).parameters) == ["d", "ch", "verbose"]
    assert hasattr(Conv(8, 16, 3, 2), "conv"), "Conv stand-ins must expose .conv (Conv2d) to read channels from"


def _stock_twin(model_dict: dict):
    """The same dict with our rows back to stock Conv / nn.Upsample, built by Ultralytics alone."""
    from shapenas.ultralytics_bridge import swap_custom_rows

    stock_dict, _ = swap_custom_rows(model_dict)
    return tasks.DetectionModel(stock_dict, verbose=False)


@pytest.mark.parametrize(
    "base", ["yolov5n.yaml", "yolov5s.yaml", "yolov8n.yaml", "yolov8s.yaml", "yolo11n.yaml", "yolo11s.yaml"]
)
def test_custom_rows_build_with_conv_channels_at_two_scales(base):
    model_dict = all_modules_yaml(base)
    model, stock = build_model(model_dict), _stock_twin(model_dict)
    names = set()
    for ours, theirs in zip(model.model, stock.model, strict=True):
        assert (ours.i, ours.f) == (theirs.i, theirs.f)
        if type(ours).__name__ in CUSTOM_MODULES:
            names.add(type(ours).__name__)
            assert ours.type == f"{type(ours).__module__}.{type(ours).__name__}"
            assert ours.np == sum(p.numel() for p in ours.parameters())
            if hasattr(theirs, "conv"):  # width scaling and input channels exactly as Conv's
                assert (ours.c1, ours.c2) == (theirs.conv.in_channels, theirs.conv.out_channels)
    assert names == set(CUSTOM_MODULES)
    model.eval()
    out = model(torch.zeros(1, 3, 64, 64))
    assert out[0].shape[:2] == (1, 4 + 3)


@pytest.mark.parametrize("scale", list("nsmlx"))
def test_yolo_builds_a_yaml_file_naming_the_modules_at_every_scale(tmp_path, scale):
    import yaml

    path = tmp_path / f"yolov8{scale}-shapenas.yaml"
    model_dict = all_modules_yaml("yolov8.yaml")
    model_dict.pop("yaml_file"), model_dict.pop("scale")
    path.write_text(yaml.safe_dump(model_dict, sort_keys=False))
    model = ultralytics.YOLO(str(path))
    _, width, max_channels = model_dict["scales"][scale]
    akconv = model.model.model[1]  # yolov8 layer 1: [-1, 1, Conv, [128, 3, 2]], replaced by AKConv
    assert type(akconv).__name__ == "AKConv"
    assert akconv.c2 == tasks.make_divisible(min(128, max_channels) * width, 8)


def test_a_module_that_rejects_its_channels_names_the_layer():
    model_dict = all_modules_yaml("yolov8n.yaml")
    model_dict["backbone"][0] = [-1, 1, "SPConv", [64, 3, 2, 0.5]]  # RGB input: 3 channels cannot be split
    with pytest.raises(BuildError, match=r"layer 0 SPConv"):
        build_model(model_dict)


def test_repeated_custom_rows_are_rejected_with_the_layer():
    model_dict = all_modules_yaml("yolov8n.yaml")
    model_dict["backbone"][1] = [-1, 2, "AKConv", [128, 5, 2]]
    with pytest.raises(BuildError, match=r"layer 1 AKConv: repeats must be 1, got 2"):
        build_model(model_dict)


def test_model_yaml_keeps_our_names_so_trainers_rebuild_the_same_model():
    model = build_model(all_modules_yaml("yolov8n.yaml"))
    names = {row[2] for row in model.yaml["backbone"] + model.yaml["head"]}
    assert set(CUSTOM_MODULES) <= names
    rebuilt = tasks.DetectionModel(model.yaml, verbose=False)
    assert [type(m) for m in rebuilt.model] == [type(m) for m in model.model]
