"""The search config: one YAML file, defaults for every key, `--set dotted.key=value` overrides, full validation.

Everything is checked before anything runs; each problem becomes one `UserError` line naming the key and the bad
value (the CLI prints it and exits 2). Paths are resolved relative to the config file's folder, then the current
folder; `base` may also be an Ultralytics model name such as `yolov8n.yaml` (its scale letter picks the scale).
The dataset is checked only by `require_data`, so commands that need no data (`shapenas space`) never look for it.
Slot-dependent checks (layer indices, presets) need the built base model and live in `shapenas.spaces.SearchSpace`.
The base model YAML is checked by `shapenas.model_yaml` (it must not run code) before anything builds it.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from shapenas.config_checks import fail
from shapenas.config_schema import (
    SECTIONS,
    ConstraintsConfig,
    CostConfig,
    ProxyConfig,
    SearchConfig,
    SpaceConfig,
    check_cross_keys,
    config_defaults,
    config_validators,
    measures_latency,
)
from shapenas.errors import UserError, first_line
from shapenas.model_yaml import check_model_yaml


@dataclass(frozen=True)
class Config:
    """A validated search config; its sections are typed (`shapenas.config_schema`): `config.proxy.epochs`."""

    base: str
    scale: str | None
    data: str | None
    space: SpaceConfig
    constraints: ConstraintsConfig
    cost: CostConfig
    proxy: ProxyConfig
    search: SearchConfig
    folder: str  # the config file's folder, for resolving `data` again when a command needs it
    base_yaml: dict = field(repr=False, compare=False, default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-able form (absolute paths), e.g. for an Optuna study's user attrs; `config_from_dict` reads it back.
        Spelled as a config file spells it: the same keys, the sections as nested mappings."""
        data = {"base": self.base, "scale": self.scale, "data": self.data}
        data.update({name: getattr(self, name).to_dict() for name in SECTIONS})
        return json.loads(json.dumps(data))

    @property
    def measures_latency(self) -> bool:
        """Latency is an objective or a constraint, so every candidate is timed before training."""
        return measures_latency(self.search, self.constraints)


def _resolve_file(value: str, folder: Path) -> Path | None:
    """The file `value` names, looked up next to the config first, then in the current folder."""
    path = Path(value).expanduser()
    for candidate in [path] if path.is_absolute() else [folder / path, Path.cwd() / path]:
        if candidate.is_file():
            return candidate.resolve()
    return None


def _read_yaml_file(path: Path, key: str) -> Any:
    if not path.is_file():
        raise UserError(f"{key}: no such file {str(path)!r}")
    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"{key}: {str(path)!r} is not valid YAML ({_yaml_reason(error)})") from None


def _yaml_reason(error: Exception) -> str:
    """The parser's complaint and where, on one line."""
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(error).split())


def parse_override(text: str) -> tuple[str, Any]:
    """`dotted.key=value` -> (key, value); the value is read as YAML, so `5`, `[3, 7]`, `null`, `tpe` all work."""
    key, sep, raw = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", key.strip()):
        raise UserError(f"--set: expected dotted.key=value, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        raise UserError(f"--set {key.strip()}: value is not valid YAML, got {raw!r}") from None


def _unknown_key(dotted: str, known: list[str]) -> UserError:
    close = difflib.get_close_matches(dotted.rsplit(".", 1)[-1], known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(known)}"
    return UserError(f"{dotted}: unknown key{hint}")


def _merge(defaults: dict, given: Any, prefix: str = "") -> dict:
    """Defaults overlaid with the user's values; unknown keys and mappings given as scalars are errors."""
    if not isinstance(given, dict):
        fail(prefix.rstrip(".") or "config", given, "a mapping of keys")
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            raise _unknown_key(dotted, list(defaults))
        # A section has keys of its own; an empty mapping default (proxy.train_args) is a free-form leaf.
        is_section = isinstance(defaults[key], dict) and bool(defaults[key])
        merged[key] = _merge(defaults[key], value, dotted + ".") if is_section else value
    return merged


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def _validate_leaves(tree: dict, validators: dict[str, Callable], prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if dotted in validators:
            out[key] = validators[dotted](dotted, value)
        else:  # a section: its leaves have validators
            out[key] = _validate_leaves(value, validators, dotted + ".")
    return out


def _load_base(value: str, folder: Path) -> tuple[str, dict]:
    """The base model YAML as Ultralytics reads it, from a file next to the config / in cwd, or an Ultralytics name."""
    from shapenas.ultralytics.build import load_model_yaml

    path = _resolve_file(value, folder)
    name = str(path) if path else value
    try:
        model = load_model_yaml(name)
    except FileNotFoundError:
        raise UserError(
            f"base: no model YAML {value!r} (not a file next to the config or in the current folder, "
            f"nor an Ultralytics model name such as yolov8n.yaml)"
        ) from None
    # There, but unreadable (a folder, not YAML, not a mapping; Ultralytics asserts the .yaml suffix): say why.
    except (OSError, ValueError, TypeError, AssertionError) as error:
        raise UserError(f"base: cannot read {value!r} ({_yaml_reason(error)})") from None
    if not isinstance(model, dict) or not all(isinstance(model.get(key), list) for key in ("backbone", "head")):
        raise UserError(f"base: {value!r} is not a model YAML (it needs 'backbone' and 'head' lists)")
    check_model_yaml(model, "base")  # before anything builds it: a model YAML must not run code
    return name, model


def _pick_scale(base: str, model: dict, wanted: str | None) -> str | None:
    """`scale` from the config, else the base name's letter; checked against the base's `scales`."""
    scales = model.get("scales") or {}
    if not scales:
        if wanted:
            raise UserError(f"scale: base {base!r} has no scales, got {wanted!r}")
        return None
    scale = wanted or model.get("scale") or None
    if scale is None:
        raise UserError(f"scale: base {base!r} has scales {', '.join(scales)} but its name picks none; set scale")
    if scale not in scales:
        raise UserError(f"scale: expected one of {', '.join(scales)} (the base's scales), got {scale!r}")
    return scale


def _resolve_data(value: str | None, folder: Path) -> str | None:
    """An existing file -> its absolute path; a bare name (an Ultralytics dataset) -> as is; else config-relative."""
    if value is None:
        return None
    path = _resolve_file(value, folder)
    if path:
        return str(path)
    if "/" not in value and "\\" not in value:
        return value
    return str((folder / Path(value).expanduser()).resolve())


def require_data(config: Config) -> str:
    """The dataset YAML a command that trains needs; `UserError` when it is missing."""
    if config.data is None:
        raise UserError("data: not set; give an Ultralytics dataset YAML (data: path/to/data.yaml)")
    path = _resolve_file(config.data, Path(config.folder))
    if path:
        return str(path)
    if "/" not in config.data:
        from shapenas.ultralytics.data import find_yaml

        try:
            return find_yaml(config.data)
        except FileNotFoundError:
            pass  # said below, in our words
        except OSError as error:
            raise UserError(f"data: cannot read {config.data!r} ({first_line(error)})") from None
    raise UserError(f"data: no such dataset YAML {config.data!r}")


def _resolve_parent(value: str, folder: Path) -> str:
    """`train`, or the checkpoint's absolute path when it is found next to the config or in the current folder.

    A path that is not found here is kept as given: a study read back on another machine already holds its parent in
    the artifact store. `shapenas search` checks the file before it creates a study.
    """
    if value == "train":
        return value
    path = _resolve_file(value, folder)
    return str(path) if path else value


def _build(tree: dict, folder: Path) -> Config:
    sections = {name: section.from_values(tree[name]) for name, section in SECTIONS.items()}
    sections["proxy"] = dataclasses.replace(sections["proxy"], parent=_resolve_parent(sections["proxy"].parent, folder))
    check_cross_keys(*(sections[name] for name in ("space", "search", "constraints", "cost")))
    if tree["base"] is None:
        raise UserError("base: missing; give an Ultralytics model YAML such as yolov8n.yaml, or a path")
    base, model = _load_base(tree["base"], folder)
    scale = _pick_scale(tree["base"], model, tree["scale"])
    if scale:
        model["scale"] = scale
    return Config(base, scale, _resolve_data(tree["data"], folder), folder=str(folder), base_yaml=model, **sections)


def upgraded(stored: dict) -> dict:
    """A config dict as a study stored it, in today's spelling. Studies made before the `cost` section measured
    GFLOPs at the proxy's image size: they keep doing so, so their stored GFLOPs stay comparable."""
    if "cost" in stored or not isinstance(stored.get("proxy"), dict) or "imgsz" not in stored["proxy"]:
        return stored
    return {**stored, "cost": {"imgsz": stored["proxy"]["imgsz"]}}


def with_defaults(stored: dict) -> dict:
    """A config dict as a study stored it (`Config.to_dict()`), with the keys added since then at their defaults."""
    return _merge(config_defaults(), upgraded(stored))


def config_from_dict(data: Any, folder: str | Path = ".", overrides: list[str] | tuple = ()) -> Config:
    """Validate a config given as a dict (a parsed file, or `Config.to_dict()` read back from a study)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        fail("config", data, "a mapping of keys")
    tree = copy.deepcopy(data)
    for text in overrides:
        _set_dotted(tree, *parse_override(text))
    merged = _merge(config_defaults(), tree)
    return _build(_validate_leaves(merged, config_validators()), Path(folder).resolve())


def load_config(path: str | Path, overrides: list[str] | tuple = ()) -> Config:
    """Read, override, validate: the one entry point commands use. Raises `UserError` (one line) on any problem."""
    path = Path(path)
    return config_from_dict(_read_yaml_file(path, "config"), path.resolve().parent, overrides)
