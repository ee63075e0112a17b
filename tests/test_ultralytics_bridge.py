"""The bridge (shapenas.ultralytics.build): Ultralytics builds our YAML rows with inferred input and width-scaled
output channels, for every registered module; old checkpoints keep loading.

If a new Ultralytics version changes `parse_model` in a way the bridge relies on, these tests fail loudly (the names
themselves are pinned in test_ultralytics_seam.py).
"""

from pathlib import Path

import pytest
import torch
import ultralytics
from ultralytics.nn import tasks

import shapenas  # noqa: F401
from shapenas.modules import MODULES
from shapenas.ultralytics.build import BuildError, build_model, swap_custom_rows
from shapenas.ultralytics.probe import channels_into
from tests.yaml_fixtures import all_modules_yaml

DATA = Path(__file__).parent / "data"


def _stock_twin(model_dict: dict):
    """The same dict with our rows back to stock Conv / nn.Upsample, built by Ultralytics alone."""
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
        if type(ours).__name__ in MODULES:
            names.add(type(ours).__name__)
            assert ours.type == f"{type(ours).__module__}.{type(ours).__name__}"
            assert ours.np == sum(p.numel() for p in ours.parameters())
            if hasattr(theirs, "conv"):  # width scaling and input channels exactly as Conv's
                assert (ours.c1, ours.c2) == (theirs.conv.in_channels, theirs.conv.out_channels)
    assert names == set(MODULES)
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
    assert set(MODULES) <= names
    rebuilt = tasks.DetectionModel(model.yaml, verbose=False)
    assert [type(m) for m in rebuilt.model] == [type(m) for m in model.model]


def test_a_conv_row_without_channels_is_rejected_with_the_layer():
    model_dict = all_modules_yaml("yolov8n.yaml")
    model_dict["backbone"][1] = [-1, 1, "ODConv", []]
    with pytest.raises(BuildError, match=r"layer 1 ODConv: the row needs its output channels first, got \[\]"):
        build_model(model_dict)


def test_the_channel_probe_routes_like_ultralytics_forward():
    """The probe routes a forward pass by each layer's `f` itself (the bridge runs it before a model exists);
    forward pre-hooks on Ultralytics' own forward must see the same channels entering every layer."""
    model = build_model(all_modules_yaml("yolo11n.yaml")).eval()
    seen = {}

    def record(layer, args) -> None:  # a pre-hook returning None leaves the input unchanged
        seen[layer.i] = args[0].shape[1] if isinstance(args[0], torch.Tensor) else None

    hooks = [layer.register_forward_pre_hook(record) for layer in model.model]
    with torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    wanted = {i for i, c in seen.items() if isinstance(c, int)}  # layers fed one tensor (not Concat's lists)
    assert len(wanted) > 10
    assert channels_into(model.model, wanted, 3) == {i: seen[i] for i in wanted}


def test_a_checkpoint_saved_before_the_registry_loads_and_matches_a_rebuilt_model():
    """tests/data/five_modules_before_registry.pt was saved by the code before the registry, when AKConv's stride
    was the attribute `stride` and ODConv's/DynamicConv's groups `g`: Ultralytics pickles module objects, so it must
    still load and run, and its state_dict must fit a model built from its YAML today."""
    old = ultralytics.YOLO(str(DATA / "five_modules_before_registry.pt")).model.float().eval()
    names = [type(m).__name__ for m in old.model]
    assert names == ["Conv", "AKConv", "ODConv", "SPConv", "DynamicConv", "DySample", "Concat", "Conv", "Detect"]
    assert (old.model[1].s, old.model[2].groups, old.model[4].groups) == (2, 1, 1)
    rebuilt = build_model(old.yaml).eval()
    rebuilt.load_state_dict(old.state_dict())  # strict: the same keys
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(old(x)[0], rebuilt(x)[0])
