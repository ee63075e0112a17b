"""shapenas: search AKConv sampled shapes and where ODConv, SPConv, DynamicConv and DySample go in a YOLO model.

`import shapenas` is all a user needs before `ultralytics.YOLO("model.yaml")` can build YAML rows naming the five
modules, and before a checkpoint holding them can be loaded. It stays light (no torch, no Ultralytics): the bridge is
installed when Ultralytics' model builder loads (`shapenas.lazy_install`), and the module classes load on first use.
"""

from shapenas.lazy_install import install_with_ultralytics as _install_with_ultralytics

_install_with_ultralytics()

__version__ = "0.1.0"
_MODULES = ("AKConv", "DySample", "DynamicConv", "ODConv", "SPConv", "add_temperature_schedule")
__all__ = [*_MODULES, "__version__"]


def __getattr__(name: str):
    """`shapenas.AKConv` and the others, imported from `shapenas.modules` (and torch) when first asked for."""
    if name in _MODULES:
        import shapenas.modules

        return getattr(shapenas.modules, name)
    raise AttributeError(f"module 'shapenas' has no attribute {name!r}")
