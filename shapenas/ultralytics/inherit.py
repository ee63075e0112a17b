"""Start a candidate from a trained parent: unchanged layers copied, each swapped-in module initialised from the layer
it replaces, one record per layer saying how.

Unchanged layers go through Ultralytics' own transfer (`DetectionModel.load`: every tensor whose name and shape match,
BatchNorm running statistics included; a Detect head trained for another class count keeps all but its
class-prediction convolutions). Each swapped module then starts from the parent's layer at the same index through
its own `init_from_conv` / `init_from_upsample`; how close it comes is measured, not assumed: the parent's own input
to that layer (from a probe batch) goes through both, in eval mode, and the relative output error decides between
"exact" (below `EXACT_TOLERANCE`) and "approximate".
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import torch
from torch import nn

from shapenas.errors import ShapenasError
from shapenas.modules import MODULES, ModuleSpec

EXACT_TOLERANCE = 1e-5  # relative output error below which an initialisation counts as exact
_PROBE_SIZE = 64


@dataclass(frozen=True)
class LayerInit:
    """How one layer of a candidate started.

    `how`: "copied" (every tensor from the parent's layer), "partial" (some tensors; `note` says which stayed
    fresh), "exact" or "approximate" (a swapped module initialised from the parent's layer; `error` is the measured
    relative output error of an approximate one), "fresh" (its own initialisation; `note` says why).
    """

    index: int
    module: str
    how: str
    error: float | None = None
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def detection_model(model) -> nn.Module:
    """The Ultralytics `DetectionModel` of a `DetectionModel` or of a `YOLO` wrapping one."""
    from ultralytics.nn.tasks import DetectionModel

    inner = model if isinstance(model, DetectionModel) else getattr(model, "model", None)
    if not isinstance(inner, DetectionModel):
        raise TypeError(f"expected an Ultralytics DetectionModel or a YOLO wrapping one, got {type(model).__name__}")
    return inner


def default_probe(channels: int = 3, seed: int = 0) -> torch.Tensor:
    """A stand-in input when no real images are given: two random images of 64 px (errors on real images differ)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, channels, _PROBE_SIZE, _PROBE_SIZE, generator=generator)


def _spec_of(layer: nn.Module) -> ModuleSpec | None:
    """The registry's entry for the layer's class (read at each call: a module may be registered after import)."""
    return next((spec for spec in MODULES.values() if spec.cls is type(layer)), None)


def _is_swap(layer: nn.Module, source: nn.Module | None) -> bool:
    return source is not None and type(layer) is not type(source) and _spec_of(layer) is not None


def _layer_inputs(parent: nn.Module, indices: list[int], probe: torch.Tensor) -> dict[int, torch.Tensor]:
    """What the parent feeds each of its layers `indices` on the probe batch."""
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        parent.model[i].register_forward_pre_hook(lambda _, args, i=i: seen.__setitem__(i, args[0])) for i in indices
    ]
    try:
        with torch.no_grad():
            parent(probe)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _start_from(layer: nn.Module, source: nn.Module, x: torch.Tensor, generator: torch.Generator) -> None:
    """Through the module's registry hook; `ValueError` when the parent's layer is not what it can start from."""
    spec = _spec_of(layer)
    if spec.kind == "upsample":
        if not isinstance(source, nn.Upsample):
            raise ValueError(f"the parent's layer is {type(source).__name__}, not nn.Upsample")
        spec.init_from(layer, source, x=x, generator=generator)
        return
    conv, bn = getattr(source, "conv", None), getattr(source, "bn", None)  # Ultralytics' Conv: conv, bn, act
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise ValueError(f"the parent's layer is {type(source).__name__}, not a Conv with conv and bn")
    spec.init_from(layer, conv, bn, x=x, generator=generator)


def _relative_error(layer: nn.Module, source: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        want, got = source(x), layer(x)
    return float((got - want).norm() / want.norm().clamp_min(1e-12))


def _init_swapped(index: int, layer: nn.Module, source: nn.Module, x: torch.Tensor, seed: int) -> LayerInit:
    name = type(layer).__name__
    if _spec_of(layer).init_from is None:  # the registry gives it no way to start from the parent's layer
        record = _transfer_record(index, layer, source)
        note = f"{name} has no init_from: kept what the transfer left ({record.note or record.how})"
        return dataclasses.replace(record, note=note)
    try:
        _start_from(layer, source, x, torch.Generator().manual_seed(seed * 1000 + index))
    except ValueError as error:
        return LayerInit(index, name, "fresh", note=f"kept its own initialisation: {error}")
    error = _relative_error(layer, source, x)
    if error <= EXACT_TOLERANCE:
        return LayerInit(index, name, "exact")
    return LayerInit(index, name, "approximate", round(error, 6))


def _transfer_record(index: int, layer: nn.Module, source: nn.Module | None) -> LayerInit:
    """After Ultralytics' transfer: did every tensor of this layer come from the parent's layer?"""
    name = type(layer).__name__
    ours = layer.state_dict()
    theirs = source.state_dict() if source is not None else {}
    same = [k for k, v in ours.items() if k in theirs and theirs[k].shape == v.shape and torch.equal(theirs[k], v)]
    if len(same) == len(ours):
        return LayerInit(index, name, "copied")
    if not same:
        return LayerInit(index, name, "fresh", note="no tensor matches the parent's layer")
    fresh = sorted({k.rsplit(".", 1)[0] for k in ours if k not in same})
    return LayerInit(index, name, "partial", note=f"fresh: {', '.join(fresh)}")


def inherit_weights(model, parent, probe: torch.Tensor | None = None, seed: int = 0) -> list[LayerInit]:
    """Start `model` from the trained `parent` (Ultralytics detection models, or YOLO objects wrapping them).

    Copies every parameter and buffer of each unchanged layer, initialises each swapped module (AKConv, ODConv,
    SPConv, DynamicConv in place of a `Conv`; DySample in place of an `nn.Upsample`) from the parent's layer at the
    same index, and returns one `LayerInit` per layer. `probe`, a batch of images `(B, 3, H, W)` with H and W
    multiples of the largest stride, measures the swapped layers' errors on the parent's own activations (real
    images give meaningful figures; without one, `default_probe()`). `seed` fixes the experts' zero-sum noise.
    A layer that cannot start from the parent's keeps its own initialisation and says so; nothing raises for that.
    """
    model, parent = detection_model(model), detection_model(parent)
    modes = model.training, parent.training
    model.eval(), parent.eval()
    try:
        model.load(parent, verbose=False)
        sources = list(parent.model) + [None] * max(0, len(model.model) - len(parent.model))
        swaps = [i for i, (layer, src) in enumerate(zip(model.model, sources, strict=False)) if _is_swap(layer, src)]
        inputs = _layer_inputs(parent, swaps, default_probe() if probe is None else probe) if swaps else {}
        return [
            _init_swapped(i, layer, src, inputs[i], seed) if i in inputs else _transfer_record(i, layer, src)
            for i, (layer, src) in enumerate(zip(model.model, sources, strict=False))
        ]
    finally:  # the head may have been rebuilt (another class count): restore by model, not by module
        model.train(modes[0]), parent.train(modes[1])


def train_from_parent(yolo, parent, probe: torch.Tensor | None = None, seed: int = 0) -> list[LayerInit]:
    """`inherit_weights` into an `ultralytics.YOLO`, then mark its weights as the ones `train()` starts from.

    `YOLO.train()` otherwise builds the model anew from its YAML and the inherited weights are silently lost; a
    loaded model (`YOLO.load`) is re-built and then given the loaded weights.
    """
    records = inherit_weights(yolo, parent, probe, seed)
    yolo.load(yolo.model)
    return records


class InheritanceLost(ShapenasError, RuntimeError):
    """The trainer's model did not start from the weights the model was given (e.g. it was rebuilt from its YAML)."""


def _fingerprint(model: nn.Module) -> torch.Tensor:
    """One sum per state-dict tensor, in float64."""
    return torch.stack([t.detach().double().sum() for t in model.state_dict().values()])


def check_starts_from(yolo) -> None:
    """Make the next `yolo.train()` raise `InheritanceLost` at its start unless the model it trains holds `yolo`'s
    weights as they are now (after `train_from_parent`). Ultralytics builds the trained model anew; were it one day to
    drop the loaded weights, training would silently start from scratch."""
    from shapenas.ultralytics import trainer as trainers

    expected = _fingerprint(detection_model(yolo))

    def on_train_start(trainer) -> None:
        got = _fingerprint(trainers.trained_models(trainer)[0])
        if got.shape != expected.shape or not torch.allclose(got, expected.to(got.device), rtol=1e-6):
            raise InheritanceLost("the trainer did not start from the inherited weights")

    trainers.add_callbacks(yolo, {"on_train_start": on_train_start})
