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


def open_existing_study(args: argparse.Namespace, heartbeat: int = 30):
    """(study, config) for commands that read or continue a study; `UserError` when it is not there."""
    from shapenas.search.storage import open_storage
    from shapenas.search.study import load_existing

    storage = open_storage(args.storage, heartbeat, create=False)
    return load_existing(storage, args.study)


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
