"""DynamicConv and the shared per_sample_conv: shapes, gradients, slow references, params, ONNX."""

import inspect

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapenas.modules.dynamic_conv import DynamicConv
from shapenas.modules.dynamic_kernel import conv_out_size, per_sample_conv


def _reference(m: DynamicConv, x: torch.Tensor) -> torch.Tensor:
    """Slow, obvious DynamicConv (eval mode): one sample at a time, the kernel built by a loop over E."""
    outs = []
    for xb in x.split(1):
        r = torch.sigmoid(m.routing(xb.mean(dim=(2, 3))))[0]
        kernel = sum(r[e] * m.kernels()[e] for e in range(m.num_experts))
        outs.append(m.act(m.bn(F.conv2d(xb, kernel, stride=m.s, padding=m.k // 2, groups=m.g))))
    return torch.cat(outs)


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
    assert per_sample_conv(torch.randn(0, 4, 5, 5), torch.randn(0, 2, 4, 3, 3), padding=1).shape == (0, 2, 5, 5)
    with pytest.raises(ValueError, match="does not fit"):
        per_sample_conv(torch.randn(2, 4, 5, 5), torch.randn(3, 2, 4, 3, 3))
    with pytest.raises(ValueError, match="expected x"):
        per_sample_conv(torch.randn(4, 5, 5), torch.randn(1, 2, 4, 3, 3))


# --- DynamicConv -------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("s", [1, 2])
def test_output_shape_odd_sizes(k, s):
    m = DynamicConv(8, 12, k, s)
    y = m(torch.randn(2, 8, 9, 7))
    assert y.shape == (2, 12, (9 - 1) // s + 1, (7 - 1) // s + 1)


@pytest.mark.parametrize("kw", [dict(k=3, num_experts=4), dict(k=1, num_experts=1), dict(k=3, g=2)])
def test_matches_slow_reference(kw):
    torch.manual_seed(1)
    m = DynamicConv(8, 6, s=2, **kw).double().eval()
    nn.init.normal_(m.bn.running_mean), nn.init.uniform_(m.bn.running_var, 0.5, 2.0)
    x = torch.randn(3, 8, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(m(x), _reference(m, x), rtol=1e-10, atol=1e-10)


def test_batched_equals_each_sample_alone():
    torch.manual_seed(2)
    m = DynamicConv(6, 10, 3, 1, num_experts=3).eval()
    x = torch.randn(4, 6, 11, 9)
    alone = torch.cat([m(xb) for xb in x.split(1)])
    torch.testing.assert_close(m(x), alone, rtol=0, atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(3)
    m = DynamicConv(8, 6, 3, 2).train()
    y = m(torch.randn(2, 8, 7, 7))
    (y * torch.randn_like(y)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gradcheck_float64():
    torch.manual_seed(4)
    m = DynamicConv(2, 3, 3, 1, num_experts=2).double().eval()
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    w = m.weight.detach().clone().requires_grad_(True)

    def f(x, w):
        return torch.func.functional_call(m, {"weight": w}, (x,))

    assert torch.autograd.gradcheck(f, (x, w), eps=1e-6, atol=1e-5)


def test_batch_size_one_in_training():
    y = DynamicConv(8, 4).train()(torch.randn(1, 8, 6, 6))
    assert y.shape == (1, 4, 6, 6)


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
    [(dict(k=4), "k"), (dict(k=-1), "k"), (dict(s=0), "s"), (dict(num_experts=0), "num_experts"), (dict(g=3), "g=3")],
)
def test_bad_arguments_raise(kw, bad):
    with pytest.raises(ValueError, match=bad) as err:
        DynamicConv(**(dict(c1=8, c2=8) | kw))
    assert str(list(kw.values())[0]) in str(err.value)


# The tracer warns that the batch size becomes a constant: expected, the export is static-batch.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_onnx_export_fixed_batch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch.manual_seed(5)
    m = DynamicConv(8, 12, 3, 2, num_experts=4).eval()
    x = torch.randn(2, 8, 9, 11)
    path = tmp_path / "dynamic_conv.onnx"
    kw = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(m, (x,), str(path), opset_version=17, input_names=["x"], output_names=["y"], **kw)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), m(x).detach(), rtol=1e-4, atol=1e-4)
