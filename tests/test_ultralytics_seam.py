"""Every Ultralytics name and attribute shapenas relies on, pinned in one place (shapenas/ultralytics/).

An Ultralytics upgrade that renames, moves or changes one of them fails here first, with the name in the message,
rather than deep inside a search. PINNED must equal what the package imports (a new import needs a pin), nothing
outside the package imports Ultralytics, and one real short training pins the trainer attributes and metric keys the
package reads, while checking ODConv's temperature schedule, resume included.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
from pathlib import Path
from types import SimpleNamespace

import PIL.Image
import pytest
import torch
import ultralytics
from ultralytics.nn import tasks

import shapenas
from shapenas.config_checks import MANAGED_TRAIN_ARGS
from shapenas.modules import MODULES, ODConv, temperature_at
from shapenas.ultralytics import cfg, data, introspect, lazy_install, metrics, row_names
from shapenas.ultralytics import trainer as trainers
from shapenas.ultralytics.build import build_model, load_model_yaml, model_file_stem
from shapenas.ultralytics.callbacks import EVENTS, TemperatureSchedule, add_temperature_schedule

PACKAGE = Path(shapenas.__file__).parent
SEAM = PACKAGE / "ultralytics"
DATA = Path(__file__).parent / "data"

PINNED = {  # (module, name) for every `from <module> import <name>` of Ultralytics in shapenas/ultralytics/
    ("ultralytics", "YOLO"),
    ("ultralytics.cfg", "DEFAULT_CFG_DICT"),
    ("ultralytics.cfg", "check_cfg"),
    ("ultralytics.cfg", "parse_key_value_pair"),
    ("ultralytics.data.augment", "LetterBox"),
    ("ultralytics.data.utils", "IMG_FORMATS"),
    ("ultralytics.data.utils", "check_det_dataset"),
    ("ultralytics.engine.exporter", "Exporter"),
    ("ultralytics.models.yolo.detect", "DetectionTrainer"),
    ("ultralytics.nn", "tasks"),
    ("ultralytics.nn.modules", "Detect"),
    ("ultralytics.nn.tasks", "DetectionModel"),
    ("ultralytics.nn.tasks", "guess_model_scale"),
    ("ultralytics.nn.tasks", "guess_model_task"),
    ("ultralytics.nn.tasks", "torch_safe_load"),
    ("ultralytics.nn.tasks", "yaml_model_load"),
    ("ultralytics.utils", "LOGGER"),
    ("ultralytics.utils", "patches"),
    ("ultralytics.utils.checks", "check_yaml"),
}
# What shapenas/ultralytics/trainer.py reads from a trainer, and the callback events the package registers.
TRAINER_ATTRIBUTES = ("epoch", "start_epoch", "epochs", "train_loader", "loss", "metrics", "best", "model", "ema")
EVENTS_USED = {*EVENTS, "on_train_batch_end", "on_fit_epoch_end"}


def _ultralytics_imports(path: Path) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ultralytics":
            found |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "ultralytics"}
    return found


def test_pinned_names_are_exactly_what_the_seam_imports():
    imported = set().union(*(_ultralytics_imports(path) for path in SEAM.glob("*.py")))
    assert imported == PINNED


@pytest.mark.parametrize("module, name", sorted(PINNED))
def test_pinned_name_exists(module, name):
    assert hasattr(importlib.import_module(module), name), f"{module}.{name} is gone"


def test_nothing_outside_the_seam_imports_ultralytics():
    outside = {
        str(path.relative_to(PACKAGE)): imports
        for path in PACKAGE.rglob("*.py")
        if SEAM not in path.parents and (imports := _ultralytics_imports(path))
    }
    assert outside == {}


def test_parse_model_signature_and_stand_in_conv():
    from ultralytics.nn.modules import Conv

    assert hasattr(tasks.parse_model, "shapenas_original"), "import shapenas did not install the bridge"
    assert list(inspect.signature(tasks.parse_model.shapenas_original).parameters) == ["d", "ch", "verbose"]
    assert isinstance(Conv(8, 16, 3, 2).conv, torch.nn.Conv2d), "Conv stand-ins must expose .conv"


def test_fuse_wrapper_and_what_it_wraps():
    """The seam wraps BaseModel.fuse (export, predict and val all call it) and forwards its arguments."""
    assert hasattr(tasks.BaseModel.fuse, "shapenas_original"), "import shapenas did not install the fuse wrapper"
    assert list(inspect.signature(tasks.BaseModel.fuse.shapenas_original).parameters) == ["self", "verbose", "imgsz"]
    assert tasks.DetectionModel.fuse is tasks.BaseModel.fuse, "DetectionModel overrides fuse: wrap it too"


def test_what_train_output_hooks_into():
    """`shapenas train` builds quietly through the trainer class it passes to `YOLO.train`, and filters the summary
    lines `model_info` logs (shapenas.ultralytics.train_output)."""
    from ultralytics.engine.model import Model
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils import torch_utils

    assert list(inspect.signature(DetectionTrainer.get_model).parameters) == ["self", "cfg", "weights", "verbose"]
    assert "trainer" in inspect.signature(Model.train).parameters
    assert 'f"{model_name} summary{fused}: {n_l:,} layers' in inspect.getsource(torch_utils.model_info)


def test_lazy_install_watches_the_module_that_holds_parse_model():
    assert lazy_install.BUILDER == tasks.__name__ == tasks.parse_model.shapenas_original.__module__


def test_how_parse_model_resolves_row_names_and_string_arguments():
    """shapenas.model_yaml refuses rows by these rules: nn.<Name> from torch.nn, torchvision.ops.<Name> from
    torchvision.ops, any other name from tasks.py's namespace; a string argument naming a local is swapped for it."""
    source = inspect.getsource(tasks.parse_model.shapenas_original)
    for resolution in ("getattr(torch.nn, m[3:])", 'getattr(__import__("torchvision").ops, m[16:])', "globals()[m]"):
        assert resolution in source, f"parse_model no longer resolves row names with {resolution}"
    assert "locals()[a] if a in locals()" in source
    assert {"nc", "kpt_shape", "ch", "d"} <= row_names.parse_model_variables()
    assert row_names.resolves_to_layer("C2f") and row_names.resolves_to_layer("nn.Upsample")
    assert row_names.resolves_to_layer("torchvision.ops.SqueezeExcitation")
    for not_a_layer in ("check_requirements", "DetectionModel", "nn.functional", "torchvision.ops.nms", "nope"):
        assert not row_names.resolves_to_layer(not_a_layer), not_a_layer


def test_model_yaml_loading_and_scale_names():
    model = load_model_yaml("yolov8n.yaml")
    assert model["scale"] == "n" and isinstance(model["backbone"], list) and isinstance(model["head"], list)
    assert model_file_stem("yolov8n.yaml", "n") == "yolov8n"
    assert model_file_stem("yolov8n.yaml", "s") == "model" and model_file_stem("my-net.yaml", None) == "my-net"


def test_built_model_attributes():
    model = build_model(load_model_yaml("yolov8n.yaml"))
    layers = introspect.layers(model)
    assert [layer.i for layer in layers] == list(range(len(layers)))
    assert all(hasattr(layer, "f") and hasattr(layer, "type") and hasattr(layer, "np") for layer in layers)
    assert introspect.model_stride(model) == 32 and introspect.input_channels(model) == 3
    assert introspect.layer_conv(model, 1).stride == (2, 2) and introspect.layer_conv(model, 10) is None  # Upsample
    assert introspect.layer_input_channels(model, {10, 13}) == {10: 256, 13: 128}


def test_pil_open_patch_and_pillows_own_opener():
    """data.open_image relies on Ultralytics keeping Pillow's own `open` as patches._image_open (see its docstring)."""
    from ultralytics.utils import patches

    assert PIL.Image.open is patches.image_open, "Ultralytics no longer patches PIL.Image.open: simplify open_image"
    original = patches._image_open
    assert (original.__module__, original.__name__) == ("PIL.Image", "open")


def test_dataset_helpers(tiny_data, tmp_path):
    info = data.load_dataset_yaml(str(tiny_data))
    assert {"train", "val", "nc", "names"} <= set(info) and info["nc"] == len(info["names"])
    assert {"jpg", "png"} <= data.image_suffixes()
    assert Path(data.find_yaml("coco8.yaml")).is_file()
    with pytest.raises((FileNotFoundError, OSError)):
        data.find_yaml("no-such-dataset-shapenas.yaml")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(PIL.UnidentifiedImageError):  # and no pi-heif install attempt
        data.open_image(tmp_path / "broken.png")


def test_train_argument_names_and_checks():
    names = cfg.train_arg_names()
    assert MANAGED_TRAIN_ARGS <= names and {"lr0", "warmup_epochs", "mosaic"} <= names
    cfg.check_train_args({"lr0": 0.01})
    with pytest.raises((TypeError, ValueError), match="lr0"):
        cfg.check_train_args({"lr0": "fast"})


def test_logger_and_callback_events():
    from ultralytics.utils import LOGGER
    from ultralytics.utils.callbacks.base import default_callbacks

    assert isinstance(LOGGER, logging.Logger)
    assert EVENTS_USED <= set(default_callbacks)


def test_add_temperature_schedule_registers_every_event_on_a_real_model():
    yolo = ultralytics.YOLO(str(DATA / "five_modules_tiny.yaml"))
    schedule = add_temperature_schedule(yolo, share=0.2)
    registered = {
        event for event in EVENTS if any(getattr(f, "__self__", None) is schedule for f in yolo.callbacks[event])
    }
    assert (
        registered == set(EVENTS) == {"on_train_start", "on_train_epoch_start", "on_train_batch_start", "on_train_end"}
    )
    assert schedule.share == 0.2


def test_the_schedule_reaches_a_wrapped_model_and_its_ema():
    """Under DDP/DP the trainer's model is a wrapper holding the real one as `.module` (no multi-process training
    here: a DataParallel wrapper on a trainer-shaped object stands in); the schedule must still reach every ODConv."""
    model = torch.nn.Sequential(ODConv(8, 8), torch.nn.Sequential(ODConv(8, 8, 1)))
    ema = torch.nn.Sequential(ODConv(8, 8))
    trainer = SimpleNamespace(model=torch.nn.DataParallel(model), ema=SimpleNamespace(ema=ema))
    assert trainers.trained_models(trainer) == [model, ema]
    schedule = TemperatureSchedule(share=0.5)
    schedule.step, schedule.total = 10, 50  # resumed at batch 10 of 50, annealing over 25
    schedule.on_train_batch_start(trainer)
    temperatures = [m.temperature for m in [*model.modules(), *ema.modules()] if isinstance(m, ODConv)]
    assert temperatures == pytest.approx([30 - 29 * 10 / 25] * 3)


class _StopAfterFirstEpoch(Exception):
    pass


class _Recorder:
    """Reads the trainer's raw attributes at each event: what the seam's accessors rely on, and the temperatures."""

    def __init__(self, stop_after_first_epoch: bool):
        self.stop, self.temperatures, self.scores = stop_after_first_epoch, [], []

    def on_train_batch_start(self, trainer):
        missing = [name for name in TRAINER_ATTRIBUTES if not hasattr(trainer, name)]
        assert not missing, f"trainer attributes gone: {missing}"
        odconvs = [m for model in (trainer.model, trainer.ema.ema) for m in model.modules() if isinstance(m, ODConv)]
        assert len(odconvs) == 2 and len({m.temperature for m in odconvs}) == 1  # model and EMA in step
        self.temperatures.append(odconvs[0].temperature)

    def on_fit_epoch_end(self, trainer):
        self.scores.append(metrics.box_map(trainers.epoch_metrics(trainer)))
        assert isinstance(trainers.batch_loss(trainer), torch.Tensor)
        if self.stop:
            raise _StopAfterFirstEpoch

    def register(self, yolo):
        trainers.add_callbacks(yolo, {"on_train_batch_start": self.on_train_batch_start})
        trainers.add_callbacks(yolo, {"on_fit_epoch_end": self.on_fit_epoch_end})


@pytest.mark.slow
def test_a_real_training_pins_trainer_attributes_and_schedules_the_temperature(tiny_data, tmp_path):
    """2 epochs of 2 batches, annealed over all 4 batches; the run stops after epoch 1 and is resumed from last.pt."""
    first = ultralytics.YOLO(str(DATA / "five_modules_tiny.yaml"))
    add_temperature_schedule(first, share=1.0)
    recorder = _Recorder(stop_after_first_epoch=True)
    recorder.register(first)
    args = dict(data=str(tiny_data), epochs=2, imgsz=64, batch=8, workers=0, device="cpu", amp=False, plots=False)
    with pytest.raises(_StopAfterFirstEpoch):
        first.train(**args, project=str(tmp_path), name="train", exist_ok=True, verbose=False, seed=0)
    last = trainers.last_trainer(first).last
    assert trainers.batches_per_epoch(trainers.last_trainer(first)) == 2

    resumed = ultralytics.YOLO(str(last))
    schedule = add_temperature_schedule(resumed, share=1.0)
    second = _Recorder(stop_after_first_epoch=False)
    second.register(resumed)
    resumed.train(resume=True)
    trainer = trainers.last_trainer(resumed)
    assert trainers.start_epoch(trainer) == 1 and trainers.total_epochs(trainer) == 2
    assert recorder.temperatures + second.temperatures == pytest.approx([temperature_at(k / 4, 1.0) for k in range(4)])
    assert schedule.current() == pytest.approx(temperature_at(1.0, 1.0))
    assert {m.temperature for m in trainers.trained_models(trainer)[0].modules() if isinstance(m, ODConv)} == {1.0}
    assert all(score is not None and 0 <= score[0] <= score[1] <= 1 for score in recorder.scores + second.scores)
    assert trainers.best_weights(trainer).is_file()
    assert set(MODULES) <= {type(m).__name__ for m in trainers.trained_models(trainer)[0].modules()}
