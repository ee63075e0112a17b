"""`import shapenas` and `shapenas --help` load no torch, Ultralytics, OpenCV or Optuna, yet `import shapenas` still
makes Ultralytics build our modules, whichever of the two is imported first. Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "ultralytics", "cv2", "optuna", "numpy", "matplotlib")
ROOT = Path(__file__).resolve().parents[1]


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_help_of_every_command_loads_no_heavy_library():
    code = f"""
import contextlib, io, json, sys
from shapenas.cli import build_parser
from shapenas.commands import COMMANDS
for argv in [["--help"]] + [[command.name, "--help"] for command in COMMANDS]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        build_parser().parse_args(argv)
print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
"""
    assert json.loads(_python(code)) == []


@pytest.mark.parametrize("order", ["shapenas first", "ultralytics first"])
def test_import_shapenas_still_lets_ultralytics_build_our_modules(order):
    imports = ["import shapenas", "from ultralytics.nn.tasks import DetectionModel"]
    if order == "ultralytics first":
        imports.reverse()
    code = "\n".join(
        [
            *imports,
            "from ultralytics.nn.tasks import DetectionModel",
            "from tests.yaml_fixtures import all_modules_yaml, used_modules",
            "model_yaml = all_modules_yaml('yolov8n.yaml')",
            "assert used_modules(model_yaml) >= {'AKConv', 'ODConv', 'SPConv', 'DynamicConv', 'DySample'}",
            "model = DetectionModel(model_yaml, verbose=False)",
            "print(sorted({type(m).__name__ for m in model.model}))",
        ]
    )
    built = _python(code)
    for name in ("AKConv", "ODConv", "SPConv", "DynamicConv", "DySample"):
        assert name in built, built


def test_the_module_classes_load_on_first_use():
    code = "import sys, shapenas; assert 'torch' not in sys.modules; print(shapenas.AKConv.__module__)"
    assert _python(code).strip() == "shapenas.modules.akconv"
