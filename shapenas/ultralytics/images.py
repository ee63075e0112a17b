"""A few real images of a dataset, as the model sees them: for probing layers on real activations."""

from __future__ import annotations

import numpy as np
import torch


def probe_batch(data_yaml: str, imgsz: int, count: int = 4) -> torch.Tensor:
    """The first `count` validation images (sorted by path), letterboxed to `imgsz` like Ultralytics' validation,
    as a float batch `(count, 3, imgsz, imgsz)` in [0, 1]."""
    import cv2
    from ultralytics.data.augment import LetterBox

    from shapenas.ultralytics.data import image_files, load_dataset_yaml

    info = load_dataset_yaml(data_yaml)  # the search checked the dataset before any trial
    files = sorted(image_files("val", info["val"]))[:count]
    letterbox = LetterBox((imgsz, imgsz), auto=False)
    images = [letterbox(image=cv2.imread(str(path)))[:, :, ::-1] for path in files]  # BGR -> RGB
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(images))).permute(0, 3, 1, 2)
    return batch.float() / 255.0
