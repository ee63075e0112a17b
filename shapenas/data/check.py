"""Check a detection dataset before a search touches its study: every image there, readable, not corrupt.

Ultralytics skips a corrupt or missing image with a warning and trains on the rest, so a broken dataset would give
every trial a quietly different (or empty) training set. We fail instead, in one line naming the first bad file.
The YAML itself goes through Ultralytics' own `check_det_dataset` (the same check, and the same download of a
named dataset, the trainer would do, except that a `download:` script is never run); then every train and val image is
opened with PIL and verified, read-only.

A scan that passed is remembered by a stamp named after the files' paths, sizes and modification times, so the
workers of a big dataset scan it once, not once each.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import yaml

from shapenas.errors import UserError, first_line
from shapenas.files import RUN_ROOT

STAMP_FOLDER = RUN_ROOT / "checked_datasets"
MIN_SIDE = 10  # Ultralytics rejects images with a side under 10 px as corrupt


def _load_yaml(data_yaml: str) -> dict:
    """The dataset YAML as Ultralytics checks it: read once per process while the file is unchanged (a search checks
    the dataset, then reads its class count); not to be modified."""
    path = Path(data_yaml)
    stat = path.stat() if path.is_file() else None
    return _checked_yaml(data_yaml, stat and (stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _checked_yaml(data_yaml: str, file_version: tuple[int, int] | None) -> dict:
    from shapenas.ultralytics.data import load_dataset_yaml

    try:
        return load_dataset_yaml(data_yaml)
    except (OSError, SyntaxError, TypeError, ValueError, KeyError, yaml.YAMLError) as error:  # its ways to say no
        raise UserError(f"data: {data_yaml!r}: {first_line(error)}") from None


def image_problem(path: Path) -> str | None:
    """Why Ultralytics would skip this image (missing, unreadable, corrupt, too small), or None."""
    from PIL import UnidentifiedImageError

    from shapenas.ultralytics.data import open_image

    try:
        with open_image(path) as image:
            image.verify()
            width, height = image.size
    except FileNotFoundError:
        return "missing"
    except UnidentifiedImageError:
        return "not an image PIL can read"
    except Exception as error:  # PIL raises many types for a damaged file
        return f"corrupt ({first_line(error)})"
    if min(width, height) < MIN_SIDE:
        return f"only {width}x{height} px (Ultralytics needs {MIN_SIDE} px a side)"
    return None


def _stamp(files: list[Path]) -> Path:
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat() if path.exists() else None
        digest.update(f"{path.resolve()}|{stat and stat.st_size}|{stat and stat.st_mtime_ns}\n".encode())
    return STAMP_FOLDER / digest.hexdigest()[:32]


def class_count(data_yaml: str) -> int:
    """Number of classes the dataset YAML declares (the `nc` every candidate is built and costed with)."""
    return int(_load_yaml(data_yaml)["nc"])


def check_dataset(data_yaml: str) -> None:
    """`UserError` naming the first problem: the YAML, a split's folder, or the first bad image."""
    from shapenas.ultralytics.data import image_files

    info = _load_yaml(data_yaml)
    files = [path for split in ("train", "val") for path in image_files(split, info[split])]
    stamp = _stamp(files)
    if stamp.exists():
        return
    for path in files:
        problem = image_problem(path)
        if problem:
            raise UserError(f"data: image {str(path)!r} is {problem}; fix or remove it (and its label)")
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:  # a read-only folder only costs a rescan next time
        pass
