"""One conformance suite that every registered module passes (docs/MODULE_CONTRACT.md).

CASES is a table of small instances, built by name with `create_module` as the Ultralytics bridge builds them: one
sample's input shape and the output shape it must give. Every test here runs on every case, and
`test_every_registered_module_has_a_case` fails when a module in the registry has none: a new module (or a new
variant worth covering) is one more row. The forward and backward tests also run on CUDA where there is a GPU.
What only one module does (slow references, parameter formulas, its argument errors, exact extra_macs formula,
border and init behaviour, autocast, shape families) stays in tests/test_<module>.py.

"trained" modules get non-trivial state first (tests/trained_state.py: random norm statistics and affines, plus the
case's own extras: AKConv and DySample offsets away from zero, ODConv temperature != 1), so that equalities are not
met trivially by a module that still samples its initial points.

"fused" modules have their BatchNorm folded by the registry's `fuse` hook (eval mode, as Ultralytics' `model.fuse()`
calls it): they must keep the eval-mode output, and every eval-mode property runs on them too.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import torch
import torch.nn as nn

from shapenas.modules import MODULES, create_module
from tests.helpers import DEVICES, one_thread  # noqa: F401  (one_thread: a fixture, used below)
from tests.trained_state import akconv_offsets, dysample_offsets, odconv_temperature, randomize_norms

pytestmark = pytest.mark.usefixtures("one_thread")

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Case:
    id: str
    module: str  # its name in the registry
    c1: int
    c2: int
    row_args: tuple[Any, ...]  # the YAML row's arguments after the channels
    x: Shape  # one sample's input (C, H, W)
    y: Shape  # one sample's output (C, H, W)
    trained: Callable[[nn.Module, torch.Generator], None] | None = None  # module-specific trained-like state
    # gradcheck also compares the full Jacobian w.r.t. one sample of this size (slow: a few cases per module)
    full_jacobian_hw: tuple[int, int] | None = None

    def make(self) -> nn.Module:
        return create_module(self.module, self.c1, self.c2, *self.row_args)


def _conv(id_: str, module: str, c1: int, c2: int, *row_args, trained=None, full_jacobian: bool = False) -> Case:
    """A conv replacement on a 7x9 input: output floor((H-1)/s)+1 like a padded 3x3 conv (s: the row's `s`)."""
    s = MODULES[module].row_values([c2, *row_args])["s"]
    jacobian_hw = (3, 5) if full_jacobian else None
    return Case(id_, module, c1, c2, row_args, (c1, 7, 9), (c2, 6 // s + 1, 8 // s + 1), trained, jacobian_hw)


def _dysample(c: int, scale: int, style: str, groups: int, dyscope: bool, full_jacobian: bool = False) -> Case:
    id_ = f"dysample-{style}-x{scale}-g{groups}" + ("-dyscope" if dyscope else "")
    # an upsampler's Jacobian has scale**2 times as many rows: a smaller sample keeps gradcheck quick
    jacobian_hw = (2, 3) if full_jacobian else None
    row = (scale, style, groups, dyscope)
    return Case(id_, "DySample", c, c, row, (c, 3, 5), (c, 3 * scale, 5 * scale), dysample_offsets, jacobian_hw)


CUSTOM = [[0, 1], [3, 0], [-1, 2]]  # AKConv points as given, not translated: reaches above and below the anchor

CASES = [
    _conv("akconv-n5-s1", "AKConv", 4, 6, 5, 1, trained=akconv_offsets, full_jacobian=True),
    _conv("akconv-n5-s2", "AKConv", 4, 6, 5, 2, trained=akconv_offsets),
    _conv("akconv-custom3-s2", "AKConv", 4, 6, 3, 2, CUSTOM, trained=akconv_offsets),
    _conv("odconv-s1", "ODConv", 8, 12, 3, 1, trained=odconv_temperature, full_jacobian=True),
    _conv("odconv-s2", "ODConv", 8, 12, 3, 2, trained=odconv_temperature),
    _conv("odconv-g4-s2", "ODConv", 8, 12, 3, 2, 2, 0.0625, 4, trained=odconv_temperature),
    # depthwise, k=1, one kernel: no filter, spatial or kernel attention head
    _conv("odconv-dw-k1-K1", "ODConv", 8, 8, 1, 1, 1, 0.0625, 8, trained=odconv_temperature),
    _conv("dynconv-s1", "DynamicConv", 8, 12, 3, 1, full_jacobian=True),
    _conv("dynconv-s2", "DynamicConv", 8, 12, 3, 2),
    _conv("dynconv-g2-s2", "DynamicConv", 8, 12, 3, 2, 2, 2),
    _conv("spconv-s1", "SPConv", 8, 6, 3, 1, full_jacobian=True),
    _conv("spconv-s2", "SPConv", 8, 6, 3, 2, full_jacobian=True),  # odd H, W: partial pools
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
every_device = pytest.mark.parametrize("device", DEVICES)
unfused_and_fused = pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])


def test_every_registered_module_has_a_case():
    assert {case.module for case in CASES} == set(MODULES)


def build(case: Case, trained: bool = False, seed: int = 0, device: str = "cpu", fused: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    m = case.make()
    if trained:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            randomize_norms(m, g)
            if case.trained is not None:
                case.trained(m, g)
    if fused:
        if MODULES[case.module].fuse is None:
            pytest.skip(f"{case.module} has no BatchNorm: nothing to fuse")
        MODULES[case.module].fuse(m.eval())
    return m.to(device)


def sample_input(case: Case, b: int, hw: tuple[int, int] | None = None, seed: int = 1, device="cpu", **kw):
    c, h, w = case.x
    x = torch.randn(b, c, *(hw or (h, w)), generator=torch.Generator().manual_seed(seed), **kw)
    return x.to(device)


def backward_checked(case: Case, m: nn.Module, b: int, device: str = "cpu") -> None:
    """Forward b samples, backward a random projection of y (a plain sum can vanish through BN), check x.grad."""
    x = sample_input(case, b, device=device).requires_grad_()
    y = m(x)
    assert y.shape == (b, *case.y)
    projection = torch.randn(y.shape, generator=torch.Generator().manual_seed(2)).to(device)
    (y * projection).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def assert_every_parameter_has_grad(m: nn.Module) -> None:
    # Zero-initialised parameters (AKConv's p_conv, DySample's offset bias and scope) are used from the
    # first step, so they too must get a non-zero gradient, not only a non-None one.
    for name, p in m.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: all-zero gradient"


@every_case
@every_device
@unfused_and_fused
def test_output_shape(case, device, fused):
    with torch.no_grad():
        y = build(case, device=device, fused=fused).eval()(sample_input(case, 2, device=device))
    assert y.shape == (2, *case.y) and y.dtype == torch.float32 and torch.isfinite(y).all()
    assert y.device.type == device


@every_case
@every_device
def test_gradients_reach_every_parameter(case, device):
    m = build(case, device=device).train()
    backward_checked(case, m, 2, device)
    assert_every_parameter_has_grad(m)


@every_case
@every_device
@pytest.mark.parametrize("trained", [False, True], ids=["init", "trained"])
def test_batch_size_one_trains(case, trained, device):
    # BatchNorm over a single sample's (1, C, 1, 1) attention tensor would raise: the modules avoid it
    m = build(case, trained, device=device).train()
    backward_checked(case, m, 1, device)
    assert_every_parameter_has_grad(m)


@every_case
@every_device
@unfused_and_fused
def test_batch_equals_each_sample_alone(case, device, fused):
    m = build(case, trained=True, device=device, fused=fused).eval()
    x = sample_input(case, 3, device=device)
    with torch.no_grad():
        alone = torch.cat([m(xb) for xb in x.split(1)])
        torch.testing.assert_close(m(x), alone, rtol=0, atol=1e-5)


@every_case
def test_fuse_keeps_the_eval_output(case):
    """The registry's fuse hook (what `model.fuse()` calls) folds every BatchNorm away and keeps the eval-mode output
    within 1e-4; fusing again changes nothing, and the fused module survives pickling (checkpoints pickle modules)."""
    m = build(case, trained=True).eval()
    x = sample_input(case, 3)
    fuse = MODULES[case.module].fuse
    with torch.no_grad():
        before = m(x)
        if fuse is None:  # a module without BatchNorm has nothing to fold
            assert not any(isinstance(n, nn.BatchNorm2d) for n in m.modules())
            return
        fuse(m)
        after = m(x)
        fuse(m)
        torch.testing.assert_close(m(x), after, rtol=0, atol=0)
        torch.testing.assert_close(pickle.loads(pickle.dumps(m))(x), after, rtol=0, atol=0)
    assert not any(isinstance(n, nn.BatchNorm2d) for n in m.modules())
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


@every_case
@every_device
@unfused_and_fused
def test_empty_batch_eval(case, device, fused):
    with torch.no_grad():
        y = build(case, trained=True, device=device, fused=fused).eval()(torch.empty(0, *case.x, device=device))
    assert y.shape == (0, *case.y)


@every_case
@every_device
def test_empty_batch_backward(case, device):
    """A training step on an empty batch: backward reaches the input and every parameter with zero gradients, and
    the BatchNorm statistics stay finite."""
    m = build(case, trained=True, device=device).train()
    x = torch.empty(0, *case.x, device=device, requires_grad=True)
    y = m(x)
    assert y.shape == (0, *case.y)
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for name, p in m.named_parameters():
        assert p.grad is not None and not p.grad.any(), f"{name}: {p.grad}"
    assert all(torch.isfinite(b).all() for b in m.buffers() if b.is_floating_point())


@every_case
@every_device
@unfused_and_fused
def test_non_contiguous_input(case, device, fused):
    m = build(case, trained=True, device=device, fused=fused).eval()
    x = sample_input(case, 2, device=device).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)  # channels-last
    assert not x.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(m(x), m(x.contiguous()))


@every_case
@every_device
@unfused_and_fused
def test_gradcheck_float64(case, device, fused):
    """On a trained-like module in eval mode (BN a pure function): a random projection (fast mode) of the
    Jacobian w.r.t. a batch of two and every parameter; for the cases that ask, the full Jacobian w.r.t. one
    tiny sample too. On CUDA, grid_sample's backward accumulates atomically: not bit-reproducible."""
    m = build(case, trained=True, device=device, fused=fused).double().eval()
    nondet_tol = 1e-10 if device == "cuda" else 0.0
    if case.full_jacobian_hw is not None:
        x1 = sample_input(case, 1, hw=case.full_jacobian_hw, dtype=torch.float64, device=device).requires_grad_()
        assert torch.autograd.gradcheck(m, (x1,), eps=1e-6, atol=1e-5, nondet_tol=nondet_tol)

    names = [n for n, _ in m.named_parameters()]
    x = sample_input(case, 2, hw=(3, 5), dtype=torch.float64, device=device).requires_grad_()
    params = [p.detach().clone().requires_grad_() for p in m.parameters()]

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, fast_mode=True, nondet_tol=nondet_tol)


@every_case
@pytest.mark.parametrize("device", DEVICES[1:])
@unfused_and_fused
def test_cuda_matches_cpu(case, device, fused):
    """The same trained-like module gives the same output and input gradient on the GPU as on the CPU."""
    outputs = []
    for where in ("cpu", device):
        m = build(case, trained=True, device=where, fused=fused).eval()
        x = sample_input(case, 2, device=where).requires_grad_()
        y = m(x)
        (y * torch.arange(y.numel(), device=where).view_as(y).remainder(7)).sum().backward()
        outputs.append((y.detach().cpu(), x.grad.cpu()))
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-4, rtol=1e-4)


# fixed-size export: the tracer bakes the batch size (and for some modules H, W) in as constants and says so
@every_case
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
@unfused_and_fused
def test_onnx_export_matches_onnxruntime(case, fused, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    m = build(case, trained=True, fused=fused).eval()
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
    macs = [m.extra_macs(torch.empty(0, *case.x), torch.empty(0, *case.y))]
    with torch.no_grad():
        for b in (1, 3):
            x = sample_input(case, b)
            macs.append(m.extra_macs(x, m(x)))
    assert all(type(v) is int and v >= 0 for v in macs), macs
    assert macs[0] == 0 and macs[1] > 0 and macs[2] == 3 * macs[1], macs  # a per-sample cost
