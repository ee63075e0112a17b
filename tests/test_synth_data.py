"""The generated shapes dataset: deterministic, valid YOLO labels, written atomically, loadable by Ultralytics."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from shapenas.cli import main
from shapenas.data import CLASS_NAMES, synth, write_synthetic_dataset
from shapenas.errors import UserError

SMALL = dict(n_train=6, n_val=3, imgsz=64, seed=3)


def _hashes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in skip
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A dataset big enough that every class appears."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth") / "data", n_train=40, n_val=10, imgsz=96)


def test_same_arguments_give_byte_identical_files(tmp_path):
    first = write_synthetic_dataset(tmp_path / "a", **SMALL).parent
    second = write_synthetic_dataset(tmp_path / "b", **SMALL).parent
    # data.yaml names its own absolute directory, so it is the one file that differs.
    assert _hashes(first, skip=("data.yaml",)) == _hashes(second, skip=("data.yaml",))
    assert len(_hashes(first)) == 2 * (6 + 3) + 2


def test_rewriting_in_place_is_byte_identical(tmp_path):
    root = write_synthetic_dataset(tmp_path / "d", **SMALL).parent
    before = _hashes(root)
    write_synthetic_dataset(root, **{**SMALL, "seed": 4}, overwrite=True)
    assert _hashes(root) != before
    write_synthetic_dataset(root, **SMALL, overwrite=True)
    assert _hashes(root) == before


def test_more_images_do_not_change_earlier_ones(tmp_path):
    few = write_synthetic_dataset(tmp_path / "few", **SMALL).parent
    more = write_synthetic_dataset(tmp_path / "more", **{**SMALL, "n_train": 9, "n_val": 5}).parent
    few_hashes, more_hashes = _hashes(few, skip=("data.yaml", "synth.json")), _hashes(more)
    assert all(more_hashes[name] == digest for name, digest in few_hashes.items())


def test_other_seed_gives_other_images(tmp_path):
    a = write_synthetic_dataset(tmp_path / "a", **SMALL).parent
    b = write_synthetic_dataset(tmp_path / "b", **{**SMALL, "seed": 4}).parent
    assert (a / "images/train/train_000000.png").read_bytes() != (b / "images/train/train_000000.png").read_bytes()


def test_counts_and_layout(dataset):
    root = dataset.parent
    for split, count in (("train", 40), ("val", 10)):
        images = sorted(p.stem for p in (root / "images" / split).glob("*.png"))
        labels = sorted(p.stem for p in (root / "labels" / split).glob("*.txt"))
        assert len(images) == count and images == labels
    assert not [p for p in root.parent.iterdir() if p.name != root.name], "temporary directories left behind"


def test_labels_are_valid_yolo_boxes(dataset):
    classes_seen = set()
    for label_file in (dataset.parent / "labels").rglob("*.txt"):
        lines = label_file.read_text().splitlines()
        assert 1 <= len(lines) <= 6, label_file
        for line in lines:
            fields = line.split()
            assert len(fields) == 5, line
            cls, (cx, cy, w, h) = int(fields[0]), map(float, fields[1:])
            assert 0 <= cls < len(CLASS_NAMES)
            assert 0 < w <= 1 and 0 < h <= 1, line
            assert 0 < cx < 1 and 0 < cy < 1, line
            assert cx - w / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6, line  # clipped to the image
            assert cy - h / 2 >= -1e-6 and cy + h / 2 <= 1 + 1e-6, line
            classes_seen.add(cls)
    assert classes_seen == set(range(len(CLASS_NAMES)))


def test_draw_image_gives_pixel_aligned_boxes():
    rng = np.random.default_rng(0)
    image, labels = synth.draw_image(rng, 128)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8 and labels
    for _, cx, cy, w, h in labels:
        for edge in (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2):
            assert abs(edge * 128 - round(edge * 128)) < 1e-4


def test_box_of_an_oblique_bar_is_tight():
    angle = np.radians(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mask = synth._rasterise([synth._rectangle(40, 4) @ rotation.T + (32.0, 32.0)], 64)
    cx, cy, w, h = (value * 64 for value in synth._tight_box(mask))
    x0, x1, y0, y1 = round(cx - w / 2), round(cx + w / 2), round(cy - h / 2), round(cy + h / 2)
    assert mask[:, x0].any() and mask[:, x1 - 1].any() and mask[y0].any() and mask[y1 - 1].any()
    assert mask.sum() == mask[y0:y1, x0:x1].sum()
    assert 34 <= w <= 40 and 20 <= h <= 26  # 40 * cos 30 + 4 * sin 30 = 36.6, 40 * sin 30 + 4 * cos 30 = 23.5


def test_ultralytics_loads_the_dataset(dataset, monkeypatch):
    from ultralytics.data.utils import check_det_dataset

    monkeypatch.setenv("YOLO_OFFLINE", "1")
    data = check_det_dataset(str(dataset), autodownload=False)
    assert data["nc"] == len(CLASS_NAMES)
    assert data["names"] == dict(enumerate(CLASS_NAMES))
    assert Path(data["train"]) == dataset.parent / "images" / "train"
    assert Path(data["val"]).is_dir()


def test_existing_dataset_with_same_parameters_is_reused(tmp_path, monkeypatch):
    yaml_path = write_synthetic_dataset(tmp_path / "d", **SMALL)
    before = _hashes(yaml_path.parent)

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a dataset that was already there")

    monkeypatch.setattr(synth, "_generate_atomically", must_not_run)
    assert write_synthetic_dataset(tmp_path / "d", **SMALL) == yaml_path
    assert _hashes(yaml_path.parent) == before


def test_moved_dataset_gets_its_yaml_path_updated(tmp_path):
    old = write_synthetic_dataset(tmp_path / "old", **SMALL).parent
    os.rename(old, tmp_path / "new")
    yaml_path = write_synthetic_dataset(tmp_path / "new", **SMALL)
    assert f"path: {tmp_path / 'new'}" in yaml_path.read_text()


def test_other_parameters_need_overwrite(tmp_path):
    write_synthetic_dataset(tmp_path / "d", **SMALL)
    with pytest.raises(UserError, match="seed=3"):
        write_synthetic_dataset(tmp_path / "d", **{**SMALL, "seed": 5})
    write_synthetic_dataset(tmp_path / "d", **{**SMALL, "seed": 5}, overwrite=True)
    assert '"seed": 5' in (tmp_path / "d" / "synth.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_a_crash_leaves_no_half_dataset(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while drawing")

    monkeypatch.setattr(synth, "draw_image", crash)
    with pytest.raises(RuntimeError):
        write_synthetic_dataset(tmp_path / "d", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_empty_existing_directory_is_filled(tmp_path):
    (tmp_path / "d").mkdir()
    assert write_synthetic_dataset(tmp_path / "d", **SMALL).is_file()


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"n_train": 0}, "n_train"),
        ({"n_val": 0}, "n_val"),
        ({"imgsz": 31}, "imgsz"),
        ({"seed": -1}, "seed"),
        ({"n_train": 2.5}, "2.5"),
        ({"imgsz": True}, "True"),
    ],
)
def test_bad_arguments_raise_user_error_naming_the_value(tmp_path, kwargs, named):
    with pytest.raises(UserError, match=named) as error:
        write_synthetic_dataset(tmp_path / "d", **{**SMALL, **kwargs})
    assert "\n" not in str(error.value)
    assert not (tmp_path / "d").exists()


def test_foreign_non_empty_directory_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not empty"):
        write_synthetic_dataset(tmp_path / "d", **SMALL, overwrite=True)
    assert (tmp_path / "d" / "thesis.tex").read_text() == "precious"


def test_unwritable_or_file_destinations_are_refused(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        write_synthetic_dataset(blocker, **SMALL)
    with pytest.raises(UserError, match="file.txt"):
        write_synthetic_dataset(blocker / "below", **SMALL)  # its parent cannot be created


def test_cli_writes_the_dataset(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["data", "synth", str(out), "--train", "3", "--val", "2", "--imgsz", "64", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and str(out / "data.yaml") in lines[0] and "3 train" in lines[0]
    assert len(list((out / "images" / "val").iterdir())) == 2


def test_cli_bad_value_is_one_stderr_line_and_exit_2(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "cli"), "--train", "0"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "n_train" in err and "got 0" in err


def test_cli_usage_error_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "synth", str(tmp_path / "cli"), "--train", "many"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
