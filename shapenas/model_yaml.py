"""A model YAML must not run code: every model dict is checked here before Ultralytics sees it.

Ultralytics' `parse_model` (ultralytics/nn/tasks.py) `eval`s the `activation` string; resolves each row's module
name in its own namespace (or `torch.nn`, `torchvision.ops`) and calls what it finds with the row's arguments, so a
row naming a function such as `check_requirements` would call it; and swaps a string argument that names one of its
own local variables for that variable. A base YAML from a file, or a YAML read back from a shared study, could thus
run code on every machine that builds it. `check_model_yaml` accepts only:

- known top-level keys (so rendered and exported YAMLs carry nothing else);
- `activation: nn.<Activation>(...)` with an activation class of `torch.nn` and plain numbers as arguments, parsed
  with `ast` (never evaluated);
- rows `[from, repeats, module, args]` whose module is a layer class: one of Ultralytics' layers, a `torch.nn` or
  `torchvision.ops` module, or one of shapenas's modules; whose arguments are plain YAML data; and whose strings name
  none of `parse_model`'s variables but the data ones stock YAMLs use (`nc`, `kpt_shape`).

Ultralytics' own restricted loader (`_SafeLoad`, private) does part of this when `ULTRALYTICS_SAFE_LOAD` is set; this
check holds whatever the environment says.
"""

from __future__ import annotations

import ast
from typing import Any

from shapenas.errors import UserError

KNOWN_KEYS = frozenset(
    {
        "nc",
        "scales",
        "scale",
        "depth_multiple",
        "width_multiple",
        "activation",
        "channels",
        "kpt_shape",
        "end2end",
        "reg_max",
        "inplace",
        "backbone",
        "head",
        "yaml_file",  # added by Ultralytics' loader: where the YAML was read from
    }
)
ACTIVATIONS = frozenset(
    {
        "CELU",
        "ELU",
        "GELU",
        "Hardshrink",
        "Hardsigmoid",
        "Hardswish",
        "Hardtanh",
        "Identity",
        "LeakyReLU",
        "LogSigmoid",
        "Mish",
        "PReLU",
        "RReLU",
        "ReLU",
        "ReLU6",
        "SELU",
        "SiLU",
        "Sigmoid",
        "Softplus",
        "Softshrink",
        "Softsign",
        "Tanh",
        "Tanhshrink",
    }
)
DATA_NAMES = frozenset({"nc", "kpt_shape"})  # parse_model variables a row argument may name, as stock YAMLs do
_ACTIVATION_FORM = "nn.<Activation>(...) with a torch.nn activation and plain numbers as arguments"


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float, bool)


def _dotted(node: ast.expr) -> str | None:
    """`torch.nn.SiLU` -> "torch.nn.SiLU"; None for anything but names joined by dots."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def is_safe_activation(text: Any) -> bool:
    """True for `nn.SiLU()`, `torch.nn.LeakyReLU(0.1)`, `nn.ReLU(inplace=True)`; False for anything else."""
    if not isinstance(text, str):
        return False
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return False
    if not isinstance(call, ast.Call):
        return False
    name = _dotted(call.func) or ""
    module, _, cls = name.rpartition(".")
    arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
    return (
        module in ("nn", "torch.nn")
        and cls in ACTIVATIONS
        and all(keyword.arg is not None for keyword in call.keywords)  # no **mapping
        and all(_is_number(argument) for argument in arguments)
    )


def is_layer_name(name: Any) -> bool:
    """True for a registered shapenas module, or a name that `parse_model` resolves to a layer class (never a
    function)."""
    from shapenas.modules.registry import MODULES
    from shapenas.ultralytics.row_names import resolves_to_layer

    return isinstance(name, str) and (name in MODULES or resolves_to_layer(name))


def _plain_strings(value: Any) -> list[str] | None:
    """Every string inside plain YAML data (numbers, strings, booleans, null, lists); None for anything else."""
    if value is None or type(value) in (int, float, bool):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        found: list[str] = []
        for item in value:
            inner = _plain_strings(item)
            if inner is None:
                return None
            found += inner
        return found
    return None


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _row_problem(index: int, row: Any, variables: frozenset[str]) -> str | None:
    """Why layer row `index` cannot be built safely, or None."""
    if not (isinstance(row, list) and len(row) == 4):
        return f"layer {index}: expected [from, repeats, module, args], got {row!r}"
    source, repeats, name, args = row
    if not (_is_index(source) or (isinstance(source, list) and source and all(map(_is_index, source)))):
        return f"layer {index}: 'from' must be a layer index or a list of them, got {source!r}"
    if not (_is_index(repeats) and repeats >= 1):
        return f"layer {index}: repeats must be an integer >= 1, got {repeats!r}"
    if not is_layer_name(name):
        return (
            f"Ultralytics cannot build layer {index} {name!r}: not a layer class of Ultralytics, torch.nn or shapenas"
        )
    strings = _plain_strings(args) if isinstance(args, list) else None
    if strings is None:
        return f"layer {index}: args must be a list of numbers, strings, booleans and nulls, got {args!r}"
    named = [text for text in strings if text in variables and text not in DATA_NAMES]
    if named:
        allowed = ", ".join(sorted(DATA_NAMES))
        return f"layer {index}: argument {named[0]!r} would name a variable inside Ultralytics (only {allowed} may)"
    return None


def check_model_yaml(model: Any, where: str) -> None:
    """`UserError` naming `where` (e.g. "base", "trial 3") and the bad key or layer, unless `model` is safe to build.

    Rows are numbered as Ultralytics numbers layers: backbone first, then head.
    """
    if not isinstance(model, dict):
        raise UserError(f"{where}: expected a model YAML mapping, got {type(model).__name__}")
    unknown = sorted(str(key) for key in model if key not in KNOWN_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown model YAML key {unknown[0]!r}; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    activation = model.get("activation")
    if activation and not is_safe_activation(activation):  # Ultralytics skips a false or empty one
        raise UserError(f"{where}: activation: expected {_ACTIVATION_FORM}, got {activation!r}")
    from shapenas.ultralytics.row_names import parse_model_variables

    variables = parse_model_variables()
    rows = []
    for section in ("backbone", "head"):
        if not isinstance(model.get(section), list):
            raise UserError(f"{where}: {section}: expected a list of layer rows, got {model.get(section)!r}")
        rows += model[section]
    for index, row in enumerate(rows):
        problem = _row_problem(index, row, variables)
        if problem:
            raise UserError(f"{where}: {problem}")
