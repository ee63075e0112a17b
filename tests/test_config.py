"""Search config: defaults, overrides, paths, and a table of malformed configs that must each fail in one line.

Every malformed case runs the real CLI (`shapenas space BAD.yaml --sample 1 --out DIR`): exit code 2, one stderr line
naming the key and the bad value, no traceback, nothing written. Most run in process; a few as subprocesses.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shapenas import config_checks as checks
from shapenas.cli import main
from shapenas.config import config_from_dict, load_config, require_data, upgraded, with_defaults
from shapenas.config_schema import (
    SECTIONS,
    ConstraintsConfig,
    ProxyConfig,
    SearchConfig,
    SpaceConfig,
    config_defaults,
    config_validators,
    setting,
)
from shapenas.errors import UserError
from shapenas.modules import MODULES
from shapenas.search.fleet.storage import open_storage
from shapenas.search.loop.study import create_or_continue
from shapenas.spaces import SearchSpace

GOOD = {"base": "yolov8n.yaml"}


def _with(**sections):
    """GOOD plus nested values given as dotted keys: _with(**{"proxy.epochs": 0})."""
    config = json.loads(json.dumps(GOOD))
    for dotted, value in sections.items():
        node = config
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


# (case id, config dict or raw text, --set overrides, strings the one-line message must contain)
BAD_CONFIGS = [
    ("no-base", {"proxy": {"epochs": 3}}, [], ["base: missing"]),
    ("unknown-base", {"base": "yolov8q.yaml"}, [], ["base:", "'yolov8q.yaml'"]),
    ("base-not-text", {"base": 42}, [], ["base:", "got 42"]),
    ("base-not-model", {"base": "not_model.yaml"}, [], ["base:", "not a model YAML"]),
    ("base-bad-yaml", {"base": "bad_yaml_model.yaml"}, [], ["base: cannot read", "line 1"]),
    ("base-unbuildable", {"base": "unbuildable.yaml"}, [], ["base: Ultralytics cannot build", "Foo"]),
    ("unknown-top-key", _with(epochs=3), [], ["epochs: unknown key"]),
    ("typo-key", _with(**{"proxy.epoch": 3}), [], ["proxy.epoch: unknown key", "'epochs'"]),
    ("section-not-mapping", _with(space=["a", "b"]), [], ["space: expected a mapping", "['a', 'b']"]),
    ("epochs-zero", _with(**{"proxy.epochs": 0}), [], ["proxy.epochs:", "got 0"]),
    ("epochs-text", _with(**{"proxy.epochs": "three"}), [], ["proxy.epochs:", "'three'"]),
    ("imgsz-not-32", _with(**{"proxy.imgsz": 100}), [], ["proxy.imgsz:", "multiple of 32", "got 100"]),
    ("fraction-high", _with(**{"proxy.fraction": 1.5}), [], ["proxy.fraction:", "got 1.5"]),
    ("batch-bool", _with(**{"proxy.batch": True}), [], ["proxy.batch:", "got True"]),
    ("device-gpu", _with(**{"proxy.device": "gpu"}), [], ["proxy.device:", "'gpu'"]),
    ("cache-maybe", _with(**{"proxy.cache": "maybe"}), [], ["proxy.cache:", "'maybe'"]),
    ("sampler-cmaes", _with(**{"search.sampler": "cmaes"}), [], ["search.sampler:", "'cmaes'"]),
    ("trials-negative", _with(**{"search.trials": -1}), [], ["search.trials:", "got -1"]),
    ("early-stop", _with(**{"search.early_stop": "sometimes"}), [], ["search.early_stop:", "'sometimes'"]),
    ("preset-unknown", _with(**{"search.presets": ["baseline", "best"]}), [], ["search.presets:", "'best'"]),
    ("authors-n-out", _with(**{"search.akconv_authors_n": 12}), [], ["search.akconv_authors_n:", "got 12"]),
    ("authors-no-akconv", _with(**{"space.akconv.enabled": False}), [], ["search.presets:", "akconv_authors"]),
    ("authors-no-slot", _with(**{"space.slots": "upsample"}), [], ["search.presets:", "'akconv_authors'"]),
    ("slot-not-conv", _with(**{"space.slots": [2]}), [], ["space.slots: layer 2 is C2f"]),
    ("slot-past-end", _with(**{"space.slots": [99]}), [], ["space.slots: layer 99", "past the last layer"]),
    ("slot-name", _with(**{"space.slots": "neck"}), [], ["space.slots:", "'neck'"]),
    ("num-param-reversed", _with(**{"space.akconv.num_param": [9, 3]}), [], ["space.akconv.num_param:", "[9, 3]"]),
    ("num-param-one", _with(**{"space.akconv.num_param": [1, 4]}), [], ["space.akconv.num_param:", "[1, 4]"]),
    ("shape-unknown", _with(**{"space.akconv.shapes": ["line_h", "zigzag"]}), [], ["space.akconv.shapes:", "'zigzag'"]),
    ("window-small", _with(**{"space.akconv.window": 3, "space.akconv.num_param": 12}), [], ["akconv.window:", "12"]),
    ("style-xl", _with(**{"space.dysample.style": ["lp", "xl"]}), [], ["space.dysample.style:", "'xl'"]),
    ("kernel-num-zero", _with(**{"space.odconv.kernel_num": [0]}), [], ["space.odconv.kernel_num:", "got 0"]),
    ("ratio-high", _with(**{"space.spconv.ratio": [1.5]}), [], ["space.spconv.ratio:", "got 1.5"]),
    ("groups-repeated", _with(**{"space.dysample.groups": [2, 2]}), [], ["space.dysample.groups:", "[2, 2]"]),
    ("max-gflops", _with(**{"constraints.max_gflops": -1}), [], ["constraints.max_gflops:", "got -1"]),
    ("max-latency", _with(**{"constraints.max_latency_ms": "fast"}), [], ["constraints.max_latency_ms:", "'fast'"]),
    ("cost-imgsz", _with(**{"cost.imgsz": 650}), [], ["cost.imgsz:", "multiple of 32", "got 650"]),
    ("cost-device", _with(**{"cost.device": "cuda:0"}), [], ["cost.device:", "CUDA index", "'cuda:0'"]),
    ("cost-repeats", _with(**{"cost.latency_repeats": 0}), [], ["cost.latency_repeats:", "got 0"]),
    ("cost-threads", _with(**{"cost.latency_threads": 0}), [], ["cost.latency_threads:", "got 0"]),
    ("objectives-order", _with(**{"search.objectives": ["gflops", "map50_95"]}), [], ["search.objectives:", "gflops"]),
    ("objectives-one", _with(**{"search.objectives": ["map50_95"]}), [], ["search.objectives:", "['map50_95']"]),
    ("scale-q", _with(scale="q"), [], ["scale:", "'q'"]),
    ("not-a-mapping", "- base\n- yolov8n.yaml\n", [], ["config: expected a mapping", "['base', 'yolov8n.yaml']"]),
    ("bad-yaml", "base: yolov8n.yaml\nproxy: {epochs: 3\n", [], ["config:", "not valid YAML", "line 3"]),
    ("set-no-equals", GOOD, ["proxy.epochs"], ["--set: expected dotted.key=value", "'proxy.epochs'"]),
    ("set-bad-value", GOOD, ["proxy.epochs=abc"], ["proxy.epochs:", "'abc'"]),
    ("set-unknown", GOOD, ["proxy.lr=0.1"], ["proxy.lr: unknown key"]),
]
SUBPROCESS_CASES = {"unknown-base", "typo-key", "slot-not-conv", "bad-yaml"}


def _write_case(tmp_path: Path, content) -> Path:
    # model files some cases name as their base, next to the config
    (tmp_path / "not_model.yaml").write_text("nc: 3\n")
    (tmp_path / "bad_yaml_model.yaml").write_text("nc: [3\n")
    broken = {"nc": 3, "backbone": [[-1, 1, "Foo", [16]]], "head": [[-1, 1, "Conv", [16, 3, 1]]]}
    (tmp_path / "unbuildable.yaml").write_text(yaml.safe_dump(broken))
    path = tmp_path / "bad.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def _assert_one_line_error(rc: int, stderr: str, expected: list[str], out_dir: Path) -> None:
    assert rc == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("shapenas space: error: "), lines[0]
    assert "Traceback" not in stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert not out_dir.exists(), "nothing may be written for a bad config"


def test_table_covers_every_section_of_the_config():
    assert len(BAD_CONFIGS) >= 20
    assert len({case[0] for case in BAD_CONFIGS}) == len(BAD_CONFIGS)
    named = {expected[0].split(":")[0].split(".")[0] for *_, expected in BAD_CONFIGS}
    # `data` is checked only by the commands that train: its cases are in test_bad_input.py
    assert named >= set(config_defaults()) - {"data"}
    assert {"config", "--set"} <= named  # the file itself, and overrides


@pytest.mark.parametrize("case_id,content,overrides,expected", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_malformed_config_fails_in_one_line(tmp_path, capsys, case_id, content, overrides, expected):
    path = _write_case(tmp_path, content)
    out_dir = tmp_path / "out"
    argv = ["space", str(path), "--sample", "1", "--out", str(out_dir)]
    for override in overrides:
        argv += ["--set", override]
    if case_id in SUBPROCESS_CASES:  # the real entry point, stderr exactly as a user sees it
        command = [sys.executable, "-m", "shapenas.cli", *argv]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        rc, stderr = result.returncode, result.stderr
        assert result.stdout == ""
    else:
        rc = main(argv)
        stderr = capsys.readouterr().err
    _assert_one_line_error(rc, stderr, expected, out_dir)


def test_missing_config_file(tmp_path, capsys):
    assert main(["space", str(tmp_path / "nope.yaml")]) == 2
    assert "config: no such file" in capsys.readouterr().err


def test_defaults_fill_every_key():
    config = config_from_dict(GOOD)
    assert config.scale == "n"
    assert config.proxy.epochs == 3 and config.search.sampler == "nsga2" and config.search.early_stop == "off"
    assert config.space.modules["akconv"].num_param == [3, 9]
    assert config.constraints == ConstraintsConfig(max_gflops=None, max_params=None, max_latency_ms=None)
    assert config.cost.imgsz == 640 and config.cost.device == "auto" and config.cost.latency_backend == "torch"
    assert config.search.objectives == ["map50_95", "gflops"] and not config.measures_latency


@pytest.mark.parametrize(
    "sets,measured",
    [
        (["search.objectives=[map50_95, latency]"], True),
        (["search.objectives=[map50_95, gflops, latency]"], True),
        (["constraints.max_latency_ms=40"], True),  # a limit alone makes every candidate timed
        (["search.objectives=[map50_95, gflops]"], False),
    ],
)
def test_latency_is_measured_when_an_objective_or_a_limit_needs_it(sets, measured):
    assert config_from_dict(GOOD, overrides=sets).measures_latency is measured


def test_cost_device_takes_a_cuda_index_as_ultralytics_spells_it():
    assert config_from_dict(GOOD, overrides=["cost.device=0"]).cost.device == 0
    assert config_from_dict(GOOD, overrides=["cost.device='1'"]).cost.device == 1


def test_a_study_config_from_before_the_cost_section_keeps_gflops_at_the_proxy_size():
    stored = config_from_dict(GOOD, overrides=["proxy.imgsz=96"]).to_dict()
    del stored["cost"], stored["search"]["objectives"]
    assert with_defaults(stored)["cost"]["imgsz"] == 96 and with_defaults(stored)["search"]["objectives"] == [
        "map50_95",
        "gflops",
    ]
    assert config_from_dict(upgraded(stored)).cost.imgsz == 96
    assert upgraded(config_from_dict(GOOD).to_dict())["cost"]["imgsz"] == 640  # a new study keeps its own


def test_overrides_are_yaml_values():
    sets = ["proxy.epochs=5", "space.akconv.num_param=[3, 7]", "search.sampler=tpe", "search.early_stop=off"]
    sets.append("search.seed=null")
    config = config_from_dict(GOOD, overrides=sets)
    assert config.proxy.epochs == 5 and config.space.modules["akconv"].num_param == [3, 7]
    assert config.search.sampler == "tpe" and config.search.early_stop == "off" and config.search.seed is None
    assert config_from_dict(GOOD, overrides=["space.akconv.num_param=5"]).space.modules["akconv"].num_param == [5, 5]


def test_paths_resolve_next_to_the_config_then_cwd(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.yaml").write_text("names: {0: a}\n")
    path = tmp_path / "configs" / "c.yaml"
    path.write_text(yaml.safe_dump({"base": "yolov8n.yaml", "data": "../data/d.yaml"}))
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.data == str(tmp_path / "data" / "d.yaml")
    assert require_data(config) == config.data
    monkeypatch.chdir(tmp_path)  # not next to the config, but in the current folder
    path.write_text(yaml.safe_dump({"base": "yolov8n.yaml", "data": "data/d.yaml"}))
    assert load_config(path).data == str(tmp_path / "data" / "d.yaml")


def test_data_is_checked_only_when_needed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"base": "yolov8n.yaml", "data": "../missing/data.yaml"}))
    config = load_config(path)  # `space` needs no data
    with pytest.raises(UserError, match=r"data: no such dataset YAML"):
        require_data(config)


def test_to_dict_is_json_and_reloads(tmp_path):
    config = config_from_dict(_with(**{"proxy.epochs": 2, "space.slots": [1, "upsample"]}), tmp_path)
    stored = json.loads(json.dumps(config.to_dict()))
    again = config_from_dict(stored, "/")
    assert again.to_dict() == stored
    assert (again.base, again.scale, again.space.slots) == ("yolov8n.yaml", "n", [1, "upsample"])


def test_scale_from_config_overrides_the_name():
    config = config_from_dict(_with(scale="s"))
    assert config.scale == "s" and config.base_yaml["scale"] == "s"


def test_a_bug_in_our_own_slot_code_keeps_its_traceback(monkeypatch):
    """Only Ultralytics refusing the base is a bad `base`; an error in shapenas's own code is not a user error."""
    import shapenas.spaces.space as space_module

    def broken(model_yaml, model=None):
        raise ZeroDivisionError("a bug in the slot finder")

    monkeypatch.setattr(space_module, "find_slots", broken)
    with pytest.raises(ZeroDivisionError, match="a bug in the slot finder"):
        SearchSpace(config_from_dict(GOOD))


def test_sections_are_typed_and_frozen():
    config = config_from_dict(GOOD)
    sections = (config.space, config.constraints, config.proxy, config.search)
    assert [type(s) for s in sections] == [SpaceConfig, ConstraintsConfig, ProxyConfig, SearchConfig]
    assert list(config.space.modules) == [spec.config_key for spec in MODULES.values()]
    assert config.space.slots == ["all"] and config.space.modules["dysample"].style == ["lp", "pl"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.proxy.epochs = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.space.modules["odconv"].enabled = False  # type: ignore[misc]


def _dotted_leaves(tree: dict, checked: dict, prefix: str = "") -> list[str]:
    leaves = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        nested = isinstance(value, dict) and dotted not in checked  # proxy.train_args is one key
        leaves += _dotted_leaves(value, checked, dotted + ".") if nested else [dotted]
    return leaves


def test_to_dict_spells_every_key_once_and_nothing_else():
    checked = config_validators()
    config = config_from_dict(_with(**{"proxy.train_args": {"lr0": 0.01}, "constraints.max_gflops": 9}))
    assert sorted(_dotted_leaves(config.to_dict(), checked)) == sorted(checked)
    assert sorted(_dotted_leaves(config_defaults(), checked)) == sorted(checked)
    assert config.constraints.limits() == {"max_gflops": 9.0}


@dataclasses.dataclass(frozen=True)
class _ProxyWithInit(ProxyConfig):
    """What a branch adding `proxy.init` writes: one line."""

    init: str = setting("scratch", checks.one_of("scratch", "parent"))


def test_a_new_key_is_one_line_in_its_section(monkeypatch):
    monkeypatch.setitem(SECTIONS, "proxy", _ProxyWithInit)
    config = config_from_dict(GOOD, overrides=["proxy.init=parent", "proxy.epochs=2"])
    assert (config.proxy.init, config.proxy.epochs, config.proxy.imgsz) == ("parent", 2, 160)
    assert config.to_dict()["proxy"]["init"] == "parent"
    assert config_from_dict(config.to_dict()) == config
    stored_before = config_from_dict(GOOD).to_dict()
    del stored_before["proxy"]["init"]  # a study stored before the key existed still loads, with its default
    assert config_from_dict(stored_before).proxy.init == "scratch"
    with pytest.raises(UserError, match=r"^proxy\.init: expected one of scratch, parent, got 'warm'$"):
        config_from_dict(GOOD, overrides=["proxy.init=warm"])
    with pytest.raises(UserError, match=r"^proxy\.int: unknown key \(did you mean 'init'\?\)$"):
        config_from_dict(GOOD, overrides=["proxy.int=parent"])


def test_a_study_stored_before_a_new_key_continues_with_its_default(tmp_path, monkeypatch):
    storage = open_storage(f"sqlite:///{tmp_path / 'studies.db'}")
    create_or_continue(config_from_dict(GOOD), storage, "old")  # stored without proxy.init
    monkeypatch.setitem(SECTIONS, "proxy", _ProxyWithInit)
    _, created = create_or_continue(config_from_dict(GOOD), storage, "old")
    assert not created
    with pytest.raises(UserError, match="--study 'old' exists with another config"):
        create_or_continue(config_from_dict(GOOD, overrides=["proxy.init=parent"]), storage, "old")
