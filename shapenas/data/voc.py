"""Import a Pascal VOC detection folder into the Ultralytics layout, keeping its published splits.

VOC corners are 1-based pixel coordinates: a box spans `[xmin - 1, xmax - 1]` in 0-based ones, width `xmax - xmin`
(as Ultralytics' own VOC converter reads them). Each box is clipped to the image; one with no width or height left
(a point annotated as a box, say) is dropped and counted. Objects marked `difficult` are left out unless asked for,
as the VOC metric ignores them.

XML is parsed with the standard library (expat), which expands no external entities: reading a file runs no code.
The result is written into a sibling folder and renamed into place, so a bad file found halfway leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from shapenas.data.output_folder import existing_marker
from shapenas.errors import UserError

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
MARKER = "voc.json"  # written last: its presence marks a complete import, and what it was made from


@dataclass(frozen=True)
class VocBox:
    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool


@dataclass
class VocReport:
    """What an import wrote: images and boxes per split, and what it left out."""

    classes: list[str]
    images: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, int] = field(default_factory=dict)
    degenerate_dropped: int = 0
    difficult_skipped: int = 0

    def summary(self) -> str:
        splits = ", ".join(f"{split} {self.images[split]} images / {self.boxes[split]} boxes" for split in self.images)
        skipped = f"{self.degenerate_dropped} degenerate boxes dropped, {self.difficult_skipped} difficult skipped"
        return f"{splits}; classes {', '.join(self.classes)}; {skipped}"


def read_annotation(xml_path: Path) -> tuple[int, int, list[VocBox]]:
    """Image width, height and boxes of one VOC XML file; `UserError` naming the file when it is unusable."""
    try:
        root = ElementTree.parse(xml_path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise UserError(f"VOC annotation {xml_path}: cannot be read ({error})") from None
    try:
        width, height = (int(float(root.findtext(f"size/{key}", ""))) for key in ("width", "height"))
    except ValueError:
        raise UserError(f"VOC annotation {xml_path}: no <size> with a width and height") from None
    if width <= 0 or height <= 0:
        raise UserError(f"VOC annotation {xml_path}: size {width}x{height} is not positive")
    return width, height, [_box(xml_path, element) for element in root.iter("object")]


def _box(xml_path: Path, element: ElementTree.Element) -> VocBox:
    name = (element.findtext("name") or "").strip()
    try:
        xmin, ymin, xmax, ymax = (
            float(element.findtext(f"bndbox/{key}", "")) for key in ("xmin", "ymin", "xmax", "ymax")
        )
    except ValueError:
        raise UserError(f"VOC annotation {xml_path}: object {name!r} has no complete <bndbox>") from None
    difficult = (element.findtext("difficult") or "0").strip() == "1"
    return VocBox(name, xmin, ymin, xmax, ymax, difficult)


def yolo_line(box: VocBox, class_index: int, width: int, height: int) -> str | None:
    """`cls cx cy w h` normalised, for a box clipped to the image; None when clipping leaves no area."""
    left, right = (min(max(value - 1, 0.0), width) for value in (box.xmin, box.xmax))
    top, bottom = (min(max(value - 1, 0.0), height) for value in (box.ymin, box.ymax))
    if right - left <= 0 or bottom - top <= 0:
        return None
    cx, cy = (left + right) / 2 / width, (top + bottom) / 2 / height
    return f"{class_index} {cx:.6f} {cy:.6f} {(right - left) / width:.6f} {(bottom - top) / height:.6f}\n"


def _split_ids(src: Path) -> dict[str, list[str]]:
    main = src / "ImageSets" / "Main"
    for folder in (src / "Annotations", src / "JPEGImages", main):
        if not folder.is_dir():
            raise UserError(f"{src}: not a Pascal VOC folder (no {folder.relative_to(src)}/)")
    splits = {}
    for split in SPLITS:
        list_file = main / f"{split}.txt"
        if list_file.is_file():
            splits[split] = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    for needed in ("train", "val"):
        if not splits.get(needed):
            raise UserError(f"{src}: ImageSets/Main/{needed}.txt is missing or empty")
    return splits


def _image_path(src: Path, image_id: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        path = src / "JPEGImages" / f"{image_id}{suffix}"
        if path.is_file():
            return path
    raise UserError(f"{src}: image {image_id!r} is listed in ImageSets/Main but missing from JPEGImages/")


def _class_order(annotations: dict, classes: list[str] | None, keep_difficult: bool) -> list[str]:
    """`classes` as given (every used name must be among them), else the used names sorted."""
    used = {box.name for _, _, boxes in annotations.values() for box in boxes if keep_difficult or not box.difficult}
    if classes is None:
        return sorted(used)
    if len(set(classes)) != len(classes) or not all(classes):
        raise UserError(f"--classes {','.join(classes)!r}: names must be distinct and non-empty")
    outside = sorted(used - set(classes))
    if outside:
        raise UserError(f"--classes {','.join(classes)!r}: the annotations also name {', '.join(map(repr, outside))}")
    return list(classes)


def import_voc(
    src: str | os.PathLike, out: str | os.PathLike, classes: list[str] | None = None, keep_difficult: bool = False
) -> VocReport:
    """Write `out/images/{split}`, `out/labels/{split}`, `out/data.yaml` from a VOC folder; return what was written.

    An `out` that already holds this very import is reused; one holding anything else is refused.
    """
    src, out = Path(src).expanduser().absolute(), Path(out).expanduser().absolute()
    splits = _split_ids(src)
    params = {"source": str(src), "classes": classes, "keep_difficult": keep_difficult}
    existing = existing_marker(out, MARKER, "VOC import")
    if existing is not None and existing["params"] == params:
        return VocReport(**existing["report"])
    if existing is not None:
        raise UserError(f"{out}: holds an import of other data or options; choose an empty or new folder")
    annotations = {
        image_id: read_annotation(src / "Annotations" / f"{image_id}.xml")
        for ids in splits.values()
        for image_id in ids
    }
    report = VocReport(_class_order(annotations, classes, keep_difficult))

    def write(partial: Path) -> None:
        _write_splits(partial, src, splits, annotations, report, keep_difficult)
        _write_yaml(partial / "data.yaml", out, list(splits), report.classes)
        # Written last: its presence marks a complete import.
        (partial / MARKER).write_text(json.dumps({"params": params, "report": asdict(report)}, indent=2) + "\n")

    _write_atomically(out, write)
    return report


def _write_splits(root: Path, src: Path, splits: dict, annotations: dict, report: VocReport, keep_difficult: bool):
    index = {name: number for number, name in enumerate(report.classes)}
    for split, ids in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        report.images[split], report.boxes[split] = len(ids), 0
        for image_id in ids:
            image = _image_path(src, image_id)
            shutil.copyfile(image, root / "images" / split / image.name)
            lines = _label_lines(annotations[image_id], index, report, keep_difficult)
            (root / "labels" / split / f"{image.stem}.txt").write_text("".join(lines))
            report.boxes[split] += len(lines)


def _label_lines(annotation: tuple, index: dict[str, int], report: VocReport, keep_difficult: bool) -> list[str]:
    """One image's YOLO label lines; the boxes left out are counted in `report`."""
    width, height, boxes = annotation
    lines = []
    for box in boxes:
        if box.difficult and not keep_difficult:
            report.difficult_skipped += 1
            continue
        line = yolo_line(box, index[box.name], width, height)
        if line is None:
            report.degenerate_dropped += 1
        else:
            lines.append(line)
    return lines


def _write_yaml(path: Path, out: Path, splits: list[str], classes: list[str]) -> None:
    content = {"path": str(out), **{split: f"images/{split}" for split in splits}, "names": dict(enumerate(classes))}
    header = f"# Imported by `shapenas data voc`; source and counts in {MARKER}.\n"
    path.write_text(header + yaml.safe_dump(content, sort_keys=False))


def _write_atomically(out: Path, write) -> None:
    partial = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:12]}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.mkdir()
        write(partial)
        if out.exists():
            out.rmdir()  # empty, as existing_marker checked
        os.rename(partial, out)
    except OSError as error:
        raise UserError(f"{out}: writing the dataset failed ({error})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
