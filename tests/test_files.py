"""Output files are written whole or not at all, with the permissions any new file gets."""

import os

import pytest

from shapenas.errors import UserError
from shapenas.files import write_atomic, write_text_atomic


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_written_file_is_whole_and_not_private(tmp_path):
    path = write_text_atomic(tmp_path / "front.csv", "a,b\n1,2\n", "--csv")
    assert path.read_text() == "a,b\n1,2\n"
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "best.yaml"
    path.write_text("old\n")

    def half_then_crash(temporary):
        temporary.write_text("half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash while writing"):
        write_atomic(path, half_then_crash, "-o")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["best.yaml"]


def test_a_missing_folder_is_a_user_error_naming_the_option(tmp_path):
    with pytest.raises(UserError, match=r"^-o '.*/no/x.yaml': folder '.*/no' does not exist$"):
        write_text_atomic(tmp_path / "no" / "x.yaml", "x", "-o")
