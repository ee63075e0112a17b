"""shapenas: search AKConv sampled shapes and where ODConv, SPConv, DynamicConv and DySample go in a YOLO model.

`import shapenas` is all a user needs before `ultralytics.YOLO("model.yaml")` can build YAML rows naming the five
modules, and before a checkpoint holding them can be loaded.
"""

from shapenas.modules import AKConv, DynamicConv, DySample, ODConv, SPConv, add_temperature_schedule
from shapenas.ultralytics_bridge import install as _install_bridge

_install_bridge()

__version__ = "0.1.0"
__all__ = ["AKConv", "DySample", "DynamicConv", "ODConv", "SPConv", "add_temperature_schedule", "__version__"]
