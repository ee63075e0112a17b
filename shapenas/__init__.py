"""shapenas: search AKConv sampled shapes and where ODConv, SPConv, DynamicConv and DySample go in a YOLO model.

`import shapenas` is all a user needs before `ultralytics.YOLO("model.yaml")` can build YAML rows naming the
registered modules, and before a checkpoint holding them can be loaded. It stays light (no torch, no Ultralytics):
the bridge is installed when Ultralytics' model builder loads (`shapenas.ultralytics.lazy_install`), and the module
classes load on first use. `shapenas.inherit_weights(model, parent)` starts a model from a trained parent of its
base (unchanged layers copied, swapped modules initialised from the layers they replace).
"""

from shapenas.ultralytics.lazy_install import install_with_ultralytics as _install_with_ultralytics

_install_with_ultralytics()

__version__ = "0.1.0"
_LAZY = {  # public name -> the module it is imported from on first use (each imports torch)
    "add_temperature_schedule": "shapenas.ultralytics.callbacks",
    "LayerInit": "shapenas.ultralytics.inherit",
    "inherit_weights": "shapenas.ultralytics.inherit",
}


def _module_classes() -> dict[str, type]:
    """The registered modules' classes by name: `shapenas.modules.MODULES` is their one list (imports torch)."""
    from shapenas.modules.registry import MODULES

    return {name: spec.cls for name, spec in MODULES.items()}


def __getattr__(name: str):
    """`shapenas.AKConv` and every other registered module's class, and the names of `_LAZY`, imported (with torch)
    when first asked for. Only a capitalised name is looked up in the registry, so that `from shapenas import
    config_checks` (a submodule, which the import system asks for here first) stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__all__":  # `from shapenas import *`
        return [*_module_classes(), *_LAZY, "__version__"]
    classes = _module_classes() if name[:1].isupper() else {}
    if name in classes:
        return classes[name]
    raise AttributeError(f"module 'shapenas' has no attribute {name!r}")
