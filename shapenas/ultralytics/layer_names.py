"""Whether a model YAML row's module name means a layer class to Ultralytics' `parse_model`, never a function.

`parse_model` (ultralytics/nn/tasks.py) looks a row's module up in `torch.nn` (`nn.<Name>`), `torchvision.ops`
(`torchvision.ops.<Name>`) or its own module's namespace, and calls what it finds with the row's arguments. A row
naming a function there would call it. (Interim: the model YAML check of branch `records` supersedes this file.)
"""

from __future__ import annotations

from typing import Any


def _is_layer(found: Any, module_prefix: str) -> bool:
    from torch import nn

    return isinstance(found, type) and issubclass(found, nn.Module) and found.__module__.startswith(module_prefix)


def is_layer_name(name: Any) -> bool:
    """True when `parse_model` resolves row module `name` to a layer class of Ultralytics, torch.nn or
    torchvision.ops (not a function, not a whole model)."""
    if not isinstance(name, str):
        return False
    if name.startswith("nn."):
        from torch import nn

        return _is_layer(getattr(nn, name[3:], None), "torch.nn.")
    if name.startswith("torchvision.ops."):
        import torchvision

        return _is_layer(getattr(torchvision.ops, name[16:], None), "torchvision.ops.")
    from ultralytics.nn import tasks

    return _is_layer(vars(tasks).get(name), "ultralytics.nn.modules.")
