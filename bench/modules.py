"""Forward+backward time, peak memory and fused inference time of each shapenas module against a 3x3 ``Conv``.

Run from the repository root (issue 6, item 1)::

    python bench/modules.py                      # full CPU run, 2 threads
    python bench/modules.py --device cuda --amp  # GPU with fp16 autocast
    python bench/modules.py --quick              # smoke run

Cases, all in training mode on one input ``(batch, 64, size, size)`` that requires grad:
Conv 3x3 64->128 vs AKConv N=5/9 (fast path and the slow gather reference of
``tests/akconv_reference.py``), ODConv, SPConv, DynamicConv, at stride 2 and 1; DySample
(c=64, x2) vs ``nn.Upsample`` nearest and bilinear.

Time: median over ``--repeats`` of one step (forward, ``out.float().mean().backward()``), after warm-up; between
CUDA events on a GPU (synchronised), by the wall clock on the CPU. The cases of one table are timed round-robin (one
step of each case per repeat), so load drift on a shared machine hits every case alike and the ratios stay fair.
Peak memory: bytes allocated above what was live before one extra, untimed step (outputs,
saved activations, gradients of input and parameters, temporaries). CPU: the running sum of
the allocation/free events recorded by ``torch.profiler`` with ``profile_memory=True``;
CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the step.

Inference: batch 1 (the first image of the input), eval mode, no grad, as deployed; median over
``--repeats`` x 4 samples of the mean of ``INFER_CALLS`` calls, unfused and fused (BatchNorm
folded: Ultralytics' ``fuse_conv_and_bn`` for ``Conv``, the registry's ``fuse`` hook for ours),
all variants round-robin. The fused speed-up is unfused over fused time; modules with nothing to
fold (upsamplers, and the gather reference, a test reference only) show ``-``. The deployed ratio
is the fused time (the plain one where nothing folds) over the baseline's, as a latency objective
would see the layer.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from itertools import accumulate
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402
from ultralytics.nn.modules import Conv  # noqa: E402
from ultralytics.utils.torch_utils import fuse_conv_and_bn  # noqa: E402

from shapenas.modules import MODULES, AKConv, DynamicConv, DySample, ODConv, SPConv  # noqa: E402
from tests.akconv_reference import reference_forward  # noqa: E402

C1, C2, THREADS, TARGET = 64, 128, 2, 2.0
INFER_CALLS = 10  # calls per timed inference sample: one batch-1 call is about a millisecond


class GatherReference(nn.Module):
    """An AKConv run through the slow four-gather reference instead of its grid_sample path."""

    def __init__(self, akconv: AKConv):
        super().__init__()
        self.inner = akconv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the reference builds its index grids with factory defaults: put them on x's device
        with torch.device(x.device):
            return reference_forward(self.inner, x)


def conv_cases(s: int) -> list[tuple[str, callable]]:
    """(name, factory) of the conv-like modules at stride s; the baseline comes first."""
    return [
        ("Conv 3x3", lambda: Conv(C1, C2, 3, s)),
        ("AKConv N=5 fast", lambda: AKConv(C1, C2, 5, s)),
        ("AKConv N=5 gather ref", lambda: GatherReference(AKConv(C1, C2, 5, s))),
        ("AKConv N=9 fast", lambda: AKConv(C1, C2, 9, s)),
        ("AKConv N=9 gather ref", lambda: GatherReference(AKConv(C1, C2, 9, s))),
        ("ODConv K=4", lambda: ODConv(C1, C2, 3, s, kernel_num=4)),
        ("SPConv ratio=0.5", lambda: SPConv(C1, C2, 3, s, ratio=0.5)),
        ("DynamicConv E=4", lambda: DynamicConv(C1, C2, 3, s, num_experts=4)),
    ]


def upsample_cases() -> list[tuple[str, callable]]:
    """(name, factory) of the x2 upsamplers on C1 channels; the baseline comes first."""
    return [
        ("nn.Upsample nearest", lambda: nn.Upsample(scale_factor=2, mode="nearest")),
        ("nn.Upsample bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear")),
        ("DySample lp g=4", lambda: DySample(C1, scale=2, style="lp", groups=4)),
    ]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_ms(device: torch.device, fn, calls: int = 1) -> float:
    """Milliseconds per call of `fn`: between CUDA events on a GPU (synchronised), by the wall clock on the CPU."""
    sync(device)
    if device.type != "cuda":
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) * 1e3 / calls
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / calls


def drop_grads(module: nn.Module, x: torch.Tensor) -> None:
    x.grad = None
    for p in module.parameters():
        p.grad = None


def step(module: nn.Module, x: torch.Tensor, amp: bool) -> None:
    """One training step without an optimiser: forward, backward, gradients dropped first."""
    drop_grads(module, x)
    with torch.autocast(device_type=x.device.type, dtype=torch.float16, enabled=amp):
        out = module(x)
    out.float().mean().backward()


def cpu_peak_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Peak of the running sum of CPU allocations/frees recorded by the profiler during one step."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(module, x, amp=False)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    return max(accumulate((e.nbytes() for e in events), initial=0))


def peak_mib(module: nn.Module, x: torch.Tensor, amp: bool) -> float:
    """Peak bytes allocated by one step above what was live before it, in MiB."""
    drop_grads(module, x)  # so the step allocates fresh gradients, and frees nothing older
    if x.device.type != "cuda":
        return cpu_peak_bytes(module, x) / 2**20
    sync(x.device)
    base = torch.cuda.memory_allocated(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    step(module, x, amp)
    sync(x.device)
    return (torch.cuda.max_memory_allocated(x.device) - base) / 2**20


def fused_copy(module: nn.Module) -> nn.Module | None:
    """An eval-mode copy with BatchNorm folded as ``model.fuse()`` folds it; None when there is nothing to fold."""
    fused = copy.deepcopy(module).eval()
    if isinstance(fused, Conv):  # what Ultralytics' BaseModel.fuse does to each Conv
        fused.conv = fuse_conv_and_bn(fused.conv, fused.bn)
        delattr(fused, "bn")
        fused.forward = fused.forward_fuse
        return fused
    hook = next((spec.fuse for spec in MODULES.values() if type(fused) is spec.cls), None)
    if hook is None:
        return None
    hook(fused)
    return fused


def infer_ms(mods: list[tuple[str, nn.Module]], x: torch.Tensor, args) -> dict[str, tuple[float, float | None]]:
    """Batch-1 inference ms per call of each module, unfused and fused, timed round-robin."""
    x1 = x[:1].detach()
    variants = [(name, False, copy.deepcopy(m).eval()) for name, m in mods]
    variants += [(name, True, f) for name, m in mods if (f := fused_copy(m)) is not None]
    times: dict[tuple[str, bool], list[float]] = {(name, fused): [] for name, fused, _ in variants}
    with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.float16, enabled=args.amp):
        for _, _, m in variants:
            m(x1)  # warm-up
        for _ in range(4 * args.repeats):
            for name, fused, m in variants:
                times[(name, fused)].append(timed_ms(x.device, lambda m=m: m(x1), INFER_CALLS))
    medians = {key: statistics.median(values) for key, values in times.items()}
    return {name: (medians[(name, False)], medians.get((name, True))) for name, _ in mods}


def measure(cases, x: torch.Tensor, args) -> list[dict]:
    """Time the cases round-robin (median ms per step) and measure each one's peak memory."""
    torch.manual_seed(0)
    mods = [(name, make().to(x.device).train()) for name, make in cases]
    for _, m in mods:
        for _ in range(args.warmup):
            step(m, x, args.amp)
    times: dict[str, list[float]] = {name: [] for name, _ in mods}
    for _ in range(args.repeats):
        for name, m in mods:
            times[name].append(timed_ms(x.device, lambda m=m: step(m, x, args.amp)))
    inference = infer_ms(mods, x, args)
    rows = []
    for name, m in mods:
        infer, fused = inference[name]
        row = {"name": name, "ms": statistics.median(times[name]), "mib": peak_mib(m, x, args.amp)}
        rows.append({**row, "infer": infer, "fused": fused})
    base, base_infer = rows[0]["ms"], rows[0]["fused"] or rows[0]["infer"]  # the baseline as deployed
    for r in rows:
        r["ratio"] = r["ms"] / base
        r["deployed_ratio"] = (r["fused"] or r["infer"]) / base_infer
    return rows


def table(title: str, rows: list[dict], baseline: str) -> str:
    """Markdown table of rows (each with name, stride, ms, ratio, mib)."""
    lines = [
        f"{title}",
        "",
        f"| module | stride | ms fwd+bwd | ratio to {baseline} | peak MiB | ms infer b1 | ms fused | fused speed-up "
        f"| deployed ratio to {baseline} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fused = "- | -" if r["fused"] is None else f"{r['fused']:.2f} | {r['infer'] / r['fused']:.2f}x"
        lines.append(
            f"| {r['name']} | {r['stride']} | {r['ms']:.1f} | {r['ratio']:.2f}x | {r['mib']:.1f} | {r['infer']:.2f} "
            f"| {fused} | {r['deployed_ratio']:.2f}x |"
        )
    return "\n".join(lines)


def speedups(rows: list[dict], stride) -> dict[int, float]:
    """AKConv gather-reference time over fast-path time, per N, at one stride."""
    ms = {r["name"]: r["ms"] for r in rows if r["stride"] == stride}
    return {n: ms[f"AKConv N={n} gather ref"] / ms[f"AKConv N={n} fast"] for n in (5, 9)}


def akconv_summary(rows: list[dict], device: torch.device, quick: bool) -> list[str]:
    """The fast-vs-reference lines and whether the CPU target was met."""
    lines, worst = [], float("inf")
    for s in (2, 1):
        sp = speedups(rows, s)
        worst = min(worst, *sp.values())
        lines.append(f"AKConv fast vs gather reference: {sp[5]:.1f}x faster (N=5), {sp[9]:.1f}x (N=9) at stride {s}")
    if device.type == "cpu":
        verdict = "met" if worst >= TARGET else "NOT met"
        note = "; --quick run, indicative only" if quick else ""
        lines.append(
            f"Target (CPU, fast path >= {TARGET:.0f}x the gather reference): {verdict} (lowest {worst:.1f}x{note})"
        )
    else:
        lines.append(f"Target applies to the CPU run; on {device.type} the lowest speed-up is {worst:.1f}x")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    p.add_argument("--amp", action="store_true", help="CUDA autocast fp16 (ignored on the CPU)")
    p.add_argument("--repeats", type=int, default=None, help="timed steps per case (default 5; 3 with --quick)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per case first")
    p.add_argument("--batch", type=int, default=None, help="default 8; 2 with --quick")
    p.add_argument("--size", type=int, default=None, help="input H=W (default 80; 40 with --quick)")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer repeats, smaller input")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.batch = args.batch or (2 if args.quick else 8)
    args.size = args.size or (40 if args.quick else 80)
    return args


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return torch.device(name)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    device = pick_device(args.device)
    args.amp = args.amp and device.type == "cuda"
    b, hw = args.batch, args.size
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {THREADS} threads"
    print(
        f"device: {where}; torch {torch.__version__}; amp: {args.amp}; batch {b}; {hw}x{hw}; "
        f"{args.repeats} repeats after {args.warmup} warm-up; memory: "
        f"{'cuda max_memory_allocated' if device.type == 'cuda' else 'torch.profiler allocation events'}\n"
    )
    x = torch.randn(b, C1, hw, hw, device=device, requires_grad=True)
    conv_rows = []
    for s in (2, 1):
        conv_rows += [dict(r, stride=s) for r in measure(conv_cases(s), x, args)]
    up_rows = [dict(r, stride="x2 up") for r in measure(upsample_cases(), x, args)]
    print(table(f"Conv-like, {C1}->{C2} channels, input {b}x{C1}x{hw}x{hw}", conv_rows, "Conv"))
    print()
    print(table(f"Upsamplers, {C1} channels, input {b}x{C1}x{hw}x{hw}", up_rows, "Upsample nearest"))
    print()
    print("\n".join(akconv_summary(conv_rows, device, args.quick)))


if __name__ == "__main__":
    main()
