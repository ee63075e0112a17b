"""Part d of the GPU check: `shapenas worker --workers-per-device K` on part c's study, a fixed wall time per K.

The window starts when the command starts, so each K pays its own start-up (imports, the parent fetched from the
artifact store, the base model built): what a user who starts K workers gets in that time. At its end the command
gets SIGTERM, which it forwards to its workers; each closes its running trial as FAIL.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time

from gpu_check_sampler import GpuSampler
from gpu_check_search import (
    ROOT,
    WORKERS,
    cell,
    load_study,
    prepare_config,
    shapenas_args,
    trained_between,
    work_folder,
)


def create_study(ctx) -> None:
    """The study of part c, created here (presets queued) when part c did not get that far."""
    from shapenas.cli import main

    config = prepare_config(ctx)
    code = main(["search", str(config), *shapenas_args(ctx, "search")[1:], "--create-only"])
    if code != 0:
        raise RuntimeError(f"shapenas search --create-only exit {code}")


def stop(process: subprocess.Popen) -> float:
    """SIGTERM (the command forwards it to its workers); after 20 s SIGKILL to it and to every worker, which run in
    sessions of their own (a worker killed so leaves its trial RUNNING in the journal). Returns the seconds taken."""
    import psutil

    started = time.monotonic()
    try:
        workers = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _, alive = psutil.wait_procs(workers, timeout=5)
    for worker in alive:
        worker.kill()
    return round(time.monotonic() - started, 1)


def run_workers(ctx, k: int, window_s: float, cuda: bool) -> dict:
    command = [sys.executable, "-m", "shapenas.cli", *shapenas_args(ctx, "worker"), "--workers-per-device", str(k)]
    command += ["--trials", "100000"]  # never reached: the window ends the run
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    log = (ctx.out / "logs" / f"part_d_k{k}.log").open("w")
    start = datetime.datetime.now()
    with GpuSampler(enabled=cuda) as sampler:
        process = subprocess.Popen(
            command, cwd=work_folder(ctx), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + window_s
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        end = datetime.datetime.now()
        exited_early = process.poll()
        stop_s = stop(process)
    done = sorted(t.datetime_complete for t in trained_between(load_study(ctx), start, end))
    gpu = sampler.summary()
    return {
        "k": k,
        "window_s": round((end - start).total_seconds(), 1),
        "trials_trained": len(done),
        "trials_per_hour": round(3600 * len(done) / (end - start).total_seconds(), 1),
        "first_done_s": round((done[0] - start).total_seconds(), 1) if done else None,
        "gpu_util_mean": gpu.get("util_mean"),
        "gpu_mem_peak_mib": gpu.get("mem_peak_mib"),
        "exited_early": exited_early,
        "stop_s": stop_s,
    }


def workers_table(rows: list[dict]) -> str:
    lines = [
        "| K workers | window s | trials trained | trials/hour | first trial done after s | GPU util mean % "
        "| GPU memory peak MiB | stop s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [r[key] for key in ("k", "window_s", "trials_trained", "trials_per_hour", "first_done_s")]
        cells += [r["gpu_util_mean"], r["gpu_mem_peak_mib"], r["stop_s"]]
        lines.append("| " + " | ".join(map(cell, cells)) + " |")
    return "\n".join(lines)


def part_d(ctx) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    ks, window = WORKERS["smoke" if ctx.smoke else "gpu"]
    window = ctx.worker_seconds or window
    create_study(ctx)
    rows, result = [], {}
    for k in ks:
        rows.append(run_workers(ctx, k, window, cuda))
        failed = [r["k"] for r in rows if r["exited_early"] not in (None, 0)]
        result = {
            "status": "failed" if failed else "ok",
            "tables": [workers_table(rows)],
            "figures": {"rows": rows},
            "skipped": [] if cuda else [{"step": "one GPU per worker, GPU memory", "reason": "no CUDA device"}],
        }
        if failed:
            result["error"] = f"the worker command exited before its window ended for K = {failed}: see logs"
        ctx.save(result)  # each K's row survives a timeout in the next
    return result
