"""Slots: the rows of a base model YAML where a searched module may go, with their real channels at the chosen scale.

A conv slot is a top-level `Conv` row that builds a plain 3x3 convolution (stride 1 or 2, one group, no dilation); an
upsample slot is an `nn.Upsample` row with an integer scale factor. Channels come from building the base model (the
YAML alone cannot tell them: width scaling, `max_channels` and each block's own rule decide).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shapenas.errors import UserError

SLOT_KERNEL = 3  # a conv slot is a plain 3x3 Conv; a module put there keeps that kernel where it takes one


@dataclass(frozen=True)
class Slot:
    """One place in the base model: layer `index`, its `kind` and `section`, channels `c1 -> c2` and `stride`.

    For an upsample slot `c1 == c2` (the channels pass through) and `stride` is the upsampling factor.
    """

    index: int
    kind: str  # "conv" | "upsample"
    section: str  # "backbone" | "head"
    c1: int
    c2: int
    stride: int

    @property
    def name(self) -> str:
        return f"L{self.index}"

    @property
    def is_downsample(self) -> bool:
        return self.kind == "conv" and self.stride == 2

    @property
    def is_stem(self) -> bool:
        """Reads the image itself (the AKConv authors keep this layer a plain Conv)."""
        return self.index == 0


def model_rows(model_yaml: dict) -> list:
    return list(model_yaml["backbone"]) + list(model_yaml["head"])


def _is_plain_3x3(conv: torch.nn.Conv2d) -> bool:
    return (
        conv.kernel_size == (SLOT_KERNEL, SLOT_KERNEL)
        and conv.stride in ((1, 1), (2, 2))
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )


def _upsample_factor(args: list) -> int | None:
    factor = args[1] if len(args) > 1 else None
    return factor if isinstance(factor, int) and not isinstance(factor, bool) and factor >= 2 else None


def find_slots(model_yaml: dict, model=None) -> list[Slot]:
    """Every conv and upsample slot of a stock base model YAML (with `scale` set), in layer order; `model` is the base
    built from it already (built here when None)."""
    from shapenas.ultralytics.build import build_model
    from shapenas.ultralytics.introspect import layer_conv, layer_input_channels

    model = build_model(model_yaml) if model is None else model
    rows = model_rows(model_yaml)
    n_backbone = len(model_yaml["backbone"])
    upsample_rows = {
        i
        for i, (f, n, m, args) in enumerate(rows)
        if m == "nn.Upsample" and n == 1 and isinstance(f, int) and _upsample_factor(args)
    }
    channels_in = layer_input_channels(model, upsample_rows)
    slots = []
    for i, (_, n, m, args) in enumerate(rows):
        section = "backbone" if i < n_backbone else "head"
        conv = layer_conv(model, i) if m == "Conv" and n == 1 else None
        if conv is not None and _is_plain_3x3(conv):
            slots.append(Slot(i, "conv", section, conv.in_channels, conv.out_channels, conv.stride[0]))
        elif i in upsample_rows:
            slots.append(Slot(i, "upsample", section, channels_in[i], channels_in[i], _upsample_factor(args)))
    return slots


def _in_group(slot: Slot, group: str) -> bool:
    return (
        group == "all" or group == slot.section or group == slot.kind or (group == "downsample" and slot.is_downsample)
    )


def select_slots(slots: list[Slot], selectors: list, rows: list) -> list[Slot]:
    """The slots named by `space.slots` (group names and/or layer indices); `UserError` for a bad index."""
    by_index = {slot.index: slot for slot in slots}
    chosen: set[int] = set()
    for selector in selectors:
        if isinstance(selector, str):
            chosen |= {slot.index for slot in slots if _in_group(slot, selector)}
            continue
        if selector not in by_index:
            last = len(rows) - 1
            what = f"{rows[selector][2]} {rows[selector][3]}" if selector <= last else f"past the last layer {last}"
            raise UserError(
                f"space.slots: layer {selector} is {what}, not a 3x3 Conv or nn.Upsample slot; "
                f"slots are {', '.join(map(str, by_index))}"
            )
        chosen.add(selector)
    return [slot for slot in slots if slot.index in chosen]
