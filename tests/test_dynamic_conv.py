"""DynamicConv and the shared per_sample_conv: slow references, params, extra_macs, arguments.

Shapes, gradients, batch independence, batch size 1, gradcheck and ONNX are in test_module_conformance.py.
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapenas.modules.dynamic_conv import DynamicConv
from shapenas.modules.dynamic_kernel import conv_out_size, per_sample_conv


def _reference(m: DynamicConv, x: torch.Tensor) -> torch.Tensor:
    """Slow, obvious DynamicConv (eval mode) from its parameters alone: one sample at a time, the gates as a matrix
    product, the kernel built by a loop over E, one plain conv per sample, BatchNorm and SiLU written out."""
    kernels = m.weight.reshape(m.num_experts, m.c2, m.c1 // m.groups, m.k, m.k)
    bn = m.bn
    outs = []
    for xb in x:
        gates = torch.sigmoid(m.routing.weight @ xb.mean(dim=(1, 2)) + m.routing.bias)  # (E,)
        kernel = sum(gates[e] * kernels[e] for e in range(m.num_experts))
        y = F.conv2d(xb[None], kernel, stride=m.s, padding=m.k // 2, groups=m.groups)[0]
        y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var + bn.eps)[:, None, None]
        y = y * bn.weight[:, None, None] + bn.bias[:, None, None]
        outs.append(y * torch.sigmoid(y))
    return torch.stack(outs)


# --- per_sample_conv ---------------------------------------------------------------------------


@pytest.mark.parametrize("groups", [1, 2])
def test_per_sample_conv_equals_loop(groups):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 7, 6, dtype=torch.float64)
    w = torch.randn(3, 6, 4 // groups, 3, 3, dtype=torch.float64)
    b = torch.randn(3, 6, dtype=torch.float64)
    y = per_sample_conv(x, w, b, stride=2, padding=1, groups=groups)
    ref = torch.cat([F.conv2d(x[i : i + 1], w[i], b[i], 2, 1, groups=groups) for i in range(3)])
    torch.testing.assert_close(y, ref)
    assert y.shape[-2:] == (conv_out_size(7, 3, 2, 1), conv_out_size(6, 3, 2, 1)) == (4, 3)


def test_per_sample_conv_empty_batch_and_bad_shapes():
    x, w = torch.randn(0, 4, 5, 5, requires_grad=True), torch.randn(0, 2, 4, 3, 3, requires_grad=True)
    y = per_sample_conv(x, w, padding=1)
    assert y.shape == (0, 2, 5, 5)
    y.sum().backward()  # the empty output is still part of the graph: empty gradients reach x and the kernels
    assert x.grad.shape == x.shape and w.grad.shape == w.shape
    with pytest.raises(ValueError, match="does not fit"):
        per_sample_conv(torch.randn(2, 4, 5, 5), torch.randn(3, 2, 4, 3, 3))
    with pytest.raises(ValueError, match="expected x"):
        per_sample_conv(torch.randn(4, 5, 5), torch.randn(1, 2, 4, 3, 3))


# --- DynamicConv -------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [dict(k=3, num_experts=4), dict(k=1, num_experts=1), dict(k=3, groups=2)])
def test_matches_slow_reference(kw):
    torch.manual_seed(1)
    m = DynamicConv(8, 6, s=2, **kw).double().eval()
    with torch.no_grad():  # BN affine and routing away from their init
        for p in (m.bn.weight, m.bn.bias, m.routing.weight, m.routing.bias):
            p.add_(torch.randn_like(p) * 0.5)
    nn.init.normal_(m.bn.running_mean), nn.init.uniform_(m.bn.running_var, 0.5, 2.0)
    x = torch.randn(3, 8, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(m(x), _reference(m, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("c1, c2, k, e, g", [(16, 32, 3, 4, 1), (8, 12, 1, 2, 4), (6, 6, 5, 1, 6)])
def test_param_count_formula(c1, c2, k, e, g):
    m = DynamicConv(c1, c2, k, 1, e, g)
    assert sum(p.numel() for p in m.parameters()) == e * c2 * (c1 // g) * k * k + c1 * e + e + 2 * c2


def test_extra_macs_formula():
    b, c1, c2, k, e = 2, 8, 6, 3, 4
    m = DynamicConv(c1, c2, k, 2, e)
    x = torch.randn(b, c1, 9, 7)
    y = m(x)
    h, w = y.shape[-2:]
    assert m.extra_macs(x, y) == b * e * c2 * c1 * k * k + b * c2 * h * w * c1 * k * k


@pytest.mark.parametrize(
    "kw, bad",
    [
        (dict(k=4), "k"),
        (dict(k=-1), "k"),
        (dict(s=0), "s"),
        (dict(num_experts=0), "num_experts"),
        (dict(groups=3), "groups=3"),
        (dict(groups=False), "groups"),
    ],
)
def test_bad_arguments_raise(kw, bad):
    with pytest.raises(ValueError, match=bad) as err:
        DynamicConv(**(dict(c1=8, c2=8) | kw))
    assert str(list(kw.values())[0]) in str(err.value)
