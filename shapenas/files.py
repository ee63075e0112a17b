"""Where shapenas writes, and writing output files whole or not at all: a crash or a bad path never leaves half a
file."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

from shapenas.errors import UserError

# Everything shapenas writes unasked (the default study storage, trial folders, the dataset check's stamps) goes here,
# relative to the current folder.
RUN_ROOT = Path("runs") / "shapenas"


def _check_folder(path: Path, option: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{option} {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{option} {str(path)!r}: folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise UserError(f"{option} {str(path)!r}: is a folder")


def check_writable(path: str | Path, option: str) -> Path:
    """`UserError` naming the option and path unless a file can be written there; call before any work."""
    path = Path(path)
    _check_folder(path, option)
    return path


def write_atomic(path: str | Path, write: Callable[[Path], None], option: str = "output") -> Path:
    """Call `write(temporary_path)`, then move the finished file into place."""
    path = check_writable(path, option)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}{path.suffix}")
    # Created like any new file (the umask decides its mode), not private as tempfile.mkstemp would make it.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def write_text_atomic(path: str | Path, text: str, option: str = "output") -> Path:
    return write_atomic(path, lambda temporary: temporary.write_text(text), option)
