"""The module registry: specs follow their constructors, create_module builds by name, everything that lists modules
reads the registry, and a sixth module needs only its class and one entry (even without an `init_from`: a warm-started
trial still trains, and its checkpoint loads)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from shapenas.config import config_from_dict
from shapenas.config_schema import SpaceConfig, config_defaults, config_validators
from shapenas.cost import count_macs
from shapenas.data.check import class_count
from shapenas.evaluators import Job, ProxyTrainer
from shapenas.modules import (
    MODULES,
    AKConv,
    DynamicConv,
    DySample,
    ModuleSpec,
    ODConv,
    SPConv,
    create_module,
    module_spec,
)
from shapenas.modules.registry import Searched, Values
from shapenas.spaces import Choice
from shapenas.spaces.choices import SlotChoices
from shapenas.spaces.slots import Slot
from shapenas.ultralytics.build import build_model, load_model_yaml
from shapenas.ultralytics.checkpoint import load_detection_model


def test_registry_order_and_kinds():
    # the order is the order of the choices in every stored study's `L<i>.module` distribution: never reorder
    assert list(MODULES) == ["AKConv", "ODConv", "SPConv", "DynamicConv", "DySample"]
    assert {name: spec.replaces for name, spec in MODULES.items()} == {
        "AKConv": "Conv",
        "ODConv": "Conv",
        "SPConv": "Conv",
        "DynamicConv": "Conv",
        "DySample": "nn.Upsample",
    }
    # each hook is its own class's method (ODConv and DynamicConv inherit theirs from ExpertConv)
    assert {name: spec.init_from for name, spec in MODULES.items()} == {
        "AKConv": AKConv.init_from_conv,
        "ODConv": ODConv.init_from_conv,
        "SPConv": SPConv.init_from_conv,
        "DynamicConv": DynamicConv.init_from_conv,
        "DySample": DySample.init_from_upsample,
    }
    # issue 12: a module with BatchNorm folds it with its own method; DySample has none, so nothing to fold
    assert {name: spec.fuse and spec.fuse.__qualname__ for name, spec in MODULES.items()} == {
        "AKConv": "AKConv.fuse",
        "ODConv": "ODConv.fuse",
        "SPConv": "SPConv.fuse",
        "DynamicConv": "DynamicConv.fuse",
        "DySample": None,
    }


@pytest.mark.parametrize("name", list(MODULES))
def test_create_module_builds_from_the_default_row(name):
    spec = MODULES[name]
    c = 8
    row = spec.row_args(**{n: spec.defaults[n] for n in spec.after_channels if spec.defaults[n] is not None})
    module = create_module(name, c, c, *row)
    assert type(module) is spec.cls
    assert module(torch.randn(1, c, 8, 8)).shape[1] == c


@pytest.mark.parametrize("name", [name for name in MODULES if "k" in MODULES[name].after_channels])
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("s", [1, 2])
def test_kernel_size_output_size(name, k, s):
    """Odd H, W at every kernel size the module takes: the size of nn.Conv2d(k, s, padding=k // 2)."""
    try:
        m = create_module(name, 8, 12, k, s)
    except ValueError as error:  # SPConv defines only k=3: it must say so
        assert f"got {k}" in str(error) and k != 3
        return
    y = m(torch.randn(2, 8, 9, 7))
    assert y.shape == (2, 12, (9 - 1) // s + 1, (7 - 1) // s + 1)


def test_yaml_layouts_are_pinned():
    layouts = {name: spec.yaml_args for name, spec in MODULES.items()}
    assert layouts == {
        "AKConv": ("c2", "num_param", "s", "shape"),
        "ODConv": ("c2", "k", "s", "kernel_num", "reduction"),
        "SPConv": ("c2", "k", "s", "ratio"),
        "DynamicConv": ("c2", "k", "s", "num_experts"),
        "DySample": ("scale", "style", "groups", "dyscope"),
    }


def test_row_args_fill_gaps_with_defaults_up_to_the_last_given():
    odconv = MODULES["ODConv"]
    assert odconv.row_args(s=2) == [3, 2]
    assert odconv.row_args(k=3, s=2, kernel_num=2) == [3, 2, 2]
    assert odconv.row_values([64, 5]) == {"c2": 64, "k": 5, "s": 1, "kernel_num": 4, "reduction": 0.0625}
    with pytest.raises(ValueError, match=r"ODConv: no YAML argument \['stride'\]"):
        odconv.row_args(stride=2)


def test_a_spec_must_follow_its_constructor():
    with pytest.raises(ValueError, match=r"ModuleSpec ODConv: yaml_args \('c2', 's', 'k'\) do not follow"):
        ModuleSpec("ODConv", ODConv, "conv", ("c2", "s", "k"), "odconv")
    with pytest.raises(ValueError, match="kind must be one of"):
        ModuleSpec("ODConv", ODConv, "attention", ("c2", "k"), "odconv")


def test_create_module_errors_name_the_value():
    with pytest.raises(ValueError, match="unknown module 'Nope'; registered: AKConv, ODConv"):
        create_module("Nope", 8, 8)
    with pytest.raises(ValueError, match="DySample: keeps its channels, got c1=8, c2=16"):
        create_module("DySample", 8, 16)
    assert module_spec("SPConv") is MODULES["SPConv"]


def test_config_sections_come_from_the_registry():
    module_sections = {key: value for key, value in config_defaults()["space"].items() if key != "slots"}
    assert list(module_sections) == [spec.config_key for spec in MODULES.values()]
    for spec in MODULES.values():
        keys = {"enabled", *(s.key for s in spec.searched)}
        assert set(module_sections[spec.config_key]) == keys
        assert all(f"space.{spec.config_key}.{key}" in config_validators() for key in keys)


@pytest.mark.parametrize(
    "choice, text",
    [
        (Choice.of("AKConv", "line_h", num_param=5, points=((0, 0),)), "AKConv(n=5,line_h)"),
        (Choice.of("AKConv", num_param=4, points=((0, 0),)), "AKConv(n=4,points)"),
        (Choice.of("ODConv", kernel_num=4), "ODConv(K4)"),
        (Choice.of("SPConv", ratio=0.5), "SPConv(r0.5)"),
        (Choice.of("DynamicConv", num_experts=2), "DynamicConv(E2)"),
        (Choice.of("DySample", style="lp", groups=4, dyscope=False), "DySample(lp,g4)"),
        (Choice.of("DySample", style="pl", groups=2, dyscope=True), "DySample(pl,g2,dyscope)"),
        (Choice.of("Retired", width=3), "Retired(width=3)"),  # a module no longer registered, read from a study
    ],
)
def test_summaries(choice, text):
    assert choice.describe() == text


class ScaledConv(nn.Module):
    """A stand-in sixth module: a 3x3 convolution times a learned per-channel gain, + BN + SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, gain: float = 1.0):
        super().__init__()
        if c2 % 2:
            raise ValueError(f"ScaledConv: c2 must be even, got {c2}")
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.gain = nn.Parameter(torch.full((c2, 1, 1), float(gain)))
        self.bn, self.act = nn.BatchNorm2d(c2), nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x) * self.gain))

    def extra_macs(self, x, y) -> int:
        return int(y.numel())  # the gain: one multiply per output element


SCALED = ModuleSpec(
    "ScaledConv",
    ScaledConv,
    "conv",
    ("c2", "k", "s", "gain"),
    "scaled_conv",
    (Searched("gain", (0.5, 2.0), Values("numbers", 0.0, 4.0), short="a"),),
)


def test_a_sixth_module_is_one_class_and_one_entry(monkeypatch):
    monkeypatch.setitem(MODULES, "ScaledConv", SCALED)
    model_dict = load_model_yaml("yolov8n.yaml")
    model_dict["backbone"][1] = [-1, 1, "ScaledConv", [128, 3, 2, 2.0]]
    model = build_model(model_dict)  # the bridge builds it with Conv's channels
    layer = model.model[1]
    assert type(layer) is ScaledConv and layer.conv.in_channels == 16 and layer.conv.out_channels == 32

    macs = count_macs(layer.eval(), (16, 16), channels=16)  # cost counts its extra work
    assert macs == 32 * 8 * 8 * 16 * 9 + 32 * 8 * 8 + 4 * 32 * 8 * 8

    sections = {spec.config_key: {"enabled": False} for spec in MODULES.values()}
    space = SpaceConfig.from_values({**sections, "scaled_conv": {"enabled": True, "gain": [0.5, 2.0]}})
    choices = SlotChoices(Slot(1, "conv", "backbone", 16, 32, 2), space)  # the space offers it, its values searched
    assert choices.modules == ["Conv", "ScaledConv"]
    choice = Choice.of("ScaledConv", gain=2.0)
    assert choices.row_args(choice, [128, 3, 2]) == [128, 3, 2, 2.0]
    assert choices.to_params(choice) == {"L1.module": "ScaledConv", "L1.scaled_conv.gain": 2.0}
    assert choice.describe() == "ScaledConv(a2.0)"
    config = config_from_dict({"base": "yolov8n.yaml", "space": {"scaled_conv": {"gain": [0.5]}}})  # its config keys
    assert config.space.modules["scaled_conv"].gain == [0.5] and config.to_dict()["space"]["scaled_conv"]["enabled"]

    odd = SlotChoices(Slot(1, "conv", "backbone", 16, 31, 2), space)  # refused values are dropped, with the reason
    assert odd.modules == ["Conv"]
    assert [(d.module, d.value, d.reason) for d in odd.dropped] == [
        ("ScaledConv", "gain=0.5", "ScaledConv: c2 must be even, got 31"),
        ("ScaledConv", "gain=2.0", "ScaledConv: c2 must be even, got 31"),
    ]


@pytest.mark.slow
def test_a_sixth_module_without_init_from_warm_starts_and_its_checkpoint_loads(monkeypatch, tmp_path, tiny_data):
    """A warm-started trial (the proxy, from a parent of the base) keeps what Ultralytics' transfer gave the module
    and says so, where it once raised TypeError; the checkpoint it trains loads through the registry's allow-list."""
    monkeypatch.setitem(MODULES, "ScaledConv", SCALED)
    assert SCALED.init_from is None and SCALED.fuse is None
    proxy = {"epochs": 1, "imgsz": 64, "batch": 8, "device": "cpu", "init": "parent"}
    proxy["train_args"] = {"warmup_epochs": 0, "mosaic": 0.0}
    config = config_from_dict({"base": "yolov8n.yaml", "data": str(tiny_data), "proxy": proxy})
    base = {**load_model_yaml("yolov8n.yaml"), "nc": class_count(str(tiny_data))}
    torch.manual_seed(0)
    parent = build_model(base)
    model_yaml = copy.deepcopy(base)
    model_yaml["backbone"][1] = [-1, 1, "ScaledConv", [128, 3, 2, 2.0]]

    result = ProxyTrainer(config.proxy, str(tiny_data), parent=parent).evaluate(Job(model_yaml, tmp_path, "yolov8n"))
    records = {record["index"]: record for record in result.layer_init}
    assert (records[1]["module"], records[1]["how"]) == ("ScaledConv", "partial")  # conv and bn match Conv's names
    assert records[1]["note"] == "ScaledConv has no init_from: kept what the transfer left (fresh: gain)"
    assert all(record["how"] == "copied" for index, record in records.items() if index != 1)

    trained = load_detection_model(result.weights)  # refused by a hard-coded allow-list before
    assert type(trained.model[1]) is ScaledConv and trained.model[1].gain.shape == (32, 1, 1)


def test_only_the_modules_value_error_drops_a_value(monkeypatch):
    """A bug (any other exception) while checking a value must surface, not shrink the space silently."""

    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr("shapenas.spaces.choices.create_module", broken)
    space = SpaceConfig.from_values({"akconv": {"enabled": False}})
    with pytest.raises(RuntimeError, match="a bug"):
        SlotChoices(Slot(1, "conv", "backbone", 16, 32, 2), space)
