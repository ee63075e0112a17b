"""`shapenas.inherit_weights` on whole Ultralytics models: a parent with random "trained" weights and BatchNorm
statistics, candidates built from YAML, outputs compared in eval mode; and a real training that starts from them."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import shapenas
from shapenas.ultralytics.build import build_model, load_model_yaml, yolo_model
from tests.helpers import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")


def base_yaml(name: str = "yolov8n.yaml", nc: int = 5) -> dict:
    model = load_model_yaml(name)
    return {**model, "nc": nc}


def with_rows(model_yaml: dict, rows: dict[int, tuple[str, list]]) -> dict:
    """The YAML with layer index -> (module, args) rows replaced."""
    model = copy.deepcopy(model_yaml)
    n_backbone = len(model["backbone"])
    for index, (name, args) in rows.items():
        section, i = ("backbone", index) if index < n_backbone else ("head", index - n_backbone)
        model[section][i][2:] = [name, args]
    return model


@torch.no_grad()
def trained_parent(model_yaml: dict, seed: int = 0):
    """A parent whose every weight and BatchNorm statistic is random (not the constructor's initialisation)."""
    torch.manual_seed(seed)
    parent = build_model(model_yaml)
    for module in parent.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.3)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.normal_(1, 0.2)
            module.bias.normal_(0, 0.2)
        elif isinstance(module, nn.Conv2d) and module.weight.requires_grad:
            module.weight.mul_(1 + 0.2 * torch.randn_like(module.weight))
    return parent.eval()


def outputs(model, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(image)[0]  # (B, 4 + nc, anchors): boxes then class scores


IMAGE = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
# ODConv, DynamicConv and DySample (lp, for nearest upsampling) start exactly as the layers they replace
# YAML rows hold unscaled channels (YOLOv8's n scale multiplies them by 0.25), as in the base's own rows
EXACT_ROWS = {
    1: ("ODConv", [128, 3, 2, 4]),
    3: ("DynamicConv", [256, 3, 2, 4]),
    10: ("DySample", [2, "lp", 4]),
    13: ("DySample", [2, "lp", 2, True]),
    19: ("ODConv", [512, 3, 2, 2]),
}
APPROXIMATE_ROWS = {5: ("AKConv", [512, 5, 2]), 7: ("SPConv", [1024, 3, 2, 0.5]), 16: ("AKConv", [256, 9, 2, "ring"])}


def test_a_model_without_swaps_is_the_parent_exactly():
    parent = trained_parent(base_yaml())
    model = build_model(base_yaml())
    records = shapenas.inherit_weights(model, parent)
    assert [r.how for r in records] == ["copied"] * len(model.model)
    assert torch.equal(outputs(model, IMAGE), outputs(parent, IMAGE))
    assert torch.equal(model.stride, parent.stride)


def test_exact_swaps_keep_the_whole_model_output():
    parent = trained_parent(base_yaml())
    model = build_model(with_rows(base_yaml(), EXACT_ROWS))
    records = {r.index: r for r in shapenas.inherit_weights(model, parent)}
    assert {i: records[i].how for i in EXACT_ROWS} == dict.fromkeys(EXACT_ROWS, "exact")
    assert all(r.how == "copied" for i, r in records.items() if i not in EXACT_ROWS)
    want = outputs(parent, IMAGE)
    assert float((outputs(model, IMAGE) - want).norm() / want.norm()) < 1e-5


def test_approximate_swaps_record_their_measured_error():
    parent = trained_parent(base_yaml())
    model = build_model(with_rows(base_yaml(), APPROXIMATE_ROWS))
    records = {r.index: r for r in shapenas.inherit_weights(model, parent, probe=IMAGE)}
    for index in APPROXIMATE_ROWS:
        record = records[index]
        assert (record.module, record.how) == (APPROXIMATE_ROWS[index][0], "approximate")
        assert 0 < record.error < 10
    assert records[0].to_dict() == {"index": 0, "module": "Conv", "how": "copied", "error": None, "note": ""}


def test_layers_that_do_not_fit_the_parent_start_fresh_and_say_why():
    """A yolov8s candidate inherits from a yolov8n parent: nothing crashes, every layer says what it got."""
    parent = trained_parent(base_yaml())
    model = build_model(with_rows(base_yaml("yolov8s.yaml"), {1: ("ODConv", [128, 3, 2, 4])}))
    records = {r.index: r for r in shapenas.inherit_weights(model, parent)}
    assert records[1].how == "fresh" and "in_channels" in records[1].note
    # the stem has 32 channels, the parent's 16: Ultralytics fills what it can of a first conv, the rest is fresh
    assert records[0].how == "partial" and records[0].note.startswith("fresh: ")
    assert records[10].how == "copied"  # an nn.Upsample holds nothing to differ


def test_a_parent_with_another_class_count_gives_all_but_the_class_convolutions():
    """As Ultralytics' own transfer does (a COCO checkpoint on a 5-class dataset)."""
    parent = trained_parent(base_yaml(nc=80))
    model = build_model(with_rows(base_yaml(nc=5), EXACT_ROWS))
    records = shapenas.inherit_weights(model, parent)
    head = records[-1]
    assert head.how == "partial" and head.note == "fresh: cv3.0.2, cv3.1.2, cv3.2.2"
    assert all(r.how in ("copied", "exact") for r in records[:-1])
    boxes_want, boxes_got = outputs(parent, IMAGE)[:, :4], outputs(model, IMAGE)[:, :4]
    assert float((boxes_got - boxes_want).norm() / boxes_want.norm()) < 1e-5


def test_yolo_objects_are_accepted_and_the_trainer_starts_from_the_inherited_weights(tiny_data, tmp_path):
    """`YOLO.train()` builds its model anew: the one that trains must hold the inherited weights at epoch 0."""
    from shapenas.ultralytics.inherit import train_from_parent

    parent = trained_parent(base_yaml())
    path = tmp_path / "yolov8n.yaml"
    import yaml

    path.write_text(yaml.safe_dump(with_rows(base_yaml(), EXACT_ROWS), sort_keys=False))
    model = yolo_model(path)
    train_from_parent(model, parent, IMAGE)
    inherited = {k: v.clone() for k, v in model.model.state_dict().items()}
    seen = {}
    copy_weights = lambda trainer: seen.update({k: v.clone() for k, v in trainer.model.state_dict().items()})  # noqa: E731
    model.add_callback("on_train_start", copy_weights)  # a copy: training updates the tensors in place
    model.train(data=str(tiny_data), epochs=1, imgsz=64, batch=8, workers=0, device="cpu", project=str(tmp_path),
                name="train", plots=False, verbose=False, val=False)  # fmt: skip
    assert seen.keys() == inherited.keys()
    assert all(torch.equal(seen[k].cpu(), inherited[k]) for k in inherited)


def test_anything_but_a_detection_model_is_a_type_error():
    with pytest.raises(TypeError, match="DetectionModel"):
        shapenas.inherit_weights(nn.Conv2d(3, 3, 1), trained_parent(base_yaml()))
