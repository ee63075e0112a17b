"""AKConv: fast grid_sample path against the slow gather reference, plus shapes.

What every module must do (gradients, batch independence, batch size 1, empty batch, gradcheck of the
module, ONNX) is in test_module_conformance.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from shapenas.modules import akconv_shapes as shapes
from shapenas.modules.akconv import AKConv, akconv_sample
from tests.akconv_reference import original_axis_weights, reference_forward, reference_sample


def _randomize(m: AKConv, scale: float = 0.5, seed: int = 0) -> AKConv:
    """Non-zero offsets (fractional, some past the border) and non-trivial BN stats."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m.p_conv.weight.copy_(torch.randn(m.p_conv.weight.shape, generator=g) * scale)
        m.p_conv.bias.copy_(torch.randn(m.p_conv.bias.shape, generator=g) * 2)
        m.bn.running_mean.copy_(torch.randn(m.c2, generator=g) * 0.1)
        m.bn.running_var.copy_(torch.rand(m.c2, generator=g) + 0.5)
    return m.eval()


@pytest.mark.parametrize("n", [2, 3, 5, 7, 9, 13])
@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize("hw", [(7, 9), (1, 1), (8, 8)])
def test_output_shape(n, s, hw):
    H, W = hw
    m = AKConv(3, 4, n, s).eval()
    y = m(torch.randn(2, 3, H, W))
    assert y.shape == (2, 4, (H - 1) // s + 1, (W - 1) // s + 1)
    assert m.sample(torch.randn(2, 3, H, W)).shape == (2, 3, ((H - 1) // s + 1) * n, (W - 1) // s + 1)


@pytest.mark.parametrize("n,c1,c2", [(2, 3, 5), (5, 8, 16), (9, 4, 4), (13, 1, 7)])
def test_param_count(n, c1, c2):
    m = AKConv(c1, c2, n)
    assert sum(p.numel() for p in m.parameters()) == n * c1 * c2 + 18 * n * c1 + 2 * n + 2 * c2


def test_extra_macs_and_repr():
    m = AKConv(3, 4, 5, 2)
    x = torch.randn(2, 3, 7, 9)
    y = m.eval()(x)
    assert m.extra_macs(x, y) == 4 * 2 * 3 * 4 * 5 * 5
    r = repr(m)
    assert "num_param=5" in r and "s=2" in r and "shape=regular" in r
    assert "shape=custom ((0, 0), (2, 1))" in repr(AKConv(3, 4, 2, shape=[[0, 0], [2, 1]]))


@pytest.mark.parametrize("n,s,hw", [(5, 1, (7, 9)), (3, 2, (9, 7)), (9, 2, (6, 5)), (4, 1, (1, 5))])
def test_fast_matches_reference(n, s, hw):
    m = _randomize(AKConv(3, 6, n, s, shape="cross" if n == 4 else None))
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        off = m.p_conv(x)
        H, W = hw
        h, w = off.shape[2:]
        pr = off[:, :n] + (torch.arange(h) * s).view(1, 1, h, 1) + m.p_n[:n].view(1, n, 1, 1)
        # the test must exercise fractional positions and the clamped border
        assert ((pr < 0) | (pr > H - 1)).any()
        assert (pr.frac().abs() > 1e-3).float().mean() > 0.9
        torch.testing.assert_close(m.sample(x), reference_sample(m, x), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(m(x), reference_forward(m, x), atol=1e-4, rtol=1e-4)


def test_sample_gradcheck_float64():
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    # offsets well inside (0, 1) fractions so no position sits on a kink (integer or border)
    off = (torch.rand(1, 6, 3, 2, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    p_n = torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 0.0])
    assert torch.autograd.gradcheck(lambda a, o: akconv_sample(a, o, p_n, 2), (x, off))


def test_zero_init_samples_initial_points():
    m = AKConv(3, 4, 5, 2).eval()
    assert not m.p_conv.weight.any() and not m.p_conv.bias.any()
    x = torch.randn(2, 3, 7, 9)
    h, w = 4, 5
    with torch.no_grad():
        got = m.sample(x).view(2, 3, h, 5, w)
        for n, (r, c) in enumerate(m.points):
            rows = (torch.arange(h) * 2 + r).clamp(max=6)
            cols = (torch.arange(w) * 2 + c).clamp(max=8)
            torch.testing.assert_close(got[:, :, :, n, :], x[:, :, rows][:, :, :, cols])
        torch.testing.assert_close(m(x), reference_forward(m, x))


def test_custom_shapes():
    assert AKConv(3, 4, 3, shape="line_h").points == ((0, 0), (0, 1), (0, 2))
    pts = [[0, 1], [3, 0], [-1, 2]]
    m = AKConv(3, 4, 3, shape=pts)
    assert m.points == ((0, 1), (3, 0), (-1, 2))  # as given, not translated
    assert m.p_n.tolist() == [0.0, 3.0, -1.0, 1.0, 0.0, 2.0]
    _randomize(m)
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(m(x), reference_forward(m, x), atol=1e-4, rtol=1e-4)
    for name in shapes.FAMILIES:
        assert AKConv(2, 2, 6, shape=name)(torch.randn(2, 2, 5, 5)).shape == (2, 2, 5, 5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(shape=[[0, 0], [0, 1]]), "expected 3"),
        (dict(shape=[[0, 0], [0, 1], [0, 1]]), r"duplicate point \[0, 1\]"),
        (dict(shape=[[0, 0], [0, 1.5], [1, 1]]), "1.5"),
        (dict(shape="zigzag"), "zigzag"),
        (dict(shape=[[0, 0], [0, 1], [1]]), r"\[1\]"),
        (dict(shape=7), "7"),
        (dict(num_param=1), "num_param must be an integer >= 2, got 1"),
        (dict(s=0), "s must be an integer >= 1, got 0"),
        (dict(c1=0), "c1 must be an integer >= 1, got 0"),
        (dict(c2=2.5), "c2 must be an integer >= 1, got 2.5"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(c1=3, c2=4, num_param=3, s=1) | kwargs
    with pytest.raises(ValueError, match=match):
        AKConv(**args)


def test_autocast_bf16_uses_fp32_grid(monkeypatch):
    m = _randomize(AKConv(4, 8, 5, 2))
    x = torch.randn(2, 4, 11, 13)
    seen = []
    real = F.grid_sample

    def spy(inp, grid, *a, **k):
        seen.append((inp.dtype, grid.dtype))
        return real(inp, grid, *a, **k)

    monkeypatch.setattr(F, "grid_sample", spy)
    with torch.no_grad():
        ref = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
            y16 = m(x.bfloat16())  # bf16 input too: sampled in fp32, returned as bf16
    assert seen == [(torch.float32, torch.float32)] * 3
    assert y.dtype == y16.dtype == torch.bfloat16  # the (N,1) conv runs under autocast
    for out in (y, y16):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.05)


def test_non_contiguous_matches_reference():
    m = _randomize(AKConv(3, 4, 5, 1))
    x = torch.randn(2, 6, 7, 3).permute(0, 3, 1, 2)
    assert not x.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(m(x), reference_forward(m, x.contiguous()), atol=1e-4, rtol=1e-4)


def test_original_border_weights_differ():
    # the original's weights sum to 2 at the border; ours (reference/fast) sum to 1
    assert sum(original_axis_weights(4.0, 5)) == 2
    assert sum(original_axis_weights(-0.5, 5)) == 2
    assert sum(original_axis_weights(2.25, 5)) == 1
    m = AKConv(1, 1, 2)
    with torch.no_grad():
        m.p_conv.bias.copy_(torch.tensor([50.0, -50.0, 50.0, -50.0]))  # every point far outside
    x = torch.randn(1, 1, 4, 5)
    s = m.sample(x).view(1, 1, 4, 2, 5)
    torch.testing.assert_close(s[0, 0, :, 0, :], x[0, 0, 3, 4].expand(4, 5))  # bottom-right
    torch.testing.assert_close(s[0, 0, :, 1, :], x[0, 0, 0, 0].expand(4, 5))  # top-left


# ---- shapes ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(shapes.FAMILIES))
def test_families_give_n_distinct_points(name):
    f = shapes.FAMILIES[name]
    for n in range(2, 65):
        pts = f(n)
        assert len(pts) == n and len(set(pts)) == n, (name, n)
        assert all(type(r) is int and type(c) is int for r, c in pts)
        assert shapes.resolve_shape(name, n) == pts


def test_regular_layout():
    assert shapes.regular(5) == ((0, 0), (0, 1), (1, 0), (1, 1), (2, 0))
    assert shapes.regular(9) == tuple((r, c) for r in range(3) for c in range(3))
    assert shapes.regular(2) == ((0, 0), (1, 0))  # b = round(sqrt 2) = 1
    assert shapes.resolve_shape(None, 5) == shapes.regular(5)


def test_the_nine_documented_families():
    # the README names nine families; the default space.akconv.shapes offers them all, plus free-form points
    names = ["regular", "line_h", "line_v", "band_h", "band_v", "diagonal", "anti_diagonal", "cross", "ring"]
    assert list(shapes.FAMILIES) == names
    assert shapes.FREE_SHAPE not in shapes.FAMILIES


def test_canonical_and_ascii_grid():
    pts = ((0, 1), (3, 0), (-1, 2))
    moved = tuple((r + 5, c - 7) for r, c in pts)
    assert shapes.canonical(moved) == shapes.canonical(pts) == ((0, 2), (1, 1), (4, 0))
    assert shapes.canonical(shapes.cross(5)) == shapes.cross(5)
    assert shapes.ascii_grid(shapes.regular(5)) == "##\n##\n#."
    assert shapes.ascii_grid(shapes.cross(5)) == ".#.\n###\n.#."
    assert shapes.ascii_grid(moved) == "..#\n.#.\n...\n...\n#.."
