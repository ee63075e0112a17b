"""Every conformance case under autocast (AMP), and fused/reloaded modules on each device (issue 20, item 3).

On the CPU autocast runs bf16; on CUDA fp16, and bf16 where the GPU supports it. The GPU check
(`bench/gpu_check.py`, part a) runs the CUDA cases of this file and of the conformance suite.

Tolerances, stated once, as the norm of the difference over the norm of the fp32 value: the AMP output within
AMP_TOL[dtype] (bf16 keeps 8 mantissa bits, fp16 11; measured on the CPU: at most 0.016 in bf16), the input gradient
within GRAD_TOL[dtype]. The sampling modules (AKConv, DySample) get SAMPLING_GRAD_TOL: their gradient through the
predicted offsets is a bilinear slope, which jumps where a position crosses a pixel, so it is ill-conditioned in
fp32 too (a 2^-8 relative change of the input moves the fp32 gradient by 2-13%); their coordinates stay in fp32
under autocast (tests/test_akconv.py, test_dysample.py), only the offset convs run in the AMP dtype.
"""

from __future__ import annotations

import io

import pytest
import torch

from shapenas.modules import MODULES
from tests.helpers import one_thread  # noqa: F401  (a fixture, used below)
from tests.test_module_conformance import CASES, build, sample_input

pytestmark = pytest.mark.usefixtures("one_thread")

AMP_TOL = {torch.bfloat16: 0.03, torch.float16: 0.01}
GRAD_TOL = {torch.bfloat16: 0.03, torch.float16: 0.01}
SAMPLING_GRAD_TOL = {torch.bfloat16: 0.25, torch.float16: 0.1}  # measured on the CPU: at most 0.13 in bf16
SAMPLING = {"AKConv", "DySample"}

_CUDA = torch.cuda.is_available()
_NO_GPU = pytest.mark.skipif(not _CUDA, reason="no GPU")
_NO_BF16 = pytest.mark.skipif(not (_CUDA and torch.cuda.is_bf16_supported()), reason="no GPU with bf16")
AMP_MODES = [
    pytest.param("cpu", torch.bfloat16, id="cpu-bf16"),
    pytest.param("cuda", torch.float16, id="cuda-fp16", marks=_NO_GPU),
    pytest.param("cuda", torch.bfloat16, id="cuda-bf16", marks=_NO_BF16),
]
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=_NO_GPU)]
every_case = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


def _step(m, x, device, dtype=None):
    """Forward (under autocast when `dtype`), backward a fixed projection; returns (output, input gradient)."""
    x = x.detach().clone().requires_grad_()
    with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
        y = m(x)
    projection = torch.randn(y.shape, generator=torch.Generator().manual_seed(2)).to(device)
    (y.float() * projection).sum().backward()
    return y, x.grad


def _close(got: torch.Tensor, want: torch.Tensor, tol: float, what: str) -> None:
    err = ((got.float() - want).norm() / want.norm()).item()
    assert err <= tol, f"{what}: |amp - fp32| / |fp32| = {err:.3g} > {tol}"


@every_case
@pytest.mark.parametrize("device,dtype", AMP_MODES)
def test_amp_training_step_is_finite_and_close_to_fp32(case, device, dtype):
    """Train mode on a trained-like module: output, input gradient and every parameter gradient finite; output
    and input gradient within the stated tolerance of fp32."""
    x = sample_input(case, 2, device=device)
    m32, mamp = (build(case, trained=True, device=device).train() for _ in range(2))
    y32, g32 = _step(m32, x, device)
    yamp, gamp = _step(mamp, x, device, dtype)
    assert torch.isfinite(yamp).all() and torch.isfinite(gamp).all()
    for name, p in mamp.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: missing or non-finite gradient"
    _close(yamp, y32.detach(), AMP_TOL[dtype], "output")
    grad_tol = (SAMPLING_GRAD_TOL if case.module in SAMPLING else GRAD_TOL)[dtype]
    _close(gamp, g32, grad_tol, "input gradient")


@every_case
@pytest.mark.parametrize("device,dtype", AMP_MODES)
def test_amp_fused_inference_close_to_fp32(case, device, dtype):
    """Deployed: eval mode, BatchNorm folded, under autocast, against the unfused fp32 module."""
    x = sample_input(case, 2, device=device)
    with torch.no_grad():
        want = build(case, trained=True, device=device).eval()(x)
        fused = build(case, trained=True, device=device, fused=MODULES[case.module].fuse is not None).eval()
        with torch.autocast(device_type=device, dtype=dtype):
            got = fused(x)
    assert torch.isfinite(got).all()
    _close(got, want, AMP_TOL[dtype], "fused AMP output")


@every_case
@pytest.mark.parametrize("device", DEVICES)
def test_fused_equals_unfused_on_device(case, device):
    if MODULES[case.module].fuse is None:
        pytest.skip(f"{case.module} has no BatchNorm: nothing to fuse")
    x = sample_input(case, 2, device=device)
    with torch.no_grad():
        want = build(case, trained=True, device=device).eval()(x)
        got = build(case, trained=True, device=device, fused=True).eval()(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@every_case
@pytest.mark.parametrize("device", DEVICES)
def test_weights_reload_on_device(case, device):
    """Saved from the device as an Ultralytics checkpoint saves a model (the whole module pickled: ODConv's
    temperature is an attribute, not state), it loads back onto the device and gives the same output."""
    x = sample_input(case, 2, device=device)
    m = build(case, trained=True, device=device).eval()
    buffer = io.BytesIO()
    torch.save(m, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, map_location=device, weights_only=False)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), m(x), rtol=0, atol=0)
    assert {p.device.type for p in loaded.parameters()} == {device}
