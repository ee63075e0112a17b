"""Parts a, b and e of the GPU check, each run through the project's own suite or benchmark script (issue 20).

`run_in_child` is what a part's process runs: it calls the part and writes DIR/part_<p>.json, which the check
reads back. A part returns {status, tables (markdown), figures, skipped: [{step, reason}]}.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import traceback
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = "no CUDA device: smoke run on the CPU"


def run_logged(command: list[str], out: Path, name: str) -> subprocess.CompletedProcess:
    """Run `command` in the repository root; its output goes to logs/<name>.log and is returned."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    (out / "logs" / f"{name}.log").write_text(done.stdout + done.stderr)
    return done


def junit_table(xml_file: Path) -> tuple[str, Counter, list[str]]:
    """Per test function (and AMP mode), passed/failed/skipped counts as markdown; the counts; failures' first lines."""
    rows: dict[str, Counter] = {}
    failures = []
    for case in ET.parse(xml_file).getroot().iter("testcase"):
        name = case.get("name", "?")
        mode = re.search(r"(cpu|cuda)-(bf16|fp16)", name)
        key = name.split("[")[0] + (f" ({mode.group(0)})" if mode else "")
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        rows.setdefault(key, Counter())[outcome] += 1
        if outcome in ("failure", "error"):
            message = (case.find(outcome).get("message") or "").splitlines()[:1]
            failures.append(f"{name}: {' '.join(message)[:200]}")
    lines = ["| test | passed | failed | skipped |", "|---|---:|---:|---:|"]
    for key, c in sorted(rows.items()):
        lines.append(f"| {key} | {c['passed']} | {c['failure'] + c['error']} | {c['skipped']} |")
    return "\n".join(lines), sum(rows.values(), Counter()), failures


def part_a(ctx) -> dict:
    """The CUDA cases of the conformance and AMP suites (on --smoke: the AMP suite's CPU bf16 cases)."""
    xml_file = ctx.out / "part_a_junit.xml"
    files = ["tests/test_module_amp.py"] + ([] if ctx.smoke else ["tests/test_module_conformance.py"])
    selection = "cpu" if ctx.smoke else "cuda"
    command = [sys.executable, "-m", "pytest", *files, "-k", selection, "-q", "-p", "no:cacheprovider"]
    if not ctx.smoke and importlib.util.find_spec("xdist") is not None:
        command += ["-n", "4"]  # a few hundred small CUDA cases: four processes share the GPU
    done = run_logged([*command, f"--junitxml={xml_file}"], ctx.out, "part_a_pytest")
    if not xml_file.exists():
        raise RuntimeError(
            f"pytest wrote no report (exit {done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    table, counts, failures = junit_table(xml_file)
    fails = counts["failure"] + counts["error"]
    skipped = [{"step": "CUDA cases of the conformance suite; AMP fp16 and bf16 on CUDA", "reason": NO_CUDA}]
    result = {
        "status": "ok" if fails == 0 and counts["passed"] > 0 else "failed",
        "tables": [f"pytest {' '.join(files)} -k {selection}\n\n{table}"],
        "figures": {"passed": counts["passed"], "failed": fails, "skipped": counts["skipped"]},
        "skipped": skipped if ctx.smoke else [],
    }
    if failures:
        result["error"] = "\n".join(failures[:15])
    return result


def part_b(ctx) -> dict:
    """bench/modules.py: training and fused batch-1 inference of each module against the Conv it replaces."""
    args = ["--device", "cpu", "--quick", "--repeats", "1", "--batch", "1", "--size", "16"] if ctx.smoke else []
    command = [sys.executable, "bench/modules.py", *(args or ["--device", "cuda", "--amp"])]
    done = run_logged(command, ctx.out, "part_b_modules")
    if done.returncode != 0:
        raise RuntimeError(f"bench/modules.py exit {done.returncode}: {done.stderr[-3000:]}")
    skipped = [{"step": "CUDA timing and fp16 autocast (--device cuda --amp)", "reason": NO_CUDA}]
    return {
        "status": "ok",
        "tables": [f"python {' '.join(command[1:])}\n\n{done.stdout.strip()}"],
        "skipped": skipped if ctx.smoke else [],
    }


def part_e(ctx) -> dict:
    """bench/latency.py with the torch backend, two processes: tau and the median change of the latency ratio."""
    from gpu_check_search import prepare_config

    config = prepare_config(ctx)  # the check's own config: its data is there (quickstart's may not be)
    if ctx.smoke:
        args = ["--device", "cpu", "--candidates", "3", "--imgsz", "64", "--repeats", "3", "--warmup", "1"]
    else:
        args = ["--device", "0", "--candidates", "6", "--imgsz", "640", "--repeats", "20"]
    log = ctx.out / "latency.jsonl"
    command = [sys.executable, "bench/latency.py", "--config", str(config), "--backends", "torch", *args]
    done = run_logged([*command, "--log", str(log)], ctx.out, "part_e_latency")
    if done.returncode != 0:
        raise RuntimeError(f"bench/latency.py exit {done.returncode}: {done.stderr[-3000:]}{done.stdout[-2000:]}")
    tau = re.search(r"Kendall tau of the ratios between the processes: (-?[\d.]+|nan)", done.stdout)
    change = re.search(r"median change of the ratio: ([\d.]+)%", done.stdout)
    figures = {
        "tau": float(tau.group(1)) if tau else None,
        "median_change_pct": float(change.group(1)) if change else None,
    }
    skipped = [{"step": "CUDA latency (--device 0, fp16); timed on the CPU instead", "reason": NO_CUDA}]
    return {
        "status": "ok" if tau and change else "failed",
        "tables": [f"python {' '.join(command[1:])} --log {log.name}\n\n{done.stdout.strip()}"],
        "figures": figures,
        "skipped": skipped if ctx.smoke else [],
    }


class Context:
    """What a part needs: the output folder, smoke or not, the data.yaml given, its time limit."""

    def __init__(self, args, limit_s: float):
        self.out, self.smoke, self.data, self.limit_s = args.out, args.smoke, args.data, limit_s
        self.worker_seconds = args.worker_seconds
        self.result_file = self.out / f"part_{args.part}.json"

    def save(self, result: dict) -> None:
        """Write the part's result so far: what was measured survives a later timeout."""
        self.result_file.write_text(json.dumps(result, indent=1))


def run_in_child(args) -> int:
    import os

    from gpu_check_search import part_c
    from gpu_check_workers import part_d

    ctx = Context(args, float(os.environ.get("GPU_CHECK_LIMIT_S", "60")))
    part = {"a": part_a, "b": part_b, "c": part_c, "d": part_d, "e": part_e}[args.part]
    try:
        ctx.save(part(ctx))
        return 0
    except Exception:
        ctx.save({"status": "error", "error": traceback.format_exc()[-4000:]})
        return 1
