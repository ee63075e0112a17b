"""The shell commands README.md shows, in the order it shows them, as a new user would type them; and the tiny
settings they run with in CI (`test_readme_commands.py`).

Taken: every line of a ```bash block, and every inline `shapenas ... --study ...` span (a complete command on a
study; the inline templates with NAME, CONFIG, [options] are not commands). `bash scripts/quickstart.sh` stands for
the `shapenas` lines of that script. Each command is then made tiny (`tiny`) or skipped with its reason (`SKIPPED`).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What no CI run can do, by the command's start: why it is skipped.
SKIPPED = {
    "bash scripts/test.sh": "the test suite itself",
    "pip install": "installs from the network",
    "pip download": "downloads from the network",
    "URL=": "needs a PostgreSQL server (tests/test_workers_postgres.py runs workers on one)",
    "python bench/": "a benchmark (the GPU check's CPU rehearsal has its own test, test_gpu_check.py)",
}
NEEDS_SERVER = "$URL"  # a command on the PostgreSQL URL above: skipped with it
# The real-data example: its data is not in the repository (no test may need ../shared) and it runs for an hour.
REAL_DATA = ("--study bccd", "the real-data example: BCCD is not in this repository, and it runs for an hour")
# Settings that make a command take seconds: (pattern, replacement), applied in order.
TINY_SETTINGS = [
    (r"--train 512 --val 64 --imgsz 128", "--train 16 --val 8 --imgsz 64"),
    (r"--trial 6\b", "--trial 1"),  # the quickstart's trial 6; the tiny study has trials 0 and 1
    (r"--trial 2\b", "--trial 1"),  # the quickstart's trial 2
    (r"--trials 16\b", "--trials 3"),
    (r"--epochs 6 --seeds 2", "--epochs 1 --seeds 1"),
    (r"epochs=2 imgsz=128 batch=16", "epochs=1 imgsz=32 batch=8 workers=0"),
]
SEARCH_SETTINGS = [  # appended to every search of configs/quickstart.yaml
    "proxy.epochs=1",
    "proxy.parent_epochs=1",
    "proxy.imgsz=32",
    "proxy.batch=8",
    "proxy.workers=0",
    "search.trials=2",
    "cost.imgsz=64",
    "cost.latency_repeats=2",
    "cost.latency_warmup=1",
]


def _script_commands(script: Path) -> list[str]:
    text = script.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("shapenas ")]


def _block_lines(text: str) -> list[tuple[int, str]]:
    found = []
    for block in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M):
        body = block[1].replace("\\\n", " ")  # a command continued over lines is one command
        for line in body.splitlines():
            command = " ".join(line.split("  #")[0].split())
            if command and not command.startswith("#"):
                found.append((block.start(1) + body.index(line), command))
    return found


def _inline_commands(text: str) -> list[tuple[int, str]]:
    spans = ((m.start(), " ".join(m[1].split())) for m in re.finditer(r"`(shapenas [^`]+)`", text))
    return [(at, span) for at, span in spans if " --study " in span and not re.search(r"\b[A-Z]{2,}\b|\.\.\.", span)]


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """Every command, in README order; `bash scripts/quickstart.sh` replaced by the script's own commands."""
    text = readme.read_text()
    commands = []
    for _, command in sorted(_block_lines(text) + _inline_commands(text)):
        if command.startswith("bash scripts/quickstart.sh"):
            commands += _script_commands(ROOT / "scripts" / "quickstart.sh")
        else:
            commands.append(command)
    return commands


def skip_reason(command: str) -> str | None:
    if NEEDS_SERVER in command:
        return SKIPPED["URL="]
    if REAL_DATA[0] in command or "datasets/BCCD" in command:
        return REAL_DATA[1]
    return next((why for start, why in SKIPPED.items() if command.startswith(start)), None)


def tiny(command: str, folder: Path) -> list[str]:
    """The command as argv for `python -m shapenas.cli`, with tiny settings; Ultralytics' runs go under `folder`."""
    for pattern, replacement in TINY_SETTINGS:
        command = re.sub(pattern, replacement, command)
    command = command.replace('"$@"', "").replace('"$out', '"runs/shapenas/quickstart').replace(">/dev/null", "")
    argv = shlex.split(command)[1:]
    if argv[0] == "search" and argv[1] == "configs/quickstart.yaml":
        argv += [f"--set={setting}" for setting in SEARCH_SETTINGS]
    if argv[0] == "train":
        argv.append(f"project={folder / 'runs' / 'detect'}")  # not Ultralytics' global runs folder
    return argv
