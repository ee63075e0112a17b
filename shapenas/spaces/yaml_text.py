"""Model YAML text in the layout of Ultralytics' own files: top-level keys in block style, one layer row per line."""

from __future__ import annotations

import yaml

_ROW_SECTIONS = ("backbone", "head")


def _flow(value) -> str:
    """One-line YAML for any value (wrapped in a list and unwrapped, so a bare scalar gets no `...` end marker)."""
    return yaml.safe_dump([value], default_flow_style=True, width=1 << 30).strip()[1:-1]


def model_yaml_text(model: dict, header: str = "") -> str:
    """YAML text for a model dict (key order kept); `header` lines become `#` comments at the top.

    `yaml.safe_load(model_yaml_text(d)) == d` for every dict `SearchSpace.render` returns.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key, value in model.items():
        if key in _ROW_SECTIONS:
            lines.append(f"{key}:")
            lines.extend(f"  - {_flow(row)}" for row in value)
        elif isinstance(value, dict):  # e.g. scales: one entry per line
            lines.append(f"{key}:")
            lines.extend(f"  {_flow(k)}: {_flow(v)}" for k, v in value.items())
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"
