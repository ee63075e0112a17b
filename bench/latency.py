"""Latency repeatability: the same candidates timed in two separate processes, per backend (issue 12, item 5).

Fixed candidates (the baseline, the presets, then seeded random ones from the config's space, as `common.py` picks
them) are timed against the base model by `shapenas.latency` (batch 1, fused, each candidate interleaved with the
base) in one fresh process, then again in a second one; for the torch backend on the CPU and for onnxruntime. The
processes run one after the other, never side by side. Reported per backend: Kendall's tau of the latency ratios
between the two processes (target >= 0.9), the median relative change of the ratio, |r2 - r1| / r1 (target
<= 5%), and what latency measurement adds to a trial: the median seconds per candidate (build, fuse, export for
onnxruntime, warm-up, timed runs) and the once-per-search preparation of the base model.

    pip install -e .[bench,onnx]
    python bench/latency.py [--config configs/quickstart.yaml] [--candidates 10] [--imgsz 640] [--repeats 20]
    python bench/latency.py --device 0 --backends torch     # CUDA (fp16), where there is a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, bench_parser, fixed_candidates, quiet, rank_correlations

TAU_TARGET, CHANGE_TARGET = 0.9, 0.05


def parse_args(argv=None):
    parser = bench_parser(__doc__)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random candidates")
    parser.add_argument("--imgsz", type=int, default=640, help="image side for latency (the deployment size)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of each model per candidate")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each model per candidate first")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="torch backend: cpu (the target), auto or a CUDA index")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"], choices=["torch", "onnxruntime"])
    parser.add_argument("--log", default="bench/latency.jsonl", help="one JSON line per candidate and process")
    parser.add_argument("--worker", metavar="BACKEND", help=argparse.SUPPRESS)  # internal: one timing process
    return parser.parse_args(argv)


def worker(args) -> None:
    """One process: time every candidate against the base, one JSON line each on stdout."""
    quiet()
    from shapenas.config import load_config
    from shapenas.latency import LatencyMeter, LatencySettings
    from shapenas.spaces import SearchSpace
    from shapenas.ultralytics.build import build_model

    config = load_config(args.config, args.set)
    space = SearchSpace(config)
    device = args.device if args.worker == "torch" else "cpu"  # onnxruntime runs on the CPU
    settings = LatencySettings(
        imgsz=args.imgsz,
        device=device,
        backend=args.worker,
        repeats=args.repeats,
        warmup=args.warmup,
        threads=args.threads,
    )
    start = time.perf_counter()
    meter = LatencyMeter(build_model(space.render(space.baseline())), settings)
    print(json.dumps({"base_seconds": round(time.perf_counter() - start, 2)}), flush=True)
    for name, candidate in fixed_candidates(space, args.candidates, args.seed):
        start = time.perf_counter()
        latency = meter.measure(build_model(space.render(candidate)))
        line = {"candidate": name, "summary": candidate.summary(), **latency.attrs()}
        print(json.dumps({**line, "seconds": round(time.perf_counter() - start, 2)}), flush=True)


def one_process(args, backend: str, run: int, log: Path) -> tuple[float, list[dict]]:
    """Run a worker process; returns its base preparation seconds and its candidate lines."""
    command = [sys.executable, __file__, "--worker", backend, *sys.argv[1:]]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{backend} process {run} failed:\n{done.stderr[-3000:]}")
    lines = [json.loads(text) for text in done.stdout.splitlines() if text.startswith("{")]
    with log.open("a") as out:
        for line in lines:
            out.write(json.dumps({"backend": backend, "process": run, **line}) + "\n")
    return lines[0]["base_seconds"], lines[1:]


def report(backend: str, first: list[dict], second: list[dict], base_seconds: list[float]) -> None:
    r1 = [line["latency_ratio"] for line in first]
    r2 = [line["latency_ratio"] for line in second]
    tau, _ = rank_correlations(r1, r2)
    change = statistics.median(abs(b - a) / a for a, b in zip(r1, r2, strict=True))
    seconds = statistics.median(line["seconds"] for line in first + second)
    head = first[0]
    print(
        f"\n{backend}: {head['latency_device']}, {head['latency_threads']} threads, {head['latency_imgsz']} px, "
        f"{head['latency_repeats']} repeats; base {first[0]['latency_base_ms']:.1f} ms"
    )
    print("| candidate | ratio, process 1 | ratio, process 2 | ms, process 1 |\n|---|---:|---:|---:|")
    for a, b in zip(first, second, strict=True):
        ratios = f"{a['latency_ratio']:.3f} | {b['latency_ratio']:.3f}"
        print(f"| {a['candidate']}: {a['summary']} | {ratios} | {a['latency_ms']:.1f} |")
    tau_verdict = "met" if tau >= TAU_TARGET else "NOT met"
    change_verdict = "met" if change <= CHANGE_TARGET else "NOT met"
    print(f"Kendall tau of the ratios between the processes: {tau:.3f} (target >= {TAU_TARGET}: {tau_verdict})")
    print(f"median change of the ratio: {100 * change:.1f}% (target <= {100 * CHANGE_TARGET:.0f}%: {change_verdict})")
    print(
        f"latency adds {seconds:.1f} s per trial (median over candidates); the base model's preparation "
        f"{statistics.median(base_seconds):.1f} s once per search"
    )


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    log = ROOT / args.log
    started = time.perf_counter()
    for backend in args.backends:
        runs = [one_process(args, backend, run, log) for run in (1, 2)]
        report(backend, runs[0][1], runs[1][1], [runs[0][0], runs[1][0]])
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
