"""Bad input across the CLI: each case exits 2 with exactly one stderr line naming the bad value, no traceback, the
stored studies unchanged and no file written. Most cases run in process (fast); a few as real subprocesses.

The stored studies are made directly through Optuna (a trained-looking trial whose recorded cost is the real cost of
its YAML), so that every case is an error path and none trains anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from shapenas.cli import main
from shapenas.commands import COMMANDS
from shapenas.config import load_config
from shapenas.cost import yaml_cost
from shapenas.data.check import STAMP_FOLDER
from shapenas.errors import UserError
from shapenas.search.fleet.storage import open_storage
from shapenas.search.loop.study import create_or_continue
from shapenas.spaces import SearchSpace
from tests.voc_fixtures import broken_vocs
from tests.worker_helpers import snapshot

CONFIG = {
    "base": "yolov8n.yaml",
    "space": {"slots": [13], "dysample": {"style": ["lp"], "groups": [1]}},
    "proxy": {"epochs": 1, "imgsz": 32, "batch": 8, "device": "cpu"},
    "search": {"presets": ["baseline"]},
}
CACHE = STAMP_FOLDER  # the dataset check's cache of passed scans, not a result


def _config(folder: Path, name: str, data, **search) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "data": str(data), "search": {**CONFIG["search"], **search}}))
    return path


def _trained_looking_trial(space: SearchSpace, imgsz: int) -> optuna.trial.FrozenTrial:
    ((_, baseline),) = space.enqueued_presets()
    model_yaml = space.render(baseline)
    cost = yaml_cost(model_yaml, imgsz)
    attrs = {
        "key": baseline.key(),
        "summary": "baseline",
        "yaml": yaml.safe_dump(model_yaml, sort_keys=False),
        "params": cost.params,
        "gflops": round(cost.gflops, 6),
        "map50_95": 0.1,
        "map50": 0.2,
        "weights": None,
    }
    return optuna.trial.create_trial(values=[0.1, attrs["gflops"]], user_attrs=attrs)


def _bad_datasets(folder: Path, tiny_data) -> dict[str, Path]:
    """Copies of the tiny dataset, each broken in one way."""
    made = {}
    for name in ("corrupt", "tiny_image", "no_val", "no_train", "listed"):
        root = shutil.copytree(Path(tiny_data).parent, folder / name)
        made[name] = root / "data.yaml"
        info = yaml.safe_load(made[name].read_text())
        info["path"] = str(root)
        if name == "corrupt":
            (root / "images" / "val" / "val_000003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        elif name == "tiny_image":
            import numpy as np
            from PIL import Image

            Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(root / "images" / "train" / "train_000002.png")
        elif name in ("no_val", "no_train"):
            info[name.removeprefix("no_")] = "images/gone"
        else:  # an image list naming a file that is not there
            (root / "train.txt").write_text("./images/train/train_000000.png\n./images/train/missing.png\n")
            info["train"] = "train.txt"
        made[name].write_text(yaml.safe_dump(info))
    return made


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_data):
    """Storages with shapenas studies (`done`: one trained-looking trial; `empty`; `moved`: its data is gone) and
    a study made by someone else (`foreign`); configs and broken datasets."""
    folder = tmp_path_factory.mktemp("bad_input")
    sqlite, journal = f"sqlite:///{folder / 'studies.db'}", f"journal:///{folder / 'studies.log'}"
    config = load_config(_config(folder, "done", tiny_data))
    for storage_url in (sqlite, journal):
        storage = open_storage(storage_url)
        create_or_continue(config, storage, "empty")
    storage = open_storage(sqlite)
    done, _ = create_or_continue(config, storage, "done")
    done.add_trial(_trained_looking_trial(SearchSpace(config), config.cost.imgsz))
    interrupted = {"preset": "baseline", "fail_reason": "interrupted by SIGTERM"}
    done.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=interrupted))
    create_or_continue(load_config(_config(folder, "moved", folder / "gone" / "data.yaml")), storage, "moved")
    optuna.create_study(study_name="foreign", storage=storage)
    (folder / "garbage.db").write_bytes(b"this is not an SQLite database" * 100)
    (folder / "a_file").write_text("")
    for name, path in _bad_datasets(folder, tiny_data).items():
        _config(folder, name, path)
    _config(folder, "missing_data", folder / "nowhere" / "data.yaml")
    _config(folder, "other", tiny_data, trials=5, seed=7)
    broken_vocs(folder)
    return {"dir": folder, "db": sqlite, "journal": journal, "out": str(folder / "out.yaml")}


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:  # bound, never listening: connecting is refused at once
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


EXPORT = "export --storage {db}"
WORKER = "worker --storage {journal}"
VERIFY = "verify --storage {db}"
# (case id, command line with {placeholders} filled from the `world` fixture, strings the one line must contain)
BAD_INPUT = [
    # storages and studies
    ("bad-scheme", "pareto --storage redis://localhost/0", ["--storage 'redis://localhost/0'", "expected sqlite"]),
    (
        "postgres-closed-port",
        "resume --storage postgresql+psycopg://u@127.0.0.1:{port}/db",
        [":{port}/db'", "cannot open"],
    ),
    ("sqlite-missing-folder", "pareto --storage sqlite:///{dir}/no/s.db", ["/no'", "does not exist"]),
    ("sqlite-not-a-database", "pareto --storage sqlite:///{dir}/garbage.db", ["garbage.db'", "cannot open"]),
    ("journal-missing", "pareto --storage journal:///{dir}/none.log", ["none.log'", "no journal file"]),
    (
        "journal-three-slashes-absolute",  # journal:///tmp/x.log is the relative tmp/x.log, as in sqlite:///
        "search {dir}/other.yaml --storage journal://{dir}/x.log --create-only",
        ["folder '{reldir}' does not exist", "use four slashes: journal:///{dir}/x.log"],
    ),
    ("resume-study-not-found", "resume --storage {db} --study nope", ["--study 'nope': not found", "done"]),
    ("export-study-not-found", EXPORT + " --study nope --knee -o {out}", ["--study 'nope': not found"]),
    ("pareto-study-not-found", "pareto --storage {db} --study nope", ["--study 'nope': not found"]),
    ("worker-study-not-found", WORKER + " --study nope", ["--study 'nope': not found"]),
    ("study-needed", "resume --storage {db}", ["--study is needed", "4 studies"]),
    ("foreign-study", "pareto --storage {db} --study foreign", ["'foreign'", "not made by shapenas"]),
    ("worker-on-sqlite", "worker --storage {db} --study done", ["--storage 'sqlite:///", "journal:///FILE"]),
    # what to export, where to write
    ("export-empty-front", EXPORT + " --study empty --knee -o {out}", ["'empty' has an empty Pareto front"]),
    ("pareto-nothing-trained", "pareto --storage {db} --study empty", ["'empty' has no trained trials"]),
    (
        "pareto-unknown-option",  # argparse's own error, with the command and the closest option
        "pareto --storage {db} --study done --plt front.png",
        ["unrecognized arguments: --plt front.png (did you mean --plot?)"],
    ),
    ("export-trial-not-found", EXPORT + " --study done --trial 99 -o {out}", ["--trial 99: study 'done' has no"]),
    ("export-trial-failed", EXPORT + " --study done --trial 1 -o {out}", ["--trial 1: trial 1 failed (interrupted by"]),
    ("export-gflops-too-low", EXPORT + " --study done --max-gflops 1e-6 -o {out}", ["--max-gflops 1e-06: no front"]),
    ("export-two-ways", EXPORT + " --study done --knee --trial 0 -o {out}", ["pick the trial one way", "got 2 ways"]),
    ("export-no-way", EXPORT + " --study done -o {out}", ["pick the trial one way", "got 0 ways"]),
    (
        "export-latency-not-measured",
        EXPORT + " --study done --max-latency-ms 5 -o {out}",
        ["--max-latency-ms 5: the study measured no latency"],
    ),
    ("export-knee-not-an-objective", EXPORT + " --study done --knee latency -o {out}", ["--knee latency: not an"]),
    (
        "pareto-reference-point-short",
        "pareto --storage {db} --study done --reference-point 0",
        ["--reference-point: expected 2 comma-separated numbers", "got '0'"],
    ),
    (
        "pareto-reference-point-not-numbers",
        "pareto --storage {db} --study done --reference-point 0,x",
        ["--reference-point:", "got '0,x'"],
    ),
    (
        "export-no-weights",
        EXPORT + " --study done --trial 0 -o {out} --weights {dir}/w.pt",
        ["--weights: trial 0 kept no"],
    ),
    ("export-out-missing-folder", EXPORT + " --study done --knee -o {dir}/no/x.yaml", ["-o '", "/no' does not exist"]),
    ("export-out-is-folder", EXPORT + " --study done --knee -o {dir}", ["-o '", "is a folder"]),
    ("export-out-under-a-file", EXPORT + " --study done --knee -o {dir}/a_file/x.yaml", ["a_file' does not exist"]),
    (
        "pareto-csv-unwritable",
        "pareto --storage {db} --study done --csv {locked}/front.csv",
        ["--csv '", "not writable"],
    ),
    ("worker-trials-zero", WORKER + " --study empty --trials 0", ["--trials: expected an integer >= 1, got 0"]),
    ("worker-pool-of-zero", WORKER + " --study empty --workers-per-device 0", ["--workers-per-device:", "got 0"]),
    ("worker-gpu-not-there", WORKER + " --study empty --devices 99", ["--devices 99: GPU 99 is not visible"]),
    ("worker-devices-malformed", WORKER + " --study empty --devices gpu0", ["--devices: expected GPU", "'gpu0'"]),
    ("worker-storage-retry-negative", WORKER + " --study empty --storage-retry -1", ["--storage-retry:", "got -1"]),
    ("search-storage-retry-nan", "search {dir}/other.yaml --storage {db} --storage-retry nan", ["retry:", "got nan"]),
    (
        "verify-storage-retry-negative",
        VERIFY + " --study done --front --epochs 2 --storage-retry -5",
        ["--storage-retry:", "got -5"],
    ),
    # verify and train a stored trial
    ("verify-study-not-found", VERIFY + " --study nope --front --epochs 2", ["--study 'nope': not found"]),
    (
        "verify-baseline-failed",
        VERIFY + " --study done --front --epochs 2",
        ["'done' has no trained baseline trial", "baseline trial 1 failed (interrupted by SIGTERM)"],
    ),
    (
        "verify-trials-malformed",
        VERIFY + " --study done --trials 1,x --epochs 2",
        ["--trials: expected trial numbers", "got '1,x'", "not a count"],
    ),
    ("verify-seeds-zero", VERIFY + " --study done --front --epochs 2 --seeds 0", ["--seeds:", ">= 1, got 0"]),
    ("verify-epochs-zero", VERIFY + " --study done --front --epochs 0", ["--epochs:", ">= 1, got 0"]),
    (
        "verify-set-not-proxy",
        VERIFY + " --study done --front --epochs 2 --set search.trials=3",
        ["--set 'search.trials=3': verify changes proxy.* keys only"],
    ),
    ("verify-set-bad-value", VERIFY + " --study done --front --epochs 2 --set proxy.batch=0", ["proxy.batch:", "0"]),
    ("pareto-nothing-verified", "pareto --storage {db} --study done --verified", ["--verified: no trial of study"]),
    ("train-trial-not-found", "train --storage {db} --study done --trial 99", ["--trial 99: study 'done' has no"]),
    ("train-trial-failed", "train --storage {db} --study done --trial 1", ["--trial 1: trial 1 failed (interrupted"]),
    ("train-device-not-here", "train --storage {db} --study done --trial 0 device=99", ["device: GPU 99", "visible"]),
    # configs and datasets
    ("config-missing", "search {dir}/nope.yaml --storage {db}", ["config: no such file", "nope.yaml"]),
    ("config-bad-value", "search {dir}/other.yaml --storage {db} --set proxy.epochs=0", ["proxy.epochs:", "got 0"]),
    (
        "config-device-not-here",
        "search {dir}/other.yaml --storage {db} --set proxy.device=99",
        ["proxy.device: GPU 99", "visible GPUs: "],
    ),
    (
        "config-objectives-unknown",
        "search {dir}/other.yaml --storage {db} --set search.objectives=[map50_95,fps]",
        ["search.objectives: expected one of [map50_95, gflops]", "got ['map50_95', 'fps']"],
    ),
    (
        "config-max-latency-negative",
        "search {dir}/other.yaml --storage {db} --set constraints.max_latency_ms=-3",
        ["constraints.max_latency_ms: expected a number > 0.0", "got -3"],
    ),
    ("config-cost-imgsz", "search {dir}/other.yaml --storage {db} --set cost.imgsz=100", ["cost.imgsz:", "got 100"]),
    ("config-cost-device", "search {dir}/other.yaml --storage {db} --set cost.device=gpu", ["cost.device:", "'gpu'"]),
    (
        "config-latency-backend",
        "search {dir}/other.yaml --storage {db} --set cost.latency_backend=tensorrt",
        ["cost.latency_backend: expected one of torch, onnxruntime", "'tensorrt'"],
    ),
    (
        "config-onnxruntime-on-a-gpu",
        "search {dir}/other.yaml --storage {db} --set cost.latency_backend=onnxruntime --set cost.device=0",
        ["cost.device: latency_backend onnxruntime runs on the CPU", "got 0"],
    ),
    (
        "config-latency-gpu-not-here",
        "search {dir}/other.yaml --storage {db} --set search.objectives=[map50_95,latency] --set cost.device=99",
        ["cost: latency device 99", "CUDA device"],
    ),
    (
        "config-differs-from-study",
        "search {dir}/other.yaml --storage {db} --study done",
        ["'done' exists with another"],
    ),
    ("data-yaml-missing", "search {dir}/missing_data.yaml --storage {db}", ["data: no such dataset YAML", "nowhere"]),
    ("data-moved-since-the-study", "resume --storage {db} --study moved", ["data: no such dataset YAML", "gone"]),
    (
        "data-val-images-missing",
        "search {dir}/no_val.yaml --storage {db}",
        ["data:", "images not found", "images/gone"],
    ),
    ("data-train-images-missing", "search {dir}/no_train.yaml --storage {db}", ["data: train images", "images/gone"]),
    (
        "data-corrupt-image",
        "search {dir}/corrupt.yaml --storage {db}",
        ["val_000003.png' is not an image PIL can read"],
    ),
    ("data-image-too-small", "search {dir}/tiny_image.yaml --storage {db}", ["train_000002.png' is only 5x5 px"]),
    (
        "data-listed-image-missing",
        "search {dir}/listed.yaml --storage {db}",
        ["data: image", "missing.png' is missing"],
    ),
    # importing a Pascal VOC folder
    ("voc-not-a-voc-folder", "data voc {dir}/not_voc {dir}/imported", ["not_voc: not a Pascal VOC folder"]),
    ("voc-xml-without-size", "data voc {dir}/voc_sizeless {dir}/imported", ["c.xml: no <size> with a width"]),
    ("voc-image-missing", "data voc {dir}/voc_no_image {dir}/imported", ["image 'b' is listed", "missing from"]),
    (
        "voc-class-outside-classes",
        "data voc {dir}/voc_good {dir}/imported --classes cat,dog",
        ["--classes 'cat,dog': the annotations also name 'bird'"],
    ),
    (
        "voc-out-holds-other-data",
        "data voc {dir}/voc_good {dir}/occupied",
        ["occupied is not empty", "holds no VOC import"],
    ),
]
SUBPROCESS_CASES = {
    "pareto-unknown-option",  # argparse exits rather than returning
    "postgres-closed-port",
    "worker-study-not-found",
    "export-empty-front",
    "data-corrupt-image",
    "config-device-not-here",
    "train-device-not-here",
}


def _unwritable_folder(folder: Path) -> Path | None:
    """A folder this process cannot write to: a read-only one, or (root ignores permissions) /proc/sys if so."""
    locked = folder / "locked"
    locked.mkdir(exist_ok=True)
    locked.chmod(0o555)
    for candidate in (locked, Path("/proc/sys")):
        if candidate.is_dir() and not os.access(candidate, os.W_OK):
            return candidate
    return None


def _storage_state(world) -> dict:
    """Every study's name, attributes and trials in both storages."""
    state = {}
    for url in (world["db"], world["journal"]):
        storage = open_storage(url, create=False)
        for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            state[(url, summary.study_name)] = (study.user_attrs, snapshot(study))
    return state


def _files(folder: Path) -> set[Path]:
    """Every file and folder below `folder`, but the dataset check's cache (a passed scan is not a result)."""
    paths = {p.relative_to(folder) for p in folder.rglob("*")}
    return {p for p in paths if p != CACHE and p not in CACHE.parents and CACHE not in p.parents}


def test_table_covers_every_command_that_works_on_a_study():
    assert len(BAD_INPUT) >= 20 and len({case[0] for case in BAD_INPUT}) == len(BAD_INPUT)
    covered = {command.split()[0] for _, command, _ in BAD_INPUT}
    # `space` has its own table (test_config.py), `data synth` its own cases (test_synth_data.py)
    assert covered == {command.name for command in COMMANDS} - {"space"}


@pytest.mark.parametrize("case_id,command,expected", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_fails_in_one_line_and_changes_nothing(world, case_id, command, expected, capsys, monkeypatch):
    values = {**world, "port": _closed_port(), "locked": _unwritable_folder(world["dir"])}
    values["reldir"] = str(world["dir"]).lstrip("/")
    if "{locked}" in command and values["locked"] is None:
        pytest.skip("no folder here is unwritable for this user (root, and /proc/sys is writable)")
    argv = [part.format(**values) for part in command.split()]
    expected = [text.format(**values) for text in expected]
    monkeypatch.chdir(world["dir"])
    before = (_storage_state(world), _files(world["dir"]))
    if case_id in SUBPROCESS_CASES:  # the real entry point, output exactly as a user sees it
        done = subprocess.run(
            [sys.executable, "-m", "shapenas.cli", *argv], capture_output=True, text=True, timeout=300
        )
        code, stderr = done.returncode, done.stderr
        assert done.stdout == ""
    else:
        code, stderr = main(argv), capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(f"shapenas {argv[0]}: error: "), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert (_storage_state(world), _files(world["dir"])) == before


def test_debug_raises_bad_input_with_its_traceback(world, monkeypatch):
    monkeypatch.chdir(world["dir"])
    with pytest.raises(UserError, match=r"--storage 'redis://localhost/0'"):
        main(["--debug", "pareto", "--storage", "redis://localhost/0"])


def test_a_dataset_download_script_is_never_run(tmp_path, tiny_data, capsys, monkeypatch):
    """Ultralytics runs a data YAML's `download:` script when images are missing; a study's stored `data` could point
    any worker at such a YAML, so shapenas reports the missing images instead."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "PWNED"
    info = yaml.safe_load(Path(tiny_data).read_text())
    info.update(path=str(Path(tiny_data).parent), val="images/gone", download=f"open({str(marker)!r}, 'w')")
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump(info))
    assert main(["search", str(_config(tmp_path, "scripted", data)), "--storage", f"sqlite:///{tmp_path}/s.db"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("shapenas search: error: data: ") and "images not found" in line and "\n" not in line
    assert not marker.exists() and not (tmp_path / "s.db").exists()
