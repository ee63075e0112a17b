"""ODConv: a slow reference, params, extra_macs, arguments, temperature schedule.

Shapes, gradients, batch independence, batch size 1, gradcheck and ONNX are in test_module_conformance.py.
"""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapenas.modules.odconv import ODConv, TemperatureSchedule, add_temperature_schedule, temperature_at


def _attention_dim(c1, reduction=0.0625):
    return max(int(c1 * reduction), 16)


def _reference(m: ODConv, x: torch.Tensor) -> torch.Tensor:
    """Slow, obvious ODConv (eval mode): one sample at a time, the kernel built by a loop over K."""
    t, outs = m.temperature, []
    for xb in x.split(1):
        z = F.relu(m.norm(m.fc(xb.mean(dim=(2, 3), keepdim=True))))
        ca = torch.sigmoid(m.channel_fc(z) / t)
        fa = torch.sigmoid(m.filter_fc(z) / t).reshape(1, -1, 1, 1) if m.filter_fc is not None else 1.0
        sa = torch.sigmoid(m.spatial_fc(z) / t).reshape(m.k, m.k) if m.spatial_fc is not None else 1.0
        ka = torch.softmax(m.kernel_fc(z).flatten() / t, 0) if m.kernel_fc is not None else torch.ones(1)
        kernel = sum(ka[i] * sa * m.kernels()[i] for i in range(m.kernel_num))
        y = F.conv2d(xb * ca, kernel, stride=m.s, padding=m.k // 2, groups=m.g) * fa
        outs.append(m.act(m.bn(y)))
    return torch.cat(outs)


@pytest.mark.parametrize("kw", [dict(k=3, kernel_num=4), dict(k=1, kernel_num=1), dict(k=3, kernel_num=1, g=8)])
def test_matches_slow_reference(kw):
    torch.manual_seed(0)
    c2 = 8 if kw.get("g") else 6
    m = ODConv(8, c2, s=2, **kw).double().eval()
    m.temperature = 3.0
    nn.init.normal_(m.bn.running_mean), nn.init.uniform_(m.bn.running_var, 0.5, 2.0)
    x = torch.randn(3, 8, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(m(x), _reference(m, x), rtol=1e-10, atol=1e-10)


def test_depthwise_has_no_filter_attention():
    assert ODConv(8, 8, g=8).filter_fc is None and ODConv(8, 8, g=4).filter_fc is not None


def test_param_count_formula():
    c1, c2, k, kn, g = 32, 24, 3, 4, 2
    a = _attention_dim(c1)
    m = ODConv(c1, c2, k, 1, kn, g=g)
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
        (dict(g=3), "g=3"),
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


def _fake_trainer(start_epoch=0, epochs=10, nb=5):
    model = nn.Sequential(ODConv(8, 8), nn.Sequential(ODConv(8, 8, 1)))
    return SimpleNamespace(
        model=model,
        ema=SimpleNamespace(ema=copy.deepcopy(model)),
        epochs=epochs,
        train_loader=list(range(nb)),
        start_epoch=start_epoch,
        epoch=start_epoch,
    )


def _temps(trainer):
    mods = list(trainer.model.modules()) + list(trainer.ema.ema.modules())
    return {m.temperature for m in mods if isinstance(m, ODConv)}


def test_schedule_drives_model_and_ema():
    tr = _fake_trainer()  # 50 batches in all, anneal over the first 5
    sched = TemperatureSchedule(share=0.1)
    sched.on_train_start(tr)
    assert _temps(tr) == {30.0}
    sched.on_train_epoch_start(tr)
    seen = []
    for _ in range(7):
        sched.on_train_batch_start(tr)
        (t,) = _temps(tr)
        seen.append(t)
    assert seen == pytest.approx([temperature_at(i / 50, 0.1) for i in range(7)])
    assert seen[-1] == 1.0 and seen[2] == pytest.approx(30 - 29 * 0.4)
    sched.on_train_end(tr)
    assert _temps(tr) == {1.0}


def test_schedule_resumes_and_unwraps_ddp():
    tr = _fake_trainer(start_epoch=2)
    wrapper = nn.Module()
    wrapper.module = tr.model  # what DistributedDataParallel looks like to the callback
    tr.model = wrapper
    sched = TemperatureSchedule(share=0.5)  # anneal over 25 of 50 batches; resumed at batch 10
    sched.on_train_start(tr)
    sched.on_train_epoch_start(tr)
    sched.on_train_batch_start(tr)
    (t,) = _temps(tr)
    assert t == pytest.approx(30 - 29 * 10 / 25)


def test_add_temperature_schedule_registers_callbacks():
    calls = []
    yolo = SimpleNamespace(add_callback=lambda event, fn: calls.append((event, fn)))
    sched = add_temperature_schedule(yolo, share=0.2)
    events = {e for e, _ in calls}
    assert {"on_train_start", "on_train_batch_start", "on_train_end"} <= events
    assert all(fn.__self__ is sched for _, fn in calls) and sched.share == 0.2
