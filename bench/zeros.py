"""Why the scratch quickstart proxy scores mAP50-95 exactly 0 after epochs 1 and 2: the proxy, instrumented.

The baseline trains with the quickstart's proxy settings from scratch (3 epochs, SGD lr0 0.02, no warm-up), once with
Ultralytics' nominal batch `nbs` 64 (gradients accumulated over 4 batches of 16) and once with `nbs` 16. After each
epoch it records the optimizer steps so far (every step updates the EMA once), the EMA's decay, the learning rate,
the highest class score the validated (EMA) model gives any anchor of the validation images, how many anchors score
above the validation threshold (conf 0.001), and the validator's precision, recall and mAP50-95.

    python bench/zeros.py [--config configs/quickstart.yaml]
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch
from common import bench_parser, candidate_yaml, quiet

SCRATCH = {"optimizer": "SGD", "lr0": 0.02, "warmup_epochs": 0}


class EpochProbe:
    """`on_fit_epoch_end`: what decides whether any box can count after this epoch."""

    def __init__(self):
        self.rows: list[dict] = []

    @torch.no_grad()
    def on_fit_epoch_end(self, trainer) -> None:
        if len(self.rows) >= trainer.epochs:  # the extra call after the final validation of best.pt
            return
        model = trainer.ema.ema.eval()
        scores = torch.cat(
            [model(batch["img"].float() / 255)[0][:, 4:].amax(1).flatten() for batch in trainer.validator.dataloader]
        )
        metrics = trainer.metrics or {}
        self.rows.append(
            {
                "epoch": len(self.rows) + 1,
                "optimizer steps": trainer.ema.updates,
                "EMA decay": round(trainer.ema.decay(trainer.ema.updates), 4),
                "lr": round(trainer.optimizer.param_groups[0]["lr"], 4),
                "max class score": round(scores.max().item(), 4),
                "anchors > conf 0.001": int((scores > 0.001).sum()),
                "P": round(float(metrics.get("metrics/precision(B)", math.nan)), 3),
                "R": round(float(metrics.get("metrics/recall(B)", math.nan)), 3),
                "mAP50-95": round(float(metrics.get("metrics/mAP50-95(B)", math.nan)), 4),
            }
        )


def instrumented_run(config, nbs: int, folder: Path) -> list[dict]:
    import yaml

    from shapenas.config import require_data
    from shapenas.spaces import Candidate
    from shapenas.ultralytics.build import yolo_model

    path = folder / "yolov8n.yaml"
    path.write_text(yaml.safe_dump(candidate_yaml(config, Candidate()), sort_keys=False))  # the baseline
    model = yolo_model(path)
    probe = EpochProbe()
    model.add_callback("on_fit_epoch_end", probe.on_fit_epoch_end)
    proxy = config.proxy
    model.train(
        data=require_data(config),
        epochs=3,
        imgsz=proxy.imgsz,
        batch=proxy.batch,
        seed=proxy.seed,
        deterministic=True,
        workers=0,
        device="cpu",
        project=str(folder),
        name=f"nbs{nbs}",
        plots=False,
        verbose=False,
        nbs=nbs,
        **SCRATCH,
    )
    return probe.rows


def main() -> None:
    args = bench_parser(__doc__).parse_args()
    quiet()
    from shapenas.config import load_config

    config = load_config(args.config, args.set)
    with tempfile.TemporaryDirectory() as folder:
        for nbs in (64, 16):
            rows = instrumented_run(config, nbs, Path(folder))
            print(f"\nnbs {nbs} (batch {config.proxy.batch})\n| " + " | ".join(rows[0]) + " |")
            print("|" + "---:|" * len(rows[0]))
            for row in rows:
                print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
