"""Arguments and helpers shared by the commands that work on a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapenas.config import Config, require_data
from shapenas.search.storage import DEFAULT_RUN_ROOT, open_storage
from shapenas.search.study import load_existing


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage", metavar="URL", help="Optuna storage URL (default: sqlite:///runs/shapenas/shapenas.db)"
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
    return DEFAULT_RUN_ROOT / study_name


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
    storage = open_storage(args.storage, heartbeat, create=False)
    return (*load_existing(storage, args.study), storage)


def prepared_parent(study, storage, config: Config, data: str, args: argparse.Namespace):
    """The parent candidates start from (`proxy.init: parent`), made first if the study has none; else None."""
    from shapenas.search.parent import prepare_parent

    return prepare_parent(study, storage, config, data, run_dir(study.study_name), args.artifacts)


def checked_data(config: Config) -> str:
    """The dataset YAML of a command that trains, checked image by image before any trial starts."""
    from shapenas.data.check import check_dataset

    data = require_data(config)
    check_dataset(data)
    return data
