"""`shapenas data synth OUT_DIR`: write the generated shapes dataset (YOLO format) for tests and the quickstart."""

from __future__ import annotations

import argparse

from shapenas.commands.base import Command


class DataCommand(Command):
    name = "data"
    help = "make datasets: `synth` writes a small generated detection dataset in YOLO format"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        synth = actions.add_parser(
            "synth",
            help="write a deterministic synthetic shapes dataset (5 classes) and its data.yaml",
            description="Write a deterministic synthetic shapes dataset (5 classes) and its data.yaml. "
            "An existing dataset with the same parameters is reused.",
        )
        synth.add_argument("out_dir", metavar="OUT_DIR", help="directory to write (created; must be empty or ours)")
        synth.add_argument("--train", type=int, default=256, metavar="N", help="training images (default 256)")
        synth.add_argument("--val", type=int, default=64, metavar="N", help="validation images (default 64)")
        synth.add_argument("--imgsz", type=int, default=160, metavar="PX", help="image side in pixels (default 160)")
        synth.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
        synth.add_argument("--overwrite", action="store_true", help="replace a dataset written with other parameters")

    def run(self, args: argparse.Namespace) -> int:
        # Imported here so that `shapenas --help` does not pay for numpy and cv2.
        from shapenas.data.synth import CLASS_NAMES, write_synthetic_dataset

        yaml_path = write_synthetic_dataset(
            args.out_dir,
            n_train=args.train,
            n_val=args.val,
            imgsz=args.imgsz,
            seed=args.seed,
            overwrite=args.overwrite,
        )
        print(f"{yaml_path}: {args.train} train + {args.val} val images, {args.imgsz}px, {len(CLASS_NAMES)} classes")
        return 0
