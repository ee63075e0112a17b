"""What a model YAML row's names mean to Ultralytics' `parse_model` (ultralytics/nn/tasks.py).

`parse_model` resolves a row's module name with `getattr(torch.nn, ...)` for `nn.<Name>`, with
`getattr(torchvision.ops, ...)` for `torchvision.ops.<Name>`, and otherwise in its own module's namespace; it then
calls what it found with the row's arguments. It also swaps a string argument that names one of its local variables
for that variable. `shapenas.model_yaml` uses these two facts to refuse rows that would call a function or reach
into `parse_model`; our own modules' rows never reach Ultralytics as written (see `build.py`), so they are not
resolved here.
"""

from __future__ import annotations

from typing import Any


def _is_layer(cls: Any, module_prefix: str) -> bool:
    from torch import nn

    return (
        isinstance(cls, type)
        and issubclass(cls, nn.Module)
        and cls.__module__.startswith(module_prefix)  # layers, not whole models that read files (DetectionModel)
    )


def resolves_to_layer(name: str) -> bool:
    """True when `parse_model` would resolve row module `name` to a layer class of Ultralytics, torch.nn or
    torchvision.ops (never a function, never a whole model)."""
    if name.startswith("nn."):
        from torch import nn

        return _is_layer(getattr(nn, name[3:], None), "torch.nn.")
    if name.startswith("torchvision.ops."):
        import torchvision

        return _is_layer(getattr(torchvision.ops, name[16:], None), "torchvision.ops.")
    from ultralytics.nn import tasks

    return _is_layer(vars(tasks).get(name), "ultralytics.nn.modules.")


def parse_model_variables() -> frozenset[str]:
    """The names of `parse_model`'s local variables (a row's string argument naming one is replaced by its value)."""
    from ultralytics.nn import tasks

    parse_model = getattr(tasks.parse_model, "shapenas_original", tasks.parse_model)
    code = parse_model.__code__
    return frozenset(code.co_varnames + code.co_cellvars)
