"""`shapenas data synth OUT_DIR`: write the generated shapes dataset (YOLO format) for tests and the quickstart.
`shapenas data voc SRC OUT`: import a Pascal VOC folder into the Ultralytics layout, keeping its splits."""

from __future__ import annotations

import argparse

from shapenas.commands.base import Command


class DataCommand(Command):
    name = "data"
    help = "make datasets: `synth` writes a small generated detection dataset, `voc` imports a Pascal VOC folder"

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
        self._add_voc(actions)

    def _add_voc(self, actions) -> None:
        voc = actions.add_parser(
            "voc",
            help="import a Pascal VOC folder (Annotations/, JPEGImages/, ImageSets/Main/) into the Ultralytics layout",
            description="Import a Pascal VOC folder into the Ultralytics layout with the same train/val/test splits "
            "and a data.yaml. Boxes are clipped to the image; boxes left with no area are dropped and counted.",
        )
        voc.add_argument("src", metavar="SRC", help="the VOC folder (holds Annotations/, JPEGImages/, ImageSets/Main/)")
        voc.add_argument("out", metavar="OUT", help="folder to write (created; must be new, empty, or this import)")
        voc.add_argument("--classes", metavar="A,B,C", help="class order (default: the names found, sorted)")
        voc.add_argument("--keep-difficult", action="store_true", help="keep objects marked difficult (default: skip)")

    def run(self, args: argparse.Namespace) -> int:
        return self._voc(args) if args.action == "voc" else self._synth(args)

    def _voc(self, args: argparse.Namespace) -> int:
        from shapenas.data.voc import import_voc

        classes = [name.strip() for name in args.classes.split(",")] if args.classes is not None else None
        report = import_voc(args.src, args.out, classes, args.keep_difficult)
        print(f"{args.out}/data.yaml: {report.summary()}")
        return 0

    def _synth(self, args: argparse.Namespace) -> int:
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
