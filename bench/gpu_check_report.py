"""gpu_check.md (tables ready for BENCHMARKS.md) and gpu_check.json from the parts' results (issue 20)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path


def header(env: dict, mode: str) -> list[str]:
    where = "smoke run on the CPU (no GPU figures)" if mode == "smoke" else env["device"]
    return [
        f"# GPU check: {where}",
        "",
        f"- date: {datetime.date.today().isoformat()}; command: `{env.get('command', '')}`",
        f"- device: {env['device']} (CUDA {env.get('cuda_version')}, bf16 {'yes' if env.get('bf16') else 'no'}); "
        f"{env.get('cpus')} CPUs; Python {env['python']}",
        f"- torch {env['torch']}, ultralytics {env['ultralytics']}, optuna {env['optuna']}",
        "",
        "| part | status | seconds | limit s | GPU util mean / max % | GPU memory peak MiB |",
        "|---|---|---:|---:|---:|---:|",
    ]


def gpu_cells(gpu: dict | None) -> str:
    if not gpu or not gpu.get("sampled"):
        return f"- | - ({(gpu or {}).get('reason', 'not sampled')})"
    return f"{gpu['util_mean']} / {gpu['util_max']:.0f} | {gpu['mem_peak_mib']}"


def part_section(part: str, result: dict) -> list[str]:
    lines = [f"## {part}. {result['title']}: {result['status']}", ""]
    for table in result.get("tables", []):
        lines += [table.rstrip(), ""]
    for step in result.get("skipped", []):
        lines.append(f"- skipped: {step['step']} ({step['reason']})")
    if result.get("error"):
        lines += ["", "```", result["error"].rstrip(), "```"]
    return lines + [""]


def write_report(out: Path, env: dict, results: dict, mode: str) -> None:
    lines = header(env, mode)
    for part, r in results.items():
        cells = f"{r.get('seconds', '-')} | {r.get('limit_s', '-')} | {gpu_cells(r.get('gpu'))}"
        lines.append(f"| {part}. {r['title']} | {r['status']} | {cells} |")
    lines.append("")
    for part, result in results.items():
        lines += part_section(part, result)
    (out / "gpu_check.md").write_text("\n".join(lines))
    document = {"mode": mode, "date": datetime.datetime.now().isoformat(timespec="seconds"), "env": env}
    (out / "gpu_check.json").write_text(json.dumps({**document, "parts": results}, indent=1))
