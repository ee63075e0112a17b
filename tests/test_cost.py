"""shapenas.cost: each module's count equals a formula written here; stock models agree with Ultralytics."""

import pytest
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils.torch_utils import get_flops

import shapenas  # noqa: F401  (installs the bridge)
from shapenas.cost import count_macs, model_cost
from shapenas.modules import MODULES, AKConv, DynamicConv, DySample, ODConv, SPConv
from tests.yaml_fixtures import all_modules_yaml

B, H, W = 1, 64, 64  # count_macs profiles a batch of one

# thop's rules for the stock child layers, written out: conv = output elements x (cin/groups) x k x k,
# affine norm = 4 x input elements, linear = in_features x output elements, adaptive avg pool = inputs + outputs.


def conv(c_out, h, w, c_in, k=1, groups=1):
    return c_out * h * w * (c_in // groups) * k * k


def norm(c, h, w):
    return 4 * c * h * w


def out_size(size, s):
    return (size - 1) // s + 1


@pytest.mark.parametrize("n, s", [(5, 1), (5, 2), (9, 2), (3, 1)])
def test_akconv_count(n, s):
    c1, c2 = 8, 16
    h, w = out_size(H, s), out_size(W, s)
    expected = (
        conv(2 * n, h, w, c1, k=3)  # offset conv
        + 4 * c1 * h * w * n  # bilinear sampling of n points
        + conv(c2, h, w, c1) * n  # the (n, 1) conv over the stacked samples
        + norm(c2, h, w)
    )
    assert count_macs(AKConv(c1, c2, n, s), (H, W), channels=c1) == expected


@pytest.mark.parametrize("k, s, kernel_num", [(3, 1, 4), (3, 2, 1), (1, 1, 4)])
def test_odconv_count(k, s, kernel_num):
    c1, c2 = 16, 32
    a = 16  # max(int(16 * 0.0625), 16)
    h, w = out_size(H, s), out_size(W, s)
    n = c2 * c1 * k * k
    attention = (
        (c1 * H * W + c1)  # global average pool
        + conv(a, 1, 1, c1)
        + norm(a, 1, 1)  # GroupNorm
        + conv(c1, 1, 1, a)
        + conv(c2, 1, 1, a)
        + (conv(k * k, 1, 1, a) if k > 1 else 0)
        + (conv(kernel_num, 1, 1, a) if kernel_num > 1 else 0)
    )
    functional = (
        c1 * H * W  # input scaled by the channel attention
        + (kernel_num * n if kernel_num > 1 else 0)  # kernel aggregation
        + (n if k > 1 else 0)  # spatial attention on the mixed kernel
        + conv(c2, h, w, c1, k=k)  # the per-sample main convolution
        + c2 * h * w  # output scaled by the filter attention
    )
    assert count_macs(ODConv(c1, c2, k, s, kernel_num), (H, W), channels=c1) == attention + functional + norm(c2, h, w)


@pytest.mark.parametrize("k, s, experts", [(3, 1, 4), (3, 2, 2), (1, 1, 8)])
def test_dynamic_conv_count(k, s, experts):
    c1, c2 = 16, 32
    h, w = out_size(H, s), out_size(W, s)
    expected = (
        (c1 * H * W + c1)  # global average pool
        + c1 * experts  # routing Linear
        + experts * c2 * c1 * k * k  # kernel aggregation
        + conv(c2, h, w, c1, k=k)  # the per-sample main convolution
        + norm(c2, h, w)
    )
    assert count_macs(DynamicConv(c1, c2, k, s, experts), (H, W), channels=c1) == expected


@pytest.mark.parametrize("s", [1, 2])
def test_spconv_count(s):
    c1, c2, ratio = 16, 32, 0.5
    rep, red = 8, 8
    h, w = out_size(H, s), out_size(W, s)
    expected = (
        conv(c2, h, w, rep, k=3, groups=2)  # representative 3x3 group conv
        + conv(c2, h, w, rep)  # representative 1x1
        + conv(c2, h, w, red)  # redundant 1x1
        + 2 * norm(c2, h, w)  # one BN per branch
        + (c1 * H * W if s == 2 else 0)  # the 2x2 average pools before the 1x1 convs
        + c2 * h * w  # sum of the representative convs
        + 2 * c2 * h * w  # global averages of both branches
        + 2 * c2  # softmax over the two branches
        + 2 * c2 * h * w  # weighted sum
    )
    assert count_macs(SPConv(c1, c2, 3, s, ratio), (H, W), channels=c1) == expected


@pytest.mark.parametrize("style, dyscope", [("lp", False), ("lp", True), ("pl", False), ("pl", True)])
def test_dysample_count(style, dyscope):
    c, scale, groups = 64, 2, 4
    offsets = 2 * groups * scale**2 * H * W
    if style == "lp":
        convs = conv(2 * groups * scale**2, H, W, c)
    else:  # the 1x1 conv runs at the high resolution on c / scale^2 channels
        convs = conv(2 * groups, scale * H, scale * W, c // scale**2)
    convs *= 2 if dyscope else 1
    expected = convs + 4 * c * scale * H * scale * W + offsets + (2 * offsets if dyscope else 0)
    assert count_macs(DySample(c, scale, style, groups, dyscope), (H, W), channels=c) == expected


@pytest.mark.parametrize("name", ["yolov5n.yaml", "yolov8n.yaml", "yolo11n.yaml"])
def test_stock_models_agree_with_ultralytics(name):
    from ultralytics.nn.tasks import yaml_model_load

    model = DetectionModel(yaml_model_load(name), verbose=False)
    ours = model_cost(model, 640)
    theirs = get_flops(model, 640)
    assert theirs > 0
    assert ours.gflops == pytest.approx(theirs, rel=0.01)
    assert ours.params == sum(p.numel() for p in model.parameters())


def test_custom_model_counts_the_functional_work_ultralytics_misses():
    model = DetectionModel(all_modules_yaml("yolov8n.yaml"), verbose=False)
    custom = [layer for layer in model.model if hasattr(layer, "extra_macs")]
    assert {type(layer).__name__ for layer in custom} == set(MODULES)
    # Ultralytics sees neither the per-sample convolutions nor the sampling, so its figure is lower.
    assert model_cost(model, 320).gflops > get_flops(model, 320) * 1.01


def test_counting_restores_the_model_mode():
    model = DetectionModel(all_modules_yaml("yolov8n.yaml"), verbose=False)
    model.train()
    first = model_cost(model, 256)
    assert model.training
    assert model_cost(model, 256) == first
