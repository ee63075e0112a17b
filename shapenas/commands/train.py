"""`shapenas train MODEL [--weights CKPT.pt] [KEY=VALUE ...]`: train a found model at full scale with Ultralytics.

MODEL is a model YAML (from `shapenas export`), or `--study S --trial N` names a stored trial (its data is the
default `data=`). Every `key=value` is an Ultralytics train argument, read and checked as the `yolo` command reads
it. Our modules build, ODConv's temperature anneals over the first 10% of the batches, and `--weights` starts the
model from a trained checkpoint of its base through `shapenas.inherit_weights`, with a table of how each layer
started. The output is Ultralytics' usual run folder; its weights reload in a new process after `import shapenas`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shapenas.commands.base import Command
from shapenas.commands.common import add_study_arguments, open_existing_study, run_dir
from shapenas.errors import UserError

SET_BY_COMMAND = {"model": "give the model as MODEL or --study/--trial", "mode": "this command trains", "task": ""}
PROBE_STRIDE = 32  # probe images are letterboxed to a multiple of the largest stride
DEPLOY_IMGSZ = 640  # GFLOPs at the size `export` and the search report them


def _split_words(words: list[str]) -> tuple[str | None, list[str]]:
    """MODEL (the one word without '=') and the key=value words."""
    models = [word for word in words if "=" not in word]
    if len(models) > 1:
        raise UserError(f"expected one MODEL and key=value arguments, got {' '.join(models)!r}")
    return (models[0] if models else None), [word for word in words if "=" in word]


def _train_args(pairs: list[str]) -> dict:
    from shapenas.ultralytics.cfg import parse_train_args

    try:
        args = parse_train_args(pairs)
    except ValueError as error:
        raise UserError(str(error)) from None
    for key, why in SET_BY_COMMAND.items():
        if key in args:
            raise UserError(f"{key}={args[key]}: set by shapenas train{': ' + why if why else ''}")
    device = args.get("device")
    if isinstance(device, (list, tuple)) or "," in str(device):  # `yolo` reads device=0,1 as the tuple (0, 1)
        spelled = ",".join(map(str, device)) if isinstance(device, (list, tuple)) else device
        raise UserError(
            f"device={spelled}: several GPUs train in an Ultralytics subprocess (DDP) that cannot build "
            f"shapenas modules; give one device"
        )
    if device is not None:  # a GPU this machine lacks: one line here, not a traceback from the trainer
        from shapenas.devices import check_device

        check_device(str(device).lower(), key="device")
    return args


def _model_from_file(path: str) -> Path:
    from shapenas.search.results import read_model_yaml

    file = Path(path)
    if not file.is_file():
        raise UserError(f"MODEL {path!r}: no such file")
    if file.suffix not in (".yaml", ".yml"):
        raise UserError(f"MODEL {path!r}: expected a model YAML (a checkpoint goes to --weights)")
    read_model_yaml(file.read_text(), f"MODEL {path!r}")
    return file


def _model_from_trial(args: argparse.Namespace) -> tuple[Path, str, str]:
    """Where the stored trial's model YAML goes (named so that Ultralytics reads its scale), its text, and its data."""
    from shapenas.config import require_data
    from shapenas.search.results import model_yaml_of, record
    from shapenas.spaces.yaml_text import model_yaml_text
    from shapenas.ultralytics.build import model_file_stem

    study, config = open_existing_study(args)
    trial = next((t for t in record.trained(study) if t.number == args.trial), None)
    if trial is None:
        raise UserError(f"--trial {args.trial}: {record.why_untrained(study, args.trial)}")
    text = model_yaml_text(model_yaml_of(trial), f"shapenas study {study.study_name!r} trial {trial.number}")
    folder = run_dir(study.study_name) / "train" / f"trial_{trial.number:04d}"
    return folder / f"{model_file_stem(config.base, config.scale)}.yaml", text, require_data(config)


def _load_weights(path: str | None):
    if path is None:
        return None
    from shapenas.ultralytics.checkpoint import load_detection_model

    try:
        return load_detection_model(path)
    except ValueError as error:
        raise UserError(f"--weights {path!r}: {error}") from None


def layer_table(records) -> str:
    """How each layer started: index, module, how, relative error (approximate ones), and why (fresh ones)."""
    lines = [f"{'layer':>5}  {'module':<14}  {'how':<11}  {'error':>8}  note"]
    for r in records:
        error = f"{r.error:.2e}" if r.error is not None else "-"
        lines.append(f"{r.index:>5}  {r.module:<14}  {r.how:<11}  {error:>8}  {r.note}".rstrip())
    counts = {}
    for r in records:
        counts[r.how] = counts.get(r.how, 0) + 1
    return "\n".join(lines + [", ".join(f"{n} {how}" for how, n in counts.items())])


class TrainCommand(Command):
    name = "train"
    takes_words = True  # key=value words may follow the options (see shapenas.cli.parse_arguments)
    help = "train a model YAML or a stored trial at full scale (Ultralytics key=value arguments, as `yolo train`)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "words",
            nargs="*",
            metavar="MODEL|KEY=VALUE",
            help="the model YAML, then Ultralytics train arguments: data=DATA.yaml epochs=300 imgsz=640 batch=16 ...",
        )
        parser.add_argument("--trial", type=int, metavar="N", help="train trial N of the study instead of a YAML")
        parser.add_argument(
            "--weights",
            metavar="CKPT.pt",
            help="start from a trained checkpoint of the base (e.g. yolov8n.pt): unchanged layers copied, swapped "
            "modules initialised from the layers they replace; a table shows how each layer started",
        )
        add_study_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.data.check import check_dataset

        model_file, pairs = _split_words(args.words)
        train_args = _train_args(pairs)
        if (model_file is None) == (args.trial is None):
            raise UserError("give one model: MODEL (a model YAML) or --trial N (with --study)")
        if model_file is not None:
            path, text, data = _model_from_file(model_file), None, None
            label = model_file
        else:
            path, text, data = _model_from_trial(args)
            label = f"trial {args.trial} of study {path.parents[2].name!r}"  # run_dir(study)/train/trial_N/x.yaml
        train_args.setdefault("data", data)
        if train_args["data"] is None:
            raise UserError("data=: missing; give the dataset YAML to train on (data=path/to/data.yaml)")
        parent = _load_weights(args.weights)
        check_dataset(str(train_args["data"]))
        if text is not None:  # every check passed: only now is anything written
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return _train(path, parent, train_args, label)


def _train(path: Path, parent, train_args: dict, label: str) -> int:
    """Train the model YAML at `path` (described as `label`), from `parent` when given."""
    from shapenas.modules import ODConv
    from shapenas.ultralytics import trainer as trainers
    from shapenas.ultralytics.build import yolo_model
    from shapenas.ultralytics.callbacks import add_temperature_schedule
    from shapenas.ultralytics.inherit import detection_model
    from shapenas.ultralytics.logs import show_ultralytics_output
    from shapenas.ultralytics.train_output import quiet_trainer, without_stock_summaries

    model = yolo_model(path)
    if parent is not None:
        from shapenas.ultralytics.images import probe_batch
        from shapenas.ultralytics.inherit import check_starts_from, train_from_parent

        imgsz = train_args.get("imgsz", 640)
        size = -(-(imgsz if isinstance(imgsz, int) else 640) // PROBE_STRIDE) * PROBE_STRIDE
        records = train_from_parent(model, parent, probe_batch(str(train_args["data"]), size))
        print(layer_table(records), flush=True)
        check_starts_from(model)
    add_temperature_schedule(model)
    if any(isinstance(layer, ODConv) for layer in detection_model(model).modules()):
        print("ODConv temperature: 30 -> 1 over the first 10% of the training batches", flush=True)
    print(describe(model, label), flush=True)
    show_ultralytics_output(True)  # a full training reports its epochs, as `yolo train` does
    with without_stock_summaries():  # they contradict the description above (see train_output)
        model.train(**train_args, trainer=quiet_trainer())
    best = trainers.best_weights(trainers.last_trainer(model))
    print(f"trained {label}: weights {best} (reload after `import shapenas`)")
    return 0


def describe(yolo, label: str) -> str:
    """Each layer as built (our modules by name, their real parameter counts), then params and GFLOPs@640."""
    from shapenas.cost import yaml_cost
    from shapenas.ultralytics.inherit import detection_model

    model = detection_model(yolo)
    rows = model.yaml["backbone"] + model.yaml["head"]  # the YAML's own arguments (unscaled channels)
    lines = [f"{'layer':>5}  {'from':>12}  {'params':>10}  {'module':<16}  YAML arguments"]
    for layer, row in zip(model.model, rows, strict=True):
        params, name = sum(p.numel() for p in layer.parameters()), type(layer).__name__
        lines.append(f"{layer.i:>5}  {str(layer.f):>12}  {params:>10,}  {name:<16}  {row[3]}")
    cost = yaml_cost(model.yaml, DEPLOY_IMGSZ)
    summary = f"{label}: {len(model.model)} layers, {cost.params:,} parameters, {cost.gflops:.3f} GFLOPs@{DEPLOY_IMGSZ}"
    return "\n".join([*lines, summary + " (shapenas' count, as export reports it)"])
