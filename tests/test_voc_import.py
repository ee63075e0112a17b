"""`shapenas data voc`: a Pascal VOC folder becomes the Ultralytics layout with the same splits (tiny trees the test
writes; the bad-input cases are rows of tests/test_bad_input.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from shapenas.cli import main
from shapenas.data.voc import import_voc
from shapenas.errors import UserError
from tests.voc_fixtures import write_voc


def _labels(out, split, stem):
    return [
        [float(v) for v in line.split()] for line in (out / "labels" / split / f"{stem}.txt").read_text().splitlines()
    ]


def test_import_keeps_splits_clips_boxes_and_counts_what_it_drops(tmp_path):
    out = tmp_path / "out"
    report = import_voc(write_voc(tmp_path / "voc"), out)
    assert report.classes == ["bird", "cat", "dog"]  # sorted names
    assert report.images == {"train": 2, "val": 1, "test": 1} and report.boxes == {"train": 2, "val": 1, "test": 1}
    assert (report.degenerate_dropped, report.difficult_skipped) == (1, 1)
    # VOC corners are 1-based: cat (1,1)-(32,24) spans [0,31]x[0,23]; the dog (40,10)-(70,40) is clipped at x = 64.
    cat, dog = _labels(out, "train", "a")
    assert cat == pytest.approx([1, 15.5 / 64, 11.5 / 48, 31 / 64, 23 / 48], abs=1e-6)
    assert dog == pytest.approx([2, 51.5 / 64, 24 / 48, 25 / 64, 30 / 48], abs=1e-6)
    assert _labels(out, "train", "b") == []
    assert sorted(p.name for p in (out / "images" / "val").iterdir()) == ["c.jpg"]
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data == {
        "path": str(out),
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "names": {0: "bird", 1: "cat", 2: "dog"},
    }


def test_classes_option_sets_the_order_and_difficult_can_be_kept(tmp_path):
    out = tmp_path / "out"
    report = import_voc(write_voc(tmp_path / "voc"), out, classes=["dog", "cat", "bird", "fish"], keep_difficult=True)
    assert report.classes == ["dog", "cat", "bird", "fish"] and report.difficult_skipped == 0
    assert [row[0] for row in _labels(out, "train", "b")] == [0]  # the difficult dog, now class 0
    assert _labels(out, "val", "c")[0][0] == 2


def test_the_same_import_is_reused_and_another_is_refused(tmp_path):
    voc, out = write_voc(tmp_path / "voc"), tmp_path / "out"
    first = import_voc(voc, out)
    stamp = (out / "voc.json").stat().st_mtime_ns
    assert import_voc(voc, out) == first and (out / "voc.json").stat().st_mtime_ns == stamp
    with pytest.raises(UserError, match="holds an import of other data or options"):
        import_voc(voc, out, keep_difficult=True)


def test_cli_prints_what_it_wrote_and_the_result_trains_as_ultralytics_reads_it(tmp_path, capsys):
    from shapenas.data.check import check_dataset

    out = tmp_path / "out"
    assert main(["data", "voc", str(write_voc(tmp_path / "voc")), str(out), "--classes", "bird,cat,dog"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{out}/data.yaml: train 2 images / 2 boxes") and "1 degenerate boxes dropped" in line
    assert json.loads((out / "voc.json").read_text())["params"]["classes"] == ["bird", "cat", "dog"]
    check_dataset(str(out / "data.yaml"))  # Ultralytics' own dataset check, then every image opened
