"""ODConv: a slow reference, params, extra_macs, arguments, temperature.

Shapes, gradients, batch independence, batch size 1, gradcheck and ONNX are in test_module_conformance.py; the
Ultralytics callback that schedules the temperature is tested with a real training in test_ultralytics_seam.py.
"""

import pickle

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapenas.modules.odconv import ODConv, set_temperature, temperature_at


def _attention_dim(c1, reduction=0.0625):
    return max(int(c1 * reduction), 16)


def _linear(conv: nn.Conv2d, z: torch.Tensor, temperature: float) -> torch.Tensor:
    """A 1x1 attention conv on a pooled vector, as a matrix product, divided by the temperature."""
    return (conv.weight.flatten(1) @ z + conv.bias) / temperature


def _batch_norm_silu(bn: nn.BatchNorm2d, y: torch.Tensor) -> torch.Tensor:
    """Eval-mode BatchNorm with its running statistics, then SiLU, on one sample (C, H, W)."""
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None, None]
    y = (y - bn.running_mean[:, None, None]) * scale + bn.bias[:, None, None]
    return y * torch.sigmoid(y)


def _reference(m: ODConv, x: torch.Tensor) -> torch.Tensor:
    """Slow, obvious ODConv (eval mode) from its parameters alone: one sample at a time, the four attentions written
    out (GroupNorm(1, A) as a standardisation), the kernel built by a loop over K, one plain conv per sample."""
    t, k = m.temperature, m.k
    kernels = m.weight.reshape(m.kernel_num, m.c2, m.c1 // m.groups, k, k)
    outs = []
    for xb in x:
        z = m.fc.weight.flatten(1) @ xb.mean(dim=(1, 2))  # squeeze: (A,)
        z = (z - z.mean()) / torch.sqrt(z.var(unbiased=False) + m.norm.eps) * m.norm.weight + m.norm.bias
        z = z.clamp(min=0)
        channel = torch.sigmoid(_linear(m.channel_fc, z, t))
        filt = torch.sigmoid(_linear(m.filter_fc, z, t)) if m.filter_fc is not None else torch.ones(m.c2)
        spatial = torch.sigmoid(_linear(m.spatial_fc, z, t)).reshape(k, k) if m.spatial_fc is not None else 1.0
        mix = torch.softmax(_linear(m.kernel_fc, z, t), 0) if m.kernel_fc is not None else torch.ones(1)
        kernel = sum(mix[i] * spatial * kernels[i] for i in range(m.kernel_num))
        y = F.conv2d((xb * channel[:, None, None])[None], kernel, stride=m.s, padding=k // 2, groups=m.groups)[0]
        outs.append(_batch_norm_silu(m.bn, y * filt[:, None, None]))
    return torch.stack(outs)


@pytest.mark.parametrize(
    "kw", [dict(k=3, kernel_num=4), dict(k=1, kernel_num=1), dict(k=3, kernel_num=1, groups=8), dict(groups=2)]
)
def test_matches_slow_reference(kw):
    torch.manual_seed(0)
    c2 = 8 if kw.get("groups") == 8 else 6
    m = ODConv(8, c2, s=2, **kw).double().eval()
    m.temperature = 3.0
    with torch.no_grad():  # every parameter away from its init, so no attention is trivially uniform
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    nn.init.normal_(m.bn.running_mean), nn.init.uniform_(m.bn.running_var, 0.5, 2.0)
    x = torch.randn(3, 8, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(m(x), _reference(m, x), rtol=1e-10, atol=1e-10)


def test_depthwise_has_no_filter_attention():
    assert ODConv(8, 8, groups=8).filter_fc is None and ODConv(8, 8, groups=4).filter_fc is not None


def test_param_count_formula():
    c1, c2, k, kn, g = 32, 24, 3, 4, 2
    a = _attention_dim(c1)
    m = ODConv(c1, c2, k, 1, kn, groups=g)
    expected = (
        kn * c2 * (c1 // g) * k * k  # kernels
        + c1 * a
        + 2 * a  # squeeze conv (no bias) + GroupNorm
        + (a * c1 + c1)
        + (a * c2 + c2)
        + (a * k * k + k * k)
        + (a * kn + kn)  # four heads
        + 2 * c2  # BN
    )
    assert sum(p.numel() for p in m.parameters()) == expected


def test_extra_macs_formula():
    b, c1, c2, k, kn, hi, wi = 2, 8, 6, 3, 4, 9, 7
    m = ODConv(c1, c2, k, 2, kn)
    x = torch.randn(b, c1, hi, wi)
    y = m(x)
    h, w = y.shape[-2:]
    n = c2 * c1 * k * k
    assert m.extra_macs(x, y) == b * c1 * hi * wi + b * kn * n + b * n + b * c2 * h * w * c1 * k * k + b * c2 * h * w


@pytest.mark.parametrize(
    "kw, bad",
    [
        (dict(k=2), "k"),
        (dict(k=0), "k"),
        (dict(s=0), "s"),
        (dict(kernel_num=0), "kernel_num"),
        (dict(reduction=0.0), "reduction"),
        (dict(reduction=1.5), "reduction"),
        (dict(groups=3), "groups=3"),
        (dict(groups=True), "groups"),
        (dict(c1=8.0), "c1"),
    ],
)
def test_bad_arguments_raise(kw, bad):
    args = dict(c1=8, c2=8) | kw
    with pytest.raises(ValueError, match=bad) as err:
        ODConv(**args)
    assert str(list(kw.values())[0]) in str(err.value)


def test_temperature_is_not_state():
    m = ODConv(8, 8)
    m.temperature = 7.0
    assert not any("temperature" in key for key in m.state_dict())
    x = torch.randn(2, 8, 5, 5)
    m.eval()
    y7 = m(x)
    m.temperature = 1.0
    assert not torch.allclose(y7, m(x))


def test_temperature_at():
    assert temperature_at(0.0, 0.1, 30.0, 1.0) == 30.0
    assert temperature_at(0.05, 0.1, 30.0, 1.0) == pytest.approx(15.5)
    assert temperature_at(0.1, 0.1, 30.0, 1.0) == 1.0
    assert temperature_at(0.7, 0.1, 30.0, 1.0) == 1.0
    assert temperature_at(0.5, 0.0) == 1.0
    with pytest.raises(ValueError, match="1.5"):
        temperature_at(0.0, 1.5)


def test_set_temperature_reaches_every_odconv():
    model = nn.Sequential(ODConv(8, 8), nn.Sequential(nn.ReLU(), ODConv(8, 8, 1)))
    assert set_temperature(model, 4.5) == 2
    assert [m.temperature for m in model.modules() if isinstance(m, ODConv)] == [4.5, 4.5]


def test_a_module_pickled_before_the_rename_of_g_loads():
    """Ultralytics checkpoints pickle module objects: one written while the attribute was `g` must still run."""
    m = ODConv(8, 8, 3, 1, 2, groups=2).eval()
    x = torch.randn(2, 8, 5, 5)
    old = pickle.loads(pickle.dumps(m))
    old.__dict__["g"] = old.__dict__.pop("groups")  # what the code before the rename pickled
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.groups == 2 and "g" not in loaded.__dict__
    torch.testing.assert_close(loaded(x), m(x))
