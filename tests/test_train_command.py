"""`shapenas train`: a model YAML using every module trains for real from a base checkpoint (`--weights`), the
per-layer table says how each layer started, and the weights reload in a new process, validate and export; bad
arguments get one line and exit 2 before anything is written or run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml

from shapenas.cli import main
from shapenas.ultralytics.build import build_model, load_model_yaml
from tests.worker_helpers import cli
from tests.yaml_fixtures import all_modules_yaml

RELOAD = textwrap.dedent(
    """
    import json, sys
    import shapenas, ultralytics
    weights, data = sys.argv[1], sys.argv[2]
    model = ultralytics.YOLO(weights)
    names = sorted({type(m).__name__ for m in model.model.model})
    metrics = model.val(data=data, imgsz=64, batch=8, workers=0, plots=False, device="cpu", verbose=False)
    exported = model.export(format="onnx", imgsz=64, simplify=False, dynamic=False, device="cpu")
    print(json.dumps({"names": names, "map": float(metrics.box.map), "onnx": str(exported)}))
    """
)
# A row of a layer table: index, module, how, error, note.
ROW = re.compile(r"^\s*(\d+)\s+(\w+)\s+(copied|partial|exact|approximate|fresh)\s+(\S+)(.*)$")


def base_checkpoint(path) -> str:
    """An Ultralytics-style checkpoint of the base (YOLOv8n, 5 classes as the tiny dataset), BatchNorm statistics
    made non-trivial so that copying them is visible."""
    model = build_model({**load_model_yaml("yolov8n.yaml"), "nc": 5})
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    torch.save({"model": model}, path)
    return str(path)


def model_yaml(folder) -> str:
    model = all_modules_yaml("yolov8n.yaml", nc=5)
    model.pop("yaml_file")
    path = folder / "yolov8n-all.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return str(path)


@pytest.mark.slow
def test_train_from_a_base_checkpoint_prints_each_layers_start_and_the_weights_reload(tmp_path, tiny_data):
    model, weights = model_yaml(tmp_path), base_checkpoint(tmp_path / "yolov8n.pt")
    args = ["train", model, "--weights", weights, f"data={tiny_data}", "epochs=1", "imgsz=64", "batch=8"]
    args += ["device=cpu", "workers=0", "plots=False", f"project={tmp_path}", "name=full", "exist_ok=True"]
    done = cli(*args, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [ROW.match(line).groups() for line in done.stdout.splitlines() if ROW.match(line)]
    swapped = {
        i
        for i, row in enumerate(all_modules_yaml()["backbone"] + all_modules_yaml()["head"])
        if row[2] in ("AKConv", "ODConv", "SPConv", "DynamicConv", "DySample")
    }
    assert [int(r[0]) for r in rows] == list(range(23))
    for index, module, how, error, _ in rows:
        if int(index) in swapped:  # every swapped module started from the Conv or Upsample it replaces
            assert how in ("exact", "approximate"), (index, module, how)
            assert (error == "-") == (how == "exact")
        else:
            assert how == "copied" and error == "-", (index, module, how)
    assert "ODConv temperature: 30 -> 1" in done.stdout
    best = tmp_path / "full" / "weights" / "best.pt"
    assert f"weights {best}" in done.stdout
    reloaded = subprocess.run(
        [sys.executable, "-c", RELOAD, str(best), str(tiny_data)], capture_output=True, text=True, timeout=600
    )
    assert reloaded.returncode == 0, reloaded.stderr[-3000:]
    result = json.loads(reloaded.stdout.strip().splitlines()[-1])
    assert {"AKConv", "ODConv", "SPConv", "DynamicConv", "DySample"} <= set(result["names"])
    assert 0.0 <= result["map"] <= 1.0 and result["onnx"].endswith(".onnx")


NOT_A_CHECKPOINT = "not a checkpoint that can be read safely (TypeError)"
# (case, arguments after `train` with {model}, {data}, {dir} filled in, what the one line must say)
BAD = [
    (
        "unknown-key",
        "{model} data={data} epoch=3",
        "'epoch=3': 'epoch' is not a valid YOLO argument (did you mean 'epochs'?)",
    ),
    ("bad-type", "{model} data={data} epochs=abc", "'epochs=abc' is of invalid type str. 'epochs' must be an int"),
    (
        "bad-range",
        "{model} data={data} lr0=-1",
        "'lr0=-1' is an invalid value. Valid 'lr0' values are between 0.0 and 1.0",
    ),
    ("no-value", "{model} data={data} epochs=", "'epochs=': missing 'epochs' value"),
    ("two-models", "{model} other.yaml data={data}", "expected one MODEL and key=value arguments, got"),
    ("model-key", "{model} data={data} model=x.yaml", "model=x.yaml: set by shapenas train"),
    ("ddp", "{model} data={data} device=0,1", "device=0,1: several GPUs train in an Ultralytics subprocess"),
    ("no-data", "{model} epochs=1", "data=: missing"),
    ("no-model", "data={data}", "give one model: MODEL (a model YAML) or --trial N"),
    ("missing-model", "{dir}/gone.yaml data={data}", "MODEL '{dir}/gone.yaml': no such file"),
    ("checkpoint-as-model", "{dir}/base.pt data={data}", "MODEL '{dir}/base.pt': expected a model YAML"),
    ("code-in-activation", "{dir}/evil.yaml data={data}", "activation: expected nn.<Activation>(...) with a torch.nn"),
    ("function-row", "{dir}/call.yaml data={data}", "cannot build layer 0 'check_requirements': not a layer class"),
    ("missing-weights", "{model} --weights {dir}/gone.pt data={data}", "--weights '{dir}/gone.pt': no such file"),
    (
        "not-a-checkpoint",
        "{model} --weights {dir}/notes.pt data={data}",
        f"--weights '{{dir}}/notes.pt': {NOT_A_CHECKPOINT}",
    ),
    ("bad-data", "{model} data={dir}/nowhere/data.yaml", "data: '{dir}/nowhere/data.yaml'"),
    ("unknown-option", "{model} --wieghts x.pt data={data}", "unrecognized arguments: --wieghts x.pt"),
]


def exit_code(argv: list[str]) -> int:
    """What `shapenas ARGV` exits with (argparse's own errors exit; the rest return)."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.fixture(scope="module")
def bad_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train_bad")
    model = yaml.safe_load(open(model_yaml(folder)))
    (folder / "evil.yaml").write_text(yaml.safe_dump({**model, "activation": "open('marker', 'w')"}))
    calling = {**model, "backbone": [[-1, 1, "check_requirements", ["x"]], *model["backbone"][1:]]}
    (folder / "call.yaml").write_text(yaml.safe_dump(calling))
    (folder / "notes.pt").write_text("not a checkpoint")
    base_checkpoint(folder / "base.pt")
    return folder


@pytest.mark.parametrize("words, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(
    bad_world, tiny_data, capsys, monkeypatch, words, message
):
    monkeypatch.chdir(bad_world)
    before = sorted(p for p in bad_world.rglob("*"))
    fill = {"model": bad_world / "yolov8n-all.yaml", "data": tiny_data, "dir": bad_world}
    assert exit_code(["train", *words.format(**fill).split()]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message.format(**fill) in lines[0], lines
    assert sorted(p for p in bad_world.rglob("*")) == before  # no run folder, no marker
