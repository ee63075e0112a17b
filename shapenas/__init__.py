"""shapenas: search AKConv sampled shapes and where ODConv, SPConv, DynamicConv and DySample go in a YOLO model.

`import shapenas` is all a user needs before `ultralytics.YOLO("model.yaml")` can build YAML rows naming the five
modules, and before a checkpoint holding them can be loaded. It stays light (no torch, no Ultralytics): the bridge is
installed when Ultralytics' model builder loads (`shapenas.ultralytics.lazy_install`), and the module classes load on
first use. `shapenas.inherit_weights(model, parent)` starts a model from a trained parent of its base (unchanged
layers copied, swapped modules initialised from the layers they replace).
"""

from shapenas.ultralytics.lazy_install import install_with_ultralytics as _install_with_ultralytics

_install_with_ultralytics()

__version__ = "0.1.0"
_LAZY = {  # public name -> the module it is imported from on first use (each imports torch)
    "AKConv": "shapenas.modules",
    "DySample": "shapenas.modules",
    "DynamicConv": "shapenas.modules",
    "ODConv": "shapenas.modules",
    "SPConv": "shapenas.modules",
    "add_temperature_schedule": "shapenas.ultralytics.callbacks",
    "LayerInit": "shapenas.ultralytics.inherit",
    "inherit_weights": "shapenas.ultralytics.inherit",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    """`shapenas.AKConv` and the others, imported (with torch) when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shapenas' has no attribute {name!r}")
