"""`import shapenas` registers our modules with Ultralytics without importing Ultralytics (or torch) itself.

Users write `import shapenas; YOLO("best.yaml")`: the bridge must be installed before Ultralytics builds a model.
Installing it at `import shapenas` used to import torch, Ultralytics and OpenCV (seconds), also for `shapenas --help`.
Instead, `install_with_ultralytics()` installs the bridge at once when Ultralytics' model builder
(`ultralytics.nn.tasks`) is loaded already, and otherwise installs it right after that module is first imported,
through a finder on `sys.meta_path` that wraps the module's loader. Either way no Ultralytics model can be built
before the bridge is in place.
"""

from __future__ import annotations

import importlib.abc
import sys
from types import ModuleType

BUILDER = "ultralytics.nn.tasks"  # the module whose `parse_model` the bridge wraps


def _install_bridge() -> None:
    from shapenas.ultralytics.build import install

    install()


class _InstallAfterExec(importlib.abc.Loader):
    """The builder's own loader, followed by installing the bridge; anything else is asked of the real loader."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _install_bridge()

    def __getattr__(self, name: str):  # get_source, get_filename, is_package, ... (tracebacks, inspect)
        return getattr(self._loader, name)


class _BridgeFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: hands out the builder's real spec, with a loader that installs the bridge afterwards."""

    def find_spec(self, fullname, path, target=None):
        if fullname != BUILDER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _InstallAfterExec(spec.loader)
                return spec
        return None


_FINDER = _BridgeFinder()


def install_with_ultralytics() -> None:
    """Install the bridge now if Ultralytics' model builder is loaded, else as soon as it is. Idempotent."""
    if BUILDER in sys.modules:
        _install_bridge()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
