"""Dataset YAMLs and image files as Ultralytics sees them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shapenas.errors import UserError

HEIF_SUFFIXES = (".heic", ".heif")


def runs_a_script(data_yaml: str) -> bool:
    """Whether the dataset YAML's `download:` is a script: `check_det_dataset` runs it (Python `exec`, or bash) when
    images are missing. A URL is only fetched."""
    path = Path(data_yaml)
    try:
        info = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") and path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # unreadable: check_det_dataset says why, without running anything
    download = info.get("download") if isinstance(info, dict) else None
    return bool(download) and not (isinstance(download, str) and re.fullmatch(r"https?://\S+", download.strip()))


def load_dataset_yaml(data_yaml: str) -> dict:
    """The dataset dict Ultralytics' trainer would use: `check_det_dataset` (it resolves paths, and downloads a
    named dataset from a URL when it is missing). A `download:` script is never run: the YAML may come from a shared
    study's stored config. Raises what `check_det_dataset` raises (FileNotFoundError, SyntaxError, YAML errors, ...)."""
    from ultralytics.data.utils import check_det_dataset

    return check_det_dataset(data_yaml, autodownload=not runs_a_script(data_yaml))


def find_yaml(name: str) -> str:
    """The path of a YAML Ultralytics knows by name (its bundled dataset YAMLs); FileNotFoundError/OSError if none."""
    from ultralytics.utils.checks import check_yaml

    return str(check_yaml(name))


def image_suffixes() -> frozenset[str]:
    """File suffixes (lower case, no dot) that Ultralytics takes for images when it scans a folder."""
    from ultralytics.data.utils import IMG_FORMATS

    return frozenset(IMG_FORMATS)


def open_image(path: Path) -> Any:
    """PIL's own `Image.open` for an image file, without Ultralytics' plugin-install side effect.

    Importing Ultralytics replaces `PIL.Image.open` with `ultralytics.utils.patches.image_open`, which pip-installs the
    pi-heif plugin the first time PIL cannot identify a file, then retries. A damaged PNG or JPEG must be reported as
    damaged, not start an install, so such files are opened with Pillow's original function. Once the module attribute
    is replaced, the only handle on that function is the private `patches._image_open` (Pillow keeps none, and
    re-implementing its plugin loop would be worse); tests/test_ultralytics_seam.py pins that it is Pillow's `open`.
    Without it we fall back to the patched opener: still correct, but it may try the install. HEIF files go through
    the patch on purpose: it is what makes them readable.
    """
    from PIL import Image

    if path.suffix.lower() in HEIF_SUFFIXES:
        return Image.open(path)
    from ultralytics.utils import patches

    return getattr(patches, "_image_open", Image.open)(path)


def _listed_images(list_file: Path) -> list[Path]:
    """An Ultralytics image list: one path per line, `./x` relative to the list's folder."""
    lines = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    return [list_file.parent / line[2:] if line.startswith("./") else Path(line) for line in lines]


def image_files(split: str, source: str | list) -> list[Path]:
    """The image files of one split as Ultralytics finds them: folders searched recursively, `.txt` lists read."""
    suffixes = image_suffixes()
    files: list[Path] = []
    for entry in source if isinstance(source, list) else [source]:
        path = Path(entry)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix[1:].lower() in suffixes)
        elif path.is_file() and path.suffix == ".txt":
            files += _listed_images(path)
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"data: {split} images {str(path)!r} do not exist")
    if not files:
        raise UserError(f"data: {split} {source!r} holds no images")
    return files
