"""A small, deterministic, generated detection dataset in YOLO format, for tests and the quickstart.

Five classes of flat-coloured shapes on cluttered backgrounds. Thin rotated bars are included on purpose:
oblique thin objects are where AKConv's sampled shapes should beat a square 3x3 kernel.

Determinism: every image draws from its own seed `SeedSequence(seed, spawn_key=(split, index))`, so the
same arguments give byte-identical files and adding images never changes the earlier ones.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import cv2
import numpy as np
import yaml

from shapenas.data.output_folder import existing_marker
from shapenas.errors import UserError
from shapenas.files import write_text_atomic

CLASS_NAMES = ("disk", "box", "triangle", "bar", "cross")
# OpenCV hue (0-179) per class: colour is a strong cue but not a perfect one (see OFF_HUE_PROBABILITY).
CLASS_HUES = (0, 36, 72, 108, 144)
# Longest side of each class as a fraction of the image side; bars are longer because they are thin.
SIZE_RANGES = ((0.14, 0.40), (0.14, 0.45), (0.16, 0.45), (0.28, 0.60), (0.18, 0.45))
OFF_HUE_PROBABILITY = 0.2  # so that shape, not only colour, has to be learnt
MAX_OVERLAP = 0.15  # share of a shape's pixels another shape may cover
MIN_VISIBLE = 0.6  # share of a shape that must lie inside the image
# Bump when the drawing changes, so that datasets cached by an older generator are not reused.
GENERATOR_VERSION = 1
SPLITS = ("train", "val")
_SUBPIXEL_BITS = 4  # cv2 polygon coordinates in 1/16 px, so small rotated shapes keep their geometry


def write_synthetic_dataset(
    out_dir: str | os.PathLike,
    n_train: int = 256,
    n_val: int = 64,
    imgsz: int = 160,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write (or reuse) the dataset in `out_dir` and return the path of its `data.yaml`.

    Layout: `images/{train,val}/*.png`, `labels/{train,val}/*.txt` (`cls cx cy w h`, normalised),
    `data.yaml` and `synth.json` (the parameters). A directory already holding the same parameters is reused
    without rewriting; different parameters raise `UserError` unless `overwrite`. The dataset is generated in a
    sibling directory and renamed into place, so a crash never leaves half a dataset.
    """
    params = _validated_params(n_train, n_val, imgsz, seed)
    out_dir = Path(out_dir).expanduser().absolute()
    existing = _existing_params(out_dir)
    if existing == params:
        _refresh_yaml(out_dir)
        return out_dir / "data.yaml"
    if existing is not None and not overwrite:
        raise UserError(
            f"{out_dir} holds a synthetic dataset with other parameters ({_describe(existing)}); "
            "pass overwrite=True (--overwrite) to replace it"
        )
    _generate_atomically(out_dir, params)
    return out_dir / "data.yaml"


# ---------------------------------------------------------------------------------------------- drawing


def draw_image(rng: np.random.Generator, imgsz: int) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """One BGR uint8 image `(imgsz, imgsz, 3)` and its labels `(cls, cx, cy, w, h)` normalised to [0, 1]."""
    image = _background(rng, imgsz)
    _draw_distractors(rng, image)
    owner = np.full((imgsz, imgsz), -1, dtype=np.int16)  # index of the shape on top of each pixel
    areas: list[int] = []
    labels = []
    for _ in range(int(rng.integers(1, 7))):
        cls = int(rng.integers(len(CLASS_NAMES)))
        mask = _place_shape(rng, cls, owner, areas)
        if mask is None:
            continue
        owner[mask] = len(areas)
        areas.append(int(mask.sum()))
        image[mask] = _shape_colour(rng, cls)
        labels.append((cls, *_tight_box(mask)))
    noise = rng.normal(0.0, rng.uniform(2.0, 8.0), image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), labels


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Float32 image: a gradient between two greyish colours plus low-frequency texture."""
    start, end = (_hsv_to_bgr(rng.integers(180), rng.integers(0, 80), rng.integers(40, 200)) for _ in range(2))
    angle = rng.uniform(0.0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ramp = xs * np.cos(angle) + ys * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = start * (1.0 - ramp[..., None]) + end * ramp[..., None]
    texture = rng.normal(0.0, 18.0, (6, 6, 3)).astype(np.float32)
    return (image + cv2.resize(texture, (size, size), interpolation=cv2.INTER_CUBIC)).astype(np.float32)


def _draw_distractors(rng: np.random.Generator, image: np.ndarray) -> None:
    """Small unlabelled blobs, smaller than any labelled shape, so that "any coloured thing" is not a shape."""
    size = image.shape[0]
    for _ in range(int(rng.integers(0, 5))):
        centre = (int(rng.integers(size)), int(rng.integers(size)))
        axes = tuple(max(1, int(rng.uniform(0.015, 0.04) * size)) for _ in range(2))
        colour = _hsv_to_bgr(rng.integers(180), rng.integers(0, 256), rng.integers(60, 256))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour.tolist(), -1, cv2.LINE_8)


def _shape_parts(rng: np.random.Generator, cls: int, length: float) -> list[np.ndarray]:
    """Convex polygons (float `(k, 2)` x, y), centred on the origin, whose union is one shape of class `cls`."""
    half = length / 2
    name = CLASS_NAMES[cls]
    if name == "disk":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return [np.stack([half * np.cos(t), half * rng.uniform(0.8, 1.0) * np.sin(t)], axis=1)]
    if name == "box":
        return [_rectangle(length, length * rng.uniform(0.45, 1.0))]
    if name == "triangle":
        corners = np.radians([-90.0, 30.0 + rng.uniform(-15, 15), 150.0 + rng.uniform(-15, 15)])
        return [np.stack([half * np.cos(corners), half * np.sin(corners)], axis=1)]
    if name == "bar":
        return [_rectangle(length, max(3.0, length * rng.uniform(0.07, 0.14)))]
    arm = length * rng.uniform(0.2, 0.3)  # cross
    return [_rectangle(length, arm), _rectangle(arm, length)]


def _rectangle(width: float, height: float) -> np.ndarray:
    return np.array([[-width, -height], [width, -height], [width, height], [-width, height]]) / 2


def _place_shape(rng: np.random.Generator, cls: int, owner: np.ndarray, areas: list[int]) -> np.ndarray | None:
    """Mask of a new shape that is mostly inside the image and hardly overlaps the others; None after 20 tries."""
    size = owner.shape[0]
    for _ in range(20):
        low, high = SIZE_RANGES[cls]
        parts = _shape_parts(rng, cls, rng.uniform(low, high) * size)
        angle = rng.uniform(0.0, 2 * np.pi)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = rng.uniform(0.0, size, 2)
        mask = _rasterise([part @ rotation.T + centre for part in parts], size)
        if mask is not None and _overlap_ok(mask, owner, areas):
            return mask
    return None


def _rasterise(parts: list[np.ndarray], size: int) -> np.ndarray | None:
    """Boolean mask of the shape clipped to the image, or None when too little of it is visible."""
    points = np.concatenate(parts)
    left, top = np.floor(points.min(axis=0)).astype(int) - 1
    right, bottom = np.ceil(points.max(axis=0)).astype(int) + 2
    # Drawn on a canvas around the shape alone, so that the share outside the image can be counted.
    canvas = np.zeros((bottom - top, right - left), dtype=np.uint8)
    for part in parts:
        corners = np.round((part - (left, top)) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
        cv2.fillConvexPoly(canvas, corners, 1, cv2.LINE_8, _SUBPIXEL_BITS)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, size), min(bottom, size)
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = canvas[y0 - top : y1 - top, x0 - left : x1 - left]
    total = int(canvas.sum())
    if total == 0 or mask.sum() < MIN_VISIBLE * total:
        return None
    return mask


def _overlap_ok(mask: np.ndarray, owner: np.ndarray, areas: list[int]) -> bool:
    covered = owner[mask]
    if (covered >= 0).mean() > MAX_OVERLAP:
        return False
    lost = np.bincount(covered[covered >= 0], minlength=len(areas))
    return all(lost[i] <= MAX_OVERLAP * area for i, area in enumerate(areas))


def _shape_colour(rng: np.random.Generator, cls: int) -> np.ndarray:
    hue = CLASS_HUES[cls] + int(rng.integers(-8, 9))
    if rng.random() < OFF_HUE_PROBABILITY:
        hue = int(rng.integers(180))
    return _hsv_to_bgr(hue % 180, rng.integers(170, 256), rng.integers(170, 256))


def _hsv_to_bgr(hue, saturation, value) -> np.ndarray:
    hsv = np.array([[[hue, saturation, value]]], dtype=np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _tight_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Normalised `cx cy w h` of the mask's pixels; a pixel at column x covers [x, x + 1)."""
    size = mask.shape[0]
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size


# ---------------------------------------------------------------------------------------------- writing


def _validated_params(n_train: int, n_val: int, imgsz: int, seed: int) -> dict:
    for name, value, low, high in (
        ("n_train", n_train, 1, 10**7),
        ("n_val", n_val, 1, 10**7),
        ("imgsz", imgsz, 32, 4096),
        ("seed", seed, 0, 2**63 - 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise UserError(f"{name} must be an integer, got {value!r}")
        if not low <= value <= high:
            raise UserError(f"{name} must be between {low} and {high}, got {value}")
    return {
        "generator": "shapenas.data.synth",
        "version": GENERATOR_VERSION,
        "n_train": int(n_train),
        "n_val": int(n_val),
        "imgsz": int(imgsz),
        "seed": int(seed),
        "names": list(CLASS_NAMES),
    }


def _describe(params: dict) -> str:
    keys = ("n_train", "n_val", "imgsz", "seed", "version")
    return ", ".join(f"{key}={params.get(key)}" for key in keys)


def _existing_params(out_dir: Path) -> dict | None:
    """The parameters of the dataset already in `out_dir`; None when it is absent or an empty directory."""
    return existing_marker(out_dir, "synth.json", "synthetic dataset")


def _generate_atomically(out_dir: Path, params: dict) -> None:
    partial = out_dir.with_name(f".{out_dir.name}.partial-{uuid.uuid4().hex[:12]}")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        partial.mkdir()  # plain mkdir, unlike mkdtemp, keeps the user's umask for the final directory
    except OSError as error:
        raise UserError(f"cannot create the dataset directory {out_dir}: {error.strerror or error}") from None
    try:
        for split_index, split in enumerate(SPLITS):
            _write_split(partial, split_index, split, params)
        (partial / "data.yaml").write_text(_yaml_text(out_dir))
        # Written last: its presence marks a complete dataset.
        (partial / "synth.json").write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
        _install(partial, out_dir, params)
    except OSError as error:
        raise UserError(f"writing the dataset to {out_dir} failed: {error}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _write_split(root: Path, split_index: int, split: str, params: dict) -> None:
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for index in range(params[f"n_{split}"]):
        rng = np.random.default_rng(np.random.SeedSequence(params["seed"], spawn_key=(split_index, index)))
        image, boxes = draw_image(rng, params["imgsz"])
        stem = f"{split}_{index:06d}"
        if not cv2.imwrite(str(images / f"{stem}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
            raise OSError(f"cv2 could not write {images / stem}.png")
        lines = "".join(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for cls, cx, cy, w, h in boxes)
        (labels / f"{stem}.txt").write_text(lines)


def _install(partial: Path, out_dir: Path, params: dict) -> None:
    """Move the finished dataset into place, replacing an empty directory or (with overwrite) an older dataset."""
    if not out_dir.exists():
        os.rename(partial, out_dir)
        return
    if _existing_params(out_dir) == params:
        return  # a concurrent writer finished the same dataset first
    old = partial.with_name(partial.name + "-old")
    os.rename(out_dir, old)
    os.rename(partial, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _yaml_text(out_dir: Path) -> str:
    content = {
        "path": str(out_dir),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(CLASS_NAMES)),
    }
    header = "# Synthetic shapes written by `shapenas data synth`; parameters in synth.json.\n"
    return header + yaml.safe_dump(content, sort_keys=False)


def _refresh_yaml(out_dir: Path) -> None:
    """Point `data.yaml` at the directory again if the dataset was moved; otherwise touch nothing."""
    target = out_dir / "data.yaml"
    text = _yaml_text(out_dir)
    try:
        if target.is_file() and target.read_text() == text:
            return
        write_text_atomic(target, text, "data.yaml")
    except OSError as error:
        raise UserError(f"cannot update {target}: {error}") from None
