"""DySample: the gather reference with learned offsets, shapes, bilinear at init, params, autocast, bad args,
extra_macs, ONNX with dynamic H/W.

Gradients (batch size 1, train mode), batch independence, empty batch, gradcheck and fixed-size ONNX
are in test_module_conformance.py, over the same eight configurations as CONFIGS.
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

from shapenas.modules.dysample import DySample, dysample_sample, pixel_shuffle, pixel_unshuffle
from tests.dysample_reference import reference_forward, reference_sample

CONFIGS = [  # (c, scale, style, groups, dyscope)
    (8, 2, "lp", 4, False),
    (8, 2, "lp", 2, True),
    (8, 2, "pl", 1, False),
    (16, 2, "pl", 4, True),
    (8, 2, "pl", 2, True),
    (9, 3, "pl", 1, False),
    (6, 3, "lp", 2, True),
    (4, 2, "lp", 1, False),
]


def bilinear(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def onnx_export_dynamic(m, x, path) -> None:
    # The TorchScript exporter: the dynamo one is the default in recent torch.
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    kwargs = {"dynamo": False} if has_dynamo else {}
    axes = {"x": {0: "b", 2: "h", 3: "w"}, "y": {0: "b", 2: "sh", 3: "sw"}}
    torch.onnx.export(
        m,
        (x,),
        str(path),
        opset_version=17,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes=axes,
        **kwargs,
    )


@pytest.mark.parametrize("scale, groups", [(2, 1), (2, 4), (3, 2)])
def test_sample_matches_gather_reference(scale, groups):
    """Offsets of up to +-3 pixels: fractional positions everywhere, many past the border (clamped)."""
    g = torch.Generator().manual_seed(scale * 10 + groups)
    x = torch.randn(2, 4 * groups, 3, 4, generator=g, dtype=torch.float64)
    offset = (torch.rand(2, 2 * groups * scale**2, 3, 4, generator=g, dtype=torch.float64) - 0.5) * 6
    got = dysample_sample(x, offset, scale, groups)
    torch.testing.assert_close(got, reference_sample(x, offset, scale, groups), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "cfg", [(8, 2, "lp", 4, False), (8, 2, "lp", 2, True), (8, 2, "pl", 2, False), (16, 2, "pl", 4, True)]
)
def test_module_matches_gather_reference(cfg):
    """The whole module with learned-looking parameters (offsets of a pixel or more) against the reference, which
    computes each pixel's offset from the parameters itself."""
    m = DySample(*cfg).double().eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = torch.randn(2, cfg[0], 3, 4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(m(x), reference_forward(m, x), rtol=1e-10, atol=1e-10)


def test_sample_rejects_a_wrong_offset_shape():
    with pytest.raises(ValueError, match=r"expected offset \(1, 16, 3, 4\).*got offset \(1, 8, 3, 4\)"):
        dysample_sample(torch.randn(1, 4, 3, 4), torch.randn(1, 8, 3, 4), 2, 2)


@pytest.mark.parametrize("b", [0, 2])
def test_pixel_shuffles_equal_torchs(b):
    x = torch.randn(b, 18, 4, 5)
    torch.testing.assert_close(pixel_shuffle(x, 3), torch.nn.functional.pixel_shuffle(x, 3))
    torch.testing.assert_close(pixel_unshuffle(pixel_shuffle(x, 3), 3), x)
    y = torch.randn(b, 2, 12, 15)
    torch.testing.assert_close(pixel_unshuffle(y, 3).shape, (b, 18, 4, 5))
    if b:  # torch's own pixel_unshuffle returns an empty batch unchanged
        torch.testing.assert_close(pixel_unshuffle(y, 3), torch.nn.functional.pixel_unshuffle(y, 3))


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("hw", [(1, 1), (3, 3), (7, 5), (4, 6)])
def test_shapes(cfg, hw):
    c, s = cfg[0], cfg[1]
    y = DySample(*cfg)(torch.randn(2, c, *hw))
    assert y.shape == (2, c, s * hw[0], s * hw[1])


def test_default_args_match_yaml_row():
    sig = inspect.signature(DySample.__init__)
    assert list(sig.parameters)[1:] == ["c", "scale", "style", "groups", "dyscope"]
    defaults = [sig.parameters[n].default for n in ("scale", "style", "groups", "dyscope")]
    assert defaults == [2, "lp", 4, False]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_exactly_bilinear_with_zero_offset_weights(cfg):
    torch.manual_seed(0)
    m = DySample(*cfg)
    torch.nn.init.zeros_(m.offset.weight)
    x = torch.randn(2, cfg[0], 5, 7)
    torch.testing.assert_close(m(x), bilinear(x, cfg[1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_close_to_bilinear_at_init(cfg):
    # Offsets are O(0.001 * sqrt(c_in) * |x|) input pixels, so the output moves by about that
    # times the local gradient of x: ~1e-3 on average for unit-variance inputs.
    torch.manual_seed(0)
    m = DySample(*cfg)
    x = torch.randn(2, cfg[0], 5, 7)
    diff = (m(x) - bilinear(x, cfg[1])).abs()
    assert diff.mean() < 1e-3 and diff.max() < 2e-2


def test_offset_init():
    m = DySample(64, 2, "lp", 4, dyscope=True)
    assert m.offset.weight.shape == (2 * 4 * 4, 64, 1, 1)
    assert 0.0005 < m.offset.weight.std() < 0.002
    assert m.offset.bias.abs().max() == 0 and m.scope.weight.abs().max() == 0
    assert m.scope.bias is None


@pytest.mark.parametrize(
    "cfg,params",
    [
        ((8, 2, "lp", 4, False), lambda c, s, g: c * 2 * g * s * s + 2 * g * s * s),
        ((8, 2, "lp", 4, True), lambda c, s, g: 2 * c * 2 * g * s * s + 2 * g * s * s),
        ((16, 2, "pl", 2, False), lambda c, s, g: c // (s * s) * 2 * g + 2 * g),
        ((16, 2, "pl", 2, True), lambda c, s, g: 2 * (c // (s * s)) * 2 * g + 2 * g),
    ],
)
def test_param_count_formula(cfg, params):
    c, s, _, g, _ = cfg
    assert sum(p.numel() for p in DySample(*cfg).parameters()) == params(c, s, g)


def test_coordinates_in_float32_under_autocast():
    m = DySample(8, 2, "lp", 2)
    x = torch.randn(1, 8, 6, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    ref = m(x)
    assert y.dtype == x.dtype  # sampling ran outside autocast on the float32 input
    torch.testing.assert_close(y, ref, atol=2e-2, rtol=0)  # only the offset conv is bf16


@pytest.mark.parametrize(
    "args,needle",
    [
        ((8, 2, "xx"), "style must be one of ('lp', 'pl'), got 'xx'"),
        ((8, 1), "scale must be an integer >= 2, got 1"),
        ((8, 2.0), "got 2.0"),
        ((6, 2, "lp", 4), "c=6, groups=4"),
        ((8, 2, "lp", 0), "groups must be an integer >= 1, got 0"),
        ((8, 2, "lp", 2, 1), "dyscope must be true or false, got 1"),
        ((8.0, 2), "c must be an integer >= 1, got 8.0"),
        ((6, 2, "pl", 1), "c=6, scale=2, groups=1"),
        ((8, 2, "pl", 4), "c=8, scale=2, groups=4"),
    ],
)
def test_bad_args_raise_value_error_naming_value(args, needle):
    with pytest.raises(ValueError) as e:
        DySample(*args)
    assert needle in str(e.value)


@pytest.mark.parametrize("dyscope", [False, True])
def test_extra_macs_formula(dyscope):
    m = DySample(8, 2, "lp", 2, dyscope)
    x = torch.randn(2, 8, 3, 5)
    y = m(x)
    b, c, h, w = x.shape
    n_off = b * 2 * 2 * 2 * 2 * h * w
    expected = 4 * b * c * (2 * h) * (2 * w) + n_off + (2 * n_off if dyscope else 0)
    assert m.extra_macs(x, y) == expected


def _trained_like(cfg) -> DySample:
    """A module with offsets big enough that a wrong grid would show in the output."""
    torch.manual_seed(0)
    m = DySample(*cfg).eval()
    with torch.no_grad():
        m.offset.weight.normal_(std=0.5)
        m.offset.bias.normal_(std=0.5)
    return m


@pytest.mark.parametrize("cfg", [(8, 2, "lp", 2, False), (8, 2, "pl", 2, True), (9, 3, "pl", 1, False)])
def test_onnx_dynamic_hw_correct_at_other_size(tmp_path, cfg):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    m = _trained_like(cfg)
    onnx_export_dynamic(m, torch.randn(1, cfg[0], 4, 6), tmp_path / "dysample.onnx")
    sess = ort.InferenceSession(str(tmp_path / "dysample.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(2, cfg[0], 7, 3), (1, cfg[0], 9, 11)]:
        x = torch.randn(*shape)
        (y,) = sess.run(None, {"x": x.numpy()})
        torch.testing.assert_close(torch.from_numpy(y), m(x).detach(), atol=1e-4, rtol=1e-4)
