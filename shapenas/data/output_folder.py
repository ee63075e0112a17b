"""The folder a dataset writer (`data synth`, `data voc`) writes into: absent, empty, or its own earlier output,
which the writer recognises by the JSON marker it wrote last. Anything else is someone's data and is refused."""

from __future__ import annotations

import json
from pathlib import Path

from shapenas.errors import UserError


def existing_marker(folder: Path, marker: str, what: str) -> dict | None:
    """The marker's content when `folder` holds a finished `what` (e.g. "synthetic dataset"); None when `folder` is
    absent or empty; `UserError` naming the folder otherwise."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise UserError(f"output path {folder} exists and is not a directory")
    path = folder / marker
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {path}: {error}") from None
    if any(folder.iterdir()):
        raise UserError(f"output directory {folder} is not empty and holds no {what} (no {marker})")
    return None
