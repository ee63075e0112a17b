"""One conformance suite that every searchable module passes (docs/MODULE_CONTRACT.md).

CASES is a table of small instances: a factory, one sample's input shape and the output shape it must give.
Every test here runs on every case; a new module (or a new variant worth covering) is one more row.
What only one module does (slow references, parameter formulas, its argument errors, exact extra_macs
formula, schedules, border and init behaviour, autocast, shape families) stays in tests/test_<module>.py.

"trained" modules get non-trivial state first (random norm statistics and affines, plus the case's own
extras: AKConv and DySample offsets away from zero, ODConv temperature != 1), so that equalities are not
met trivially by a module that still samples its initial points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.nn as nn

from shapenas.modules import AKConv, DynamicConv, DySample, ODConv, SPConv

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], nn.Module]
    x: Shape  # one sample's input (C, H, W)
    y: Shape  # one sample's output (C, H, W)
    trained: Callable[[nn.Module, torch.Generator], None] | None = None  # module-specific trained-like state
    # gradcheck also compares the full Jacobian w.r.t. one sample of this size (slow: a few cases per module)
    full_jacobian_hw: tuple[int, int] | None = None


def _akconv_offsets(m: AKConv, g: torch.Generator) -> None:
    """Fractional offsets, some of them past the border (the clamped path)."""
    m.p_conv.weight.copy_(torch.randn(m.p_conv.weight.shape, generator=g) * 0.3)
    m.p_conv.bias.copy_(torch.randn(m.p_conv.bias.shape, generator=g) * 2)


def _odconv_temperature(m: ODConv, g: torch.Generator) -> None:
    m.temperature = 2.0


def _dysample_offsets(m: DySample, g: torch.Generator) -> None:
    """Offsets large enough that sampling points move across pixels (a wrong grid shows)."""
    for p in list(m.offset.parameters()) + (list(m.scope.parameters()) if m.dyscope else []):
        p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def _conv(id_: str, make, c1: int, c2: int, s: int, trained=None, full_jacobian: bool = False) -> Case:
    """A conv replacement on a 7x9 input: output floor((H-1)/s)+1 like a padded 3x3 conv."""
    return Case(id_, make, (c1, 7, 9), (c2, 6 // s + 1, 8 // s + 1), trained, (3, 5) if full_jacobian else None)


def _dysample(c: int, scale: int, style: str, groups: int, dyscope: bool, full_jacobian: bool = False) -> Case:
    id_ = f"dysample-{style}-x{scale}-g{groups}" + ("-dyscope" if dyscope else "")
    make = lambda: DySample(c, scale, style, groups, dyscope)  # noqa: E731
    # an upsampler's Jacobian has scale**2 times as many rows: a smaller sample keeps gradcheck quick
    return Case(id_, make, (c, 3, 5), (c, 3 * scale, 5 * scale), _dysample_offsets, (2, 3) if full_jacobian else None)


CUSTOM = [[0, 1], [3, 0], [-1, 2]]  # AKConv points as given, not translated: reaches above and below the anchor

CASES = [
    _conv("akconv-n5-s1", lambda: AKConv(4, 6, 5, 1), 4, 6, 1, _akconv_offsets, full_jacobian=True),
    _conv("akconv-n5-s2", lambda: AKConv(4, 6, 5, 2), 4, 6, 2, _akconv_offsets),
    _conv("akconv-custom3-s2", lambda: AKConv(4, 6, 3, 2, shape=CUSTOM), 4, 6, 2, _akconv_offsets),
    _conv("odconv-s1", lambda: ODConv(8, 12, 3, 1), 8, 12, 1, _odconv_temperature, full_jacobian=True),
    _conv("odconv-s2", lambda: ODConv(8, 12, 3, 2), 8, 12, 2, _odconv_temperature),
    _conv("odconv-g4-s2", lambda: ODConv(8, 12, 3, 2, kernel_num=2, g=4), 8, 12, 2, _odconv_temperature),
    # depthwise, k=1, one kernel: no filter, spatial or kernel attention head
    _conv("odconv-dw-k1-K1", lambda: ODConv(8, 8, 1, 1, kernel_num=1, g=8), 8, 8, 1, _odconv_temperature),
    _conv("dynconv-s1", lambda: DynamicConv(8, 12, 3, 1), 8, 12, 1, full_jacobian=True),
    _conv("dynconv-s2", lambda: DynamicConv(8, 12, 3, 2), 8, 12, 2),
    _conv("dynconv-g2-s2", lambda: DynamicConv(8, 12, 3, 2, num_experts=2, g=2), 8, 12, 2),
    _conv("spconv-s1", lambda: SPConv(8, 6, 3, 1), 8, 6, 1, full_jacobian=True),
    _conv("spconv-s2", lambda: SPConv(8, 6, 3, 2), 8, 6, 2, full_jacobian=True),  # odd H, W: partial pools
    _dysample(8, 2, "lp", 4, False),
    _dysample(8, 2, "lp", 2, True, full_jacobian=True),
    _dysample(4, 2, "lp", 1, False),
    _dysample(6, 3, "lp", 2, True),
    _dysample(8, 2, "pl", 1, False),
    _dysample(8, 2, "pl", 2, True, full_jacobian=True),
    _dysample(16, 2, "pl", 4, True),
    _dysample(9, 3, "pl", 1, False),
]

every_case = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


@pytest.fixture(autouse=True)
def one_thread():
    """The tensors here are tiny: intra-op threads only add barrier waits, which cost seconds a test when
    the CPU is shared (measured: this file 48 s with 2 threads beside a benchmark, 7 s with 1)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def build(case: Case, trained: bool = False, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = case.make()
    if trained:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for norm in m.modules():
                if isinstance(norm, nn.BatchNorm2d):
                    norm.running_mean.copy_(torch.randn(norm.num_features, generator=g) * 0.5)
                    norm.running_var.copy_(torch.rand(norm.num_features, generator=g) * 1.5 + 0.5)
                if isinstance(norm, (nn.BatchNorm2d, nn.GroupNorm)):
                    norm.weight.copy_(1 + 0.2 * torch.randn(norm.weight.shape, generator=g))
                    norm.bias.copy_(0.2 * torch.randn(norm.bias.shape, generator=g))
            if case.trained is not None:
                case.trained(m, g)
    return m


def sample_input(case: Case, b: int, hw: tuple[int, int] | None = None, seed: int = 1, **kw) -> torch.Tensor:
    c, h, w = case.x
    return torch.randn(b, c, *(hw or (h, w)), generator=torch.Generator().manual_seed(seed), **kw)


def backward_checked(case: Case, m: nn.Module, b: int) -> None:
    """Forward b samples, backward a random projection of y (a plain sum can vanish through BN), check x.grad."""
    x = sample_input(case, b).requires_grad_()
    y = m(x)
    assert y.shape == (b, *case.y)
    (y * torch.randn(y.shape, generator=torch.Generator().manual_seed(2))).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def assert_every_parameter_has_grad(m: nn.Module) -> None:
    # Zero-initialised parameters (AKConv's p_conv, DySample's offset bias and scope) are used from the
    # first step, so they too must get a non-zero gradient, not only a non-None one.
    for name, p in m.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: all-zero gradient"


@every_case
def test_output_shape(case):
    with torch.no_grad():
        y = build(case).eval()(sample_input(case, 2))
    assert y.shape == (2, *case.y) and y.dtype == torch.float32 and torch.isfinite(y).all()


@every_case
def test_gradients_reach_every_parameter(case):
    m = build(case).train()
    backward_checked(case, m, 2)
    assert_every_parameter_has_grad(m)


@every_case
@pytest.mark.parametrize("trained", [False, True], ids=["init", "trained"])
def test_batch_size_one_trains(case, trained):
    # BatchNorm over a single sample's (1, C, 1, 1) attention tensor would raise: the modules avoid it
    m = build(case, trained).train()
    backward_checked(case, m, 1)
    assert_every_parameter_has_grad(m)


@every_case
def test_batch_equals_each_sample_alone(case):
    m = build(case, trained=True).eval()
    x = sample_input(case, 3)
    with torch.no_grad():
        alone = torch.cat([m(xb) for xb in x.split(1)])
        torch.testing.assert_close(m(x), alone, rtol=0, atol=1e-5)


@every_case
def test_empty_batch_eval(case):
    with torch.no_grad():
        y = build(case, trained=True).eval()(torch.empty(0, *case.x))
    assert y.shape == (0, *case.y)


@every_case
def test_non_contiguous_input(case):
    m = build(case, trained=True).eval()
    x = sample_input(case, 2).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # channels-last strides
    assert not x.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(m(x), m(x.contiguous()))


@every_case
def test_gradcheck_float64(case):
    """On a trained-like module in eval mode (BN a pure function): a random projection (fast mode) of the
    Jacobian w.r.t. a batch of two and every parameter; for the cases that ask, the full Jacobian w.r.t. one
    tiny sample too."""
    m = build(case, trained=True).double().eval()
    if case.full_jacobian_hw is not None:
        x1 = sample_input(case, 1, hw=case.full_jacobian_hw, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(m, (x1,), eps=1e-6, atol=1e-5)

    names = [n for n, _ in m.named_parameters()]
    x = sample_input(case, 2, hw=(3, 5), dtype=torch.float64).requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in m.parameters()]

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, fast_mode=True)


# fixed-size export: the tracer bakes the batch size (and for some modules H, W) in as constants and says so
@every_case
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_onnx_export_matches_onnxruntime(case, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    m = build(case, trained=True).eval()
    x = sample_input(case, 2)
    path = tmp_path / f"{case.id}.onnx"
    torch.onnx.export(m, (x,), str(path), opset_version=17, dynamo=False, input_names=["x"], output_names=["y"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # tiny graphs; threads only contend on a busy CPU
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"x": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), m(x), atol=1e-4, rtol=1e-4)


@every_case
def test_extra_macs_non_negative_int_per_sample(case):
    m = build(case).eval()
    macs = [m.extra_macs(torch.empty(0, *case.x), torch.empty(0, *case.y))]  # no forward: see EMPTY_BATCH_BUGS
    with torch.no_grad():
        for b in (1, 3):
            x = sample_input(case, b)
            macs.append(m.extra_macs(x, m(x)))
    assert all(type(v) is int and v >= 0 for v in macs), macs
    assert macs[0] == 0 and macs[1] > 0 and macs[2] == 3 * macs[1], macs  # a per-sample cost


@pytest.mark.parametrize("cls", [ODConv, DynamicConv])
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("s", [1, 2])
def test_dynamic_kernel_conv_output_size(cls, k, s):
    """Odd H, W at every kernel size: the size of nn.Conv2d(k, s, padding=k // 2)."""
    y = cls(8, 12, k, s)(torch.randn(2, 8, 9, 7))
    assert y.shape == (2, 12, (9 - 1) // s + 1, (7 - 1) // s + 1)
