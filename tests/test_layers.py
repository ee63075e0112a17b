"""The package's layers (docs/LAYOUT.md): every import of a shapenas module goes to its own layer or one below.

Read from the source with `ast`, function-level imports included (most of ours are: they keep `shapenas --help`
fast). The lazy faces of `shapenas.search.*` import by name at run time and are not seen here; inside the packages
modules import each other directly, which this does see.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "shapenas"

LAYERS = [  # top to bottom; a group is a top-level module or package, or one of the search packages
    {"cli", "commands"},
    {"search.verify"},
    {"search.loop"},
    {"search.fleet"},
    {"search.results"},
    {"evaluators"},
    {"spaces"},
    {"config", "config_checks", "config_schema", "model_yaml", "data", "environment", "latency", "cost"},
    {"ultralytics"},
    {"modules"},
    {"errors", "files", "text", "devices", "interrupts", "search"},  # search: the faces' helper
]
SEARCH_PACKAGES = ("loop", "fleet", "results", "verify")


def group(module: str) -> str:
    """`shapenas.search.loop.runner` -> `search.loop`; `shapenas.commands.train` -> `commands`."""
    parts = module.split(".")[1:]
    if parts[:1] == ["search"] and len(parts) > 1 and parts[1] in SEARCH_PACKAGES:
        return f"search.{parts[1]}"
    return parts[0]


def layer(name: str) -> int:
    return next(i for i, groups in enumerate(LAYERS) if name in groups)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("shapenas."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("shapenas.")}
    return found


def module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(("shapenas", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")


def modules(root: Path) -> list[Path]:
    # the package's own __init__ registers the modules with Ultralytics: it sits above every layer
    return [path for path in root.rglob("*.py") if path != root / "__init__.py"]


def upward_imports(root: Path) -> list[str]:
    upward = []
    for path in modules(root):
        source = group(module_name(path, root))
        upward += [
            f"{module_name(path, root)} imports {target}"
            for target in sorted(imports(path))
            if layer(group(target)) < layer(source)
        ]
    return upward


def test_every_module_has_a_layer():
    assert {group(module_name(path)) for path in modules(ROOT)} <= set().union(*LAYERS)


def test_imports_go_down_only():
    assert upward_imports(ROOT) == []


def test_an_upward_import_is_caught(tmp_path):
    results = tmp_path / "search" / "results"
    results.mkdir(parents=True)
    (results / "front.py").write_text("def f():\n    from shapenas.search.loop.runner import run_trials\n")
    (results / "fine.py").write_text("from shapenas.search.results import record\nimport shapenas.errors\n")
    assert upward_imports(tmp_path) == ["shapenas.search.results.front imports shapenas.search.loop.runner"]
