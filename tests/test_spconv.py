"""SPConv: shapes (odd sizes at stride 2), pooling, channel split, parameter formula, bad args, extra_macs.

Gradients, batch independence, batch size 1, empty batch, gradcheck and ONNX are in
test_module_conformance.py.
"""

from __future__ import annotations

import inspect

import pytest
import torch

from shapenas.modules.spconv import SPConv


def out_size(n: int, s: int) -> int:
    """Output size of a 3x3 conv with padding 1: floor((n-1)/s)+1 == ceil(n/s)."""
    return (n - 1) // s + 1


@pytest.mark.parametrize("s", [1, 2])
@pytest.mark.parametrize("hw", [(1, 1), (3, 3), (5, 5), (7, 7), (7, 5), (4, 7), (8, 6), (2, 3)])
def test_shapes(s, hw):
    m = SPConv(8, 6, 3, s)
    y = m(torch.randn(2, 8, *hw))
    assert y.shape == (2, 6, out_size(hw[0], s), out_size(hw[1], s))


def test_pool_partial_window_averages_covered_pixels():
    # Odd W at stride 2: the last window covers one column, so it must equal that column.
    m = SPConv(4, 2, 3, 2)
    x = torch.arange(15.0).view(1, 1, 3, 5).expand(1, 4, 3, 5)
    p = m._pool(x)
    assert p.shape == (1, 4, 2, 3)
    assert p[0, 0, 1, 2] == x[0, 0, 2, 4]
    assert p[0, 0, 0, 0] == x[0, 0, :2, :2].mean()


def test_default_args_match_yaml_row():
    sig = inspect.signature(SPConv.__init__)
    assert list(sig.parameters)[1:] == ["c1", "c2", "k", "s", "ratio"]
    assert [sig.parameters[n].default for n in ("k", "s", "ratio")] == [3, 1, 0.5]


@pytest.mark.parametrize(
    "c1,ratio,c_rep",
    [(8, 0.5, 4), (6, 0.5, 2), (10, 0.5, 4), (7, 0.5, 2), (16, 0.25, 4), (9, 0.75, 6)],
)
def test_split_rounds_representative_down_to_even(c1, ratio, c_rep):
    m = SPConv(c1, 4, ratio=ratio)
    assert (m.c_rep, m.c_red) == (c_rep, c1 - c_rep)
    m(torch.randn(1, c1, 5, 5))


@pytest.mark.parametrize("c1,c2,ratio", [(8, 6, 0.5), (7, 4, 0.5), (16, 10, 0.25), (9, 8, 0.75)])
def test_param_count_formula(c1, c2, ratio):
    c_rep = int(c1 * ratio) // 2 * 2
    c_red = c1 - c_rep
    gwc = c2 * (c_rep // 2) * 9
    pwc = c2 * c_rep
    red = c2 * c_red + c2
    bns = 2 * (2 * c2)
    m = SPConv(c1, c2, ratio=ratio)
    assert sum(p.numel() for p in m.parameters()) == gwc + pwc + red + bns
    assert not hasattr(m, "bn") and isinstance(m.act, torch.nn.SiLU)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(c1=8, c2=4, k=1), "k must be 3"),
        (dict(c1=8, c2=4, k=5), "got 5"),
        (dict(c1=8, c2=4, k=1), "got 1"),
        (dict(c1=8, c2=4, s=3), "s must be 1 or 2, got 3"),
        (dict(c1=8, c2=5), "c2 must be even"),
        (dict(c1=8, c2=4, ratio=0.0), "ratio must be in (0, 1), got 0.0"),
        (dict(c1=8, c2=4, ratio=1.0), "got 1.0"),
        (dict(c1=2, c2=4, ratio=0.5), "c1=2"),
        (dict(c1=5, c2=4, ratio=0.3), "ratio=0.3"),
    ],
)
def test_bad_args_raise_value_error_naming_value(kwargs, needle):
    with pytest.raises(ValueError) as e:
        SPConv(**kwargs)
    assert needle in str(e.value)


def test_rgb_input_rejected_with_clear_message():
    with pytest.raises(ValueError) as e:
        SPConv(3, 16, 3, 2)
    msg = str(e.value)
    assert "c1=3" in msg and "ratio=0.5" in msg and "even" in msg


@pytest.mark.parametrize("s", [1, 2])
def test_extra_macs_formula(s):
    m = SPConv(6, 4, 3, s)
    x = torch.randn(2, 6, 7, 5)
    y = m(x)
    b, c1, hi, wi = x.shape
    _, c2, h, w = y.shape
    pool = b * c1 * hi * wi if s == 2 else 0
    expected = pool + (1 + 2 + 2) * b * c2 * h * w + 2 * b * c2
    assert m.extra_macs(x, y) == expected
