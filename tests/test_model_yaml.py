"""A model YAML must not run code: the check itself, then the CLI refusing a base, a stored config's base and a
stored trial YAML that would run code, each in one line, exit 2, with nothing run and nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from ultralytics.nn.tasks import yaml_model_load

from shapenas.cli import main
from shapenas.config import load_config
from shapenas.errors import UserError
from shapenas.model_yaml import check_model_yaml, is_layer_name, is_safe_activation
from shapenas.search.fleet.storage import open_storage
from shapenas.search.loop.study import create_or_continue
from tests.yaml_fixtures import all_modules_yaml

ULTRALYTICS_MODELS = Path(yaml_model_load.__code__.co_filename).parents[1] / "cfg" / "models"


def _touching(marker: Path) -> str:
    """Python that creates `marker` when evaluated: what an attacker would put in a YAML."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


@pytest.mark.parametrize(
    "text", ["nn.SiLU()", "torch.nn.ReLU()", "nn.LeakyReLU(0.1)", "nn.ReLU(inplace=True)", "nn.Hardtanh(-2, 2.5)"]
)
def test_activations_of_torch_nn_with_numbers_are_accepted(text):
    assert is_safe_activation(text)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "nn.SiLU",  # not a call
        "nn.Conv2d(3, 3, 3)",  # not an activation
        "nn.Sequential()",
        "os.system('true')",
        "nn.ReLU(inplace=print)",
        "nn.LeakyReLU(0.1 + 0.1)",
        "nn.GELU(approximate='tanh')",  # a string argument: numbers only
        "nn.ReLU(**{'inplace': True})",
        "nn.ReLU().__class__.__base__",
        "torch.nn.functional.relu(1)",
        "nn.SiLU(); 1",
        42,
        ["nn.SiLU()"],
    ],
)
def test_anything_else_as_activation_is_refused(text):
    assert not is_safe_activation(text)
    with pytest.raises(UserError, match=r"^base: activation: expected nn\.<Activation>"):
        check_model_yaml({**yaml_model_load("yolov8n.yaml"), "activation": text}, "base")


def test_every_stock_detection_model_passes():
    checked = 0
    for path in sorted(ULTRALYTICS_MODELS.rglob("*.yaml")):
        model = yaml.safe_load(path.read_text())
        if "text_model" in model:  # open-vocabulary models load a text encoder by name: not a base we search
            continue
        check_model_yaml(model, path.name)
        checked += 1
    assert checked >= 50


def test_our_modules_pass():
    check_model_yaml(all_modules_yaml("yolov8n.yaml"), "all modules")


@pytest.mark.parametrize(
    "row,problem",
    [
        ([-1, 1, "check_requirements", ["numpy"]], "'check_requirements': not a layer class"),
        ([-1, 1, "DetectionModel", ["yolov8s.yaml"]], "'DetectionModel': not a layer class"),  # reads another file
        ([-1, 1, "nn.functional.relu", []], "'nn.functional.relu'"),
        ([-1, 1, "torchvision.ops.nms", []], "'torchvision.ops.nms'"),
        ([-1, 1, "Foo", [16]], "Ultralytics cannot build layer 1 'Foo'"),
        ([-1, 1, "Conv", ["d", 3, 2]], "argument 'd' would name a variable inside Ultralytics"),
        ([-1, 1, "Conv", [64, 3, {"a": 1}]], "args must be a list"),
        ([-1, 1, "Conv"], "expected [from, repeats, module, args]"),
        (["x", 1, "Conv", [64, 3, 2]], "'from' must be a layer index"),
        ([-1, 0, "Conv", [64, 3, 2]], "repeats must be an integer >= 1"),
    ],
)
def test_rows_that_are_not_plain_layers_are_refused(row, problem):
    model = yaml_model_load("yolov8n.yaml")
    model["backbone"][1] = row
    with pytest.raises(UserError, match=r"^trial 3: ") as refused:
        check_model_yaml(model, "trial 3")
    assert problem in str(refused.value)


def test_layer_names_resolve_as_ultralytics_resolves_them():
    assert all(map(is_layer_name, ["Conv", "C2f", "Detect", "nn.Upsample", "AKConv", "DySample"]))
    assert not any(map(is_layer_name, ["check_yaml", "torch_load", "YAML", "BaseModel", "nn.init", 7, None]))


def test_unknown_top_level_keys_are_refused():
    with pytest.raises(UserError, match=r"unknown model YAML key 'text_model'"):
        check_model_yaml({**yaml_model_load("yolov8n.yaml"), "text_model": "mobileclip:blt"}, "base")


# ---- through the CLI: nothing runs, nothing is written ------------------------------------------------------------


def _evil_base(folder: Path, marker: Path) -> Path:
    base = yaml_model_load("yolov8n.yaml")
    base = {key: value for key, value in base.items() if key not in ("yaml_file", "scale")}
    base["activation"] = _touching(marker)
    path = folder / "evil_base.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def _config(folder: Path, base: Path, data) -> Path:
    config = {
        "base": str(base),
        "scale": "n",
        "data": str(data),
        "space": {"slots": [13], "dysample": {"style": ["lp"], "groups": [1]}},
        "proxy": {"epochs": 1, "imgsz": 32, "batch": 8, "device": "cpu"},
        "search": {"presets": ["baseline"], "trials": 1},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _assert_refused(done: subprocess.CompletedProcess, command: str, marker: Path) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"shapenas {command}: error: base: activation: ") and "__import__" in lines[0]
    assert not marker.exists(), "the YAML's activation ran"


@pytest.mark.parametrize("command", ["space", "search"])
def test_a_base_whose_activation_runs_code_is_refused_before_anything_runs(tmp_path, tiny_data, command):
    marker = tmp_path / "PWNED"
    config = _config(tmp_path, _evil_base(tmp_path, marker), tiny_data)
    storage = tmp_path / "study.db"
    extra = ["--sample", "1", "--out", "out"] if command == "space" else ["--storage", f"sqlite:///{storage}"]
    done = subprocess.run(
        [sys.executable, "-m", "shapenas.cli", command, str(config), *extra],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _assert_refused(done, command, marker)
    assert not (tmp_path / "out").exists() and not storage.exists() and not (tmp_path / "runs").exists()


def _study_with_a_safe_base(tmp_path: Path, data) -> tuple[str, Path]:
    """A study (on a journal file, which workers can share) made from a harmless copy of yolov8n; returns its storage
    URL and the base file its stored config names."""
    base = tmp_path / "base.yaml"
    model = {key: value for key, value in yaml_model_load("yolov8n.yaml").items() if key not in ("yaml_file", "scale")}
    base.write_text(yaml.safe_dump(model, sort_keys=False))
    url = f"journal:///{tmp_path / 'study.log'}"
    create_or_continue(load_config(_config(tmp_path, base, data)), open_storage(url), "s")
    return url, base


@pytest.mark.parametrize("command", ["resume", "worker", "pareto"])
def test_a_stored_config_whose_base_now_runs_code_is_refused(tmp_path, tiny_data, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    url, base = _study_with_a_safe_base(tmp_path, tiny_data)
    marker = tmp_path / "PWNED"
    base.write_text(_evil_base(tmp_path, marker).read_text())  # someone with write access to the shared base file
    assert main([command, "--storage", url, "--study", "s"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"shapenas {command}: error: base: activation: ") and "\n" not in line
    assert not marker.exists()


@pytest.mark.parametrize("bad", ["activation", "row"])
def test_a_stored_trial_yaml_that_would_run_code_is_never_built(tmp_path, tiny_data, capsys, monkeypatch, bad):
    from ultralytics.nn import tasks

    monkeypatch.chdir(tmp_path)
    url, _ = _study_with_a_safe_base(tmp_path, tiny_data)
    marker = tmp_path / "PWNED"
    calls = []
    monkeypatch.setattr(tasks, "check_requirements", lambda *args, **kwargs: calls.append(args))
    model = yaml_model_load("yolov8n.yaml")
    if bad == "activation":
        model["activation"] = _touching(marker)
    else:
        model["backbone"][1] = [-1, 1, "check_requirements", ["numpy"]]
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    attrs = {"key": "k", "summary": "baseline", "yaml": yaml.safe_dump(model), "params": 1, "gflops": 1.0}
    study.add_trial(optuna.trial.create_trial(values=[0.5, 1.0], user_attrs=attrs))
    assert main(["export", "--storage", url, "--study", "s", "--trial", "0", "-o", "out.yaml"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("shapenas export: error: trial 0's stored yaml: ") and "\n" not in line
    assert ("activation" if bad == "activation" else "'check_requirements'") in line
    assert not marker.exists() and not calls and not (tmp_path / "out.yaml").exists()
