"""A package's public surface, imported on first use (PEP 562 module `__getattr__`).

Each of `loop`, `fleet`, `results` and `verify` lists its public names and the module that defines each. Loading them
lazily keeps commands fast to start (`pareto` without `--plot` never imports matplotlib) and lets the packages'
modules import each other without package-level import cycles.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy(package: str, surface: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose module `m` defines the public names `surface[m]` (a name
    equal to its module's is that module)."""
    home = {name: module for module, names in surface.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{home[name]}")
        return module if name == home[name] else getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(home)

    return __getattr__, __dir__
