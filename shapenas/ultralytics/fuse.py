"""Our modules take part in Ultralytics' `fuse()`, which folds BatchNorm into convolutions before inference.

`BaseModel.fuse()` (`ultralytics.nn.tasks`) walks the model and fuses the stock types it knows (`Conv`, `Conv2`,
`DWConv`, `ConvTranspose`, `RepConv`, `RepVGGDW`, `Detect`); it offers no hook for other modules. Everything that
fuses goes through it: `YOLO.fuse()`, the exporter (every `YOLO.export` format), and `AutoBackend` in `predict` and
`val`. So `install()` wraps it (a runtime wrapper, as `build.install` wraps `parse_model`; Ultralytics' source is not
edited): the wrapper first calls the registry's `fuse` hook on each of our modules, then Ultralytics' own fuse, so
its summary line describes the fully fused model. Each hook is idempotent, so fusing twice is harmless.
"""

from __future__ import annotations

from torch import nn

from shapenas.modules.registry import MODULES


def fuse_custom_modules(model: nn.Module) -> int:
    """Fold the BatchNorm of every registered module in `model` that has a `fuse` hook; returns how many."""
    hooks = [(spec.cls, spec.fuse) for spec in MODULES.values() if spec.fuse is not None]
    fused = 0
    for module in model.modules():
        for cls, fuse in hooks:
            if isinstance(module, cls):
                fuse(module)
                fused += 1
    return fused


def _wrap(fuse):
    def fuse_with_custom_modules(self, *args, **kwargs):
        fuse_custom_modules(self)
        return fuse(self, *args, **kwargs)

    fuse_with_custom_modules.shapenas_original = fuse
    fuse_with_custom_modules.__doc__ = fuse.__doc__
    return fuse_with_custom_modules


def install() -> None:
    """Make `BaseModel.fuse()` fuse our modules too. Idempotent; called by `build.install()`."""
    from ultralytics.nn import tasks

    if not hasattr(tasks.BaseModel.fuse, "shapenas_original"):
        tasks.BaseModel.fuse = _wrap(tasks.BaseModel.fuse)


def fused_for_inference(model: nn.Module) -> nn.Module:
    """`model` (an Ultralytics model) in eval mode and fused, through Ultralytics' own `fuse()`, without its summary."""
    install()
    return model.eval().fuse(verbose=False)
