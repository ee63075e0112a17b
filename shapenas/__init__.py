"""shapenas: search AKConv sampled shapes and where ODConv, SPConv, DynamicConv and DySample go in a YOLO model.

`import shapenas` is all a user needs before `ultralytics.YOLO("model.yaml")` can build YAML rows naming the five
modules, and before a checkpoint holding them can be loaded. `shapenas.inherit_weights(model, parent)` starts a
model from a trained parent of its base (unchanged layers copied, swapped modules initialised from the layers they
replace).
"""

from shapenas.modules import AKConv, DynamicConv, DySample, ODConv, SPConv
from shapenas.ultralytics.build import install as _install_bridge
from shapenas.ultralytics.callbacks import add_temperature_schedule
from shapenas.ultralytics.inherit import LayerInit, inherit_weights

_install_bridge()

__version__ = "0.1.0"
__all__ = [
    "AKConv",
    "DySample",
    "DynamicConv",
    "LayerInit",
    "ODConv",
    "SPConv",
    "add_temperature_schedule",
    "inherit_weights",
    "__version__",
]
