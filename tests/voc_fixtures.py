"""Tiny Pascal VOC trees written by the tests (never the shared BCCD copy): good ones and ones broken in one way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# image id -> (split, width, height, objects as (name, xmin, ymin, xmax, ymax, difficult))
GOOD = {
    "a": ("train", 64, 48, [("cat", 1, 1, 32, 24, 0), ("dog", 40, 10, 70, 40, 0)]),  # the dog runs off the right edge
    "b": ("train", 64, 48, [("cat", 5, 5, 5, 5, 0), ("dog", 10, 10, 20, 20, 1)]),  # a point box; a difficult dog
    "c": ("val", 64, 48, [("bird", 2, 3, 30, 40, 0)]),
    "d": ("test", 64, 48, [("cat", 10, 10, 50, 40, 0)]),
}


def _xml(width: int | None, height: int | None, objects) -> str:
    size = "" if width is None else f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
    boxes = "".join(
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for name, x0, y0, x1, y1, difficult in objects
    )
    return f"<annotation><filename>x.jpg</filename>{size}{boxes}</annotation>"


def write_voc(root: Path, images: dict = GOOD, sizeless: str | None = None, missing_image: str | None = None) -> Path:
    """A VOC folder under `root`; `sizeless` names an image whose XML lacks <size>, `missing_image` one with no JPEG."""
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {}
    for image_id, (split, width, height, objects) in images.items():
        splits.setdefault(split, []).append(image_id)
        size = (None, None) if image_id == sizeless else (width, height)
        (root / "Annotations" / f"{image_id}.xml").write_text(_xml(*size, objects))
        if image_id != missing_image:
            pixels = np.full((height, width, 3), 100 + len(image_id), np.uint8)
            Image.fromarray(pixels).save(root / "JPEGImages" / f"{image_id}.jpg")
    for split, ids in splits.items():
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def broken_vocs(folder: Path) -> dict[str, Path]:
    """One VOC tree per way of being wrong, and a folder that holds other data."""
    made = {
        "voc_sizeless": write_voc(folder / "voc_sizeless", sizeless="c"),
        "voc_no_image": write_voc(folder / "voc_no_image", missing_image="b"),
        "voc_good": write_voc(folder / "voc_good"),
        "not_voc": folder / "not_voc",
        "occupied": folder / "occupied",
    }
    made["not_voc"].mkdir()
    made["occupied"].mkdir()
    (made["occupied"] / "notes.txt").write_text("someone's data\n")
    return made
