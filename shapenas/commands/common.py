"""Arguments and helpers shared by the commands that work on a study.

Command modules import only argparse and this module at the top, so `shapenas --help` loads no torch, Ultralytics or
Optuna; what a command needs to run is imported inside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from shapenas.files import RUN_ROOT

if TYPE_CHECKING:
    from shapenas.config import Config


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage", metavar="URL", help=f"Optuna storage URL (default: sqlite:///{RUN_ROOT / 'shapenas.db'})"
    )
    parser.add_argument(
        "--study", metavar="NAME", help="study name (default: the config file's name, or the only study)"
    )


def add_heartbeat_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heartbeat",
        metavar="S",
        type=int,
        default=30,
        help="seconds between a running trial's heartbeats; after 2x without one the trial is failed "
        "and retried (RDB storages)",
    )


def run_dir(study_name: str) -> Path:
    return RUN_ROOT / study_name


def print_front(study) -> None:
    """The study's Pareto front as a table on stdout: what `search`, `resume` and `worker` end with."""
    from shapenas.search import pareto

    rows = pareto.front(study)
    print(f"Pareto front of study {study.study_name!r} ({len(rows)} trials): mAP50-95 up, GFLOPs down")
    print(pareto.table(rows) if rows else "(no trained trials yet)")


def add_artifacts_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        metavar="DIR|s3://BUCKET",
        help="where the study keeps the files every machine needs (its parent checkpoint): a folder (shared by the "
        "machines) or s3://BUCKET; default: the one the study was created with, else runs/shapenas/artifacts",
    )


def open_existing_study(args: argparse.Namespace, heartbeat: int = 30):
    """(study, config) for commands that read or continue a study; `UserError` when it is not there."""
    study, config, _ = open_study_and_storage(args, heartbeat)
    return study, config


def open_study_and_storage(args: argparse.Namespace, heartbeat: int = 30):
    """(study, config, storage) for commands that train: the parent is made through the same storage."""
    from shapenas.search.storage import open_storage
    from shapenas.search.study import load_existing

    storage = open_storage(args.storage, heartbeat, create=False)
    return (*load_existing(storage, args.study), storage)


def prepared_parent(study, storage, config: Config, data: str, args: argparse.Namespace):
    """The parent candidates start from (`proxy.init: parent`), made first if the study has none; else None."""
    from shapenas.search.parent import prepare_parent

    return prepare_parent(study, storage, config, data, run_dir(study.study_name), args.artifacts)


def checked_data(config: Config) -> str:
    """The dataset YAML of a command that trains, checked image by image, and the proxy's device checked to be on
    this machine: both before any trial starts or any study is created."""
    from shapenas.config import require_data
    from shapenas.data.check import check_dataset
    from shapenas.devices import check_device

    data = require_data(config)
    check_dataset(data)
    check_device(config.proxy.device)
    return data
