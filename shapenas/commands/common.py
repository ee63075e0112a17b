"""Arguments and helpers shared by the commands that work on a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapenas.config import Config, require_data
from shapenas.errors import UserError
from shapenas.search.storage import DEFAULT_RETRY_SECONDS, DEFAULT_RUN_ROOT, open_storage
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


def add_storage_retry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-retry",
        metavar="S",
        type=float,
        default=DEFAULT_RETRY_SECONDS,
        help="seconds to wait for a storage that stopped answering before giving up with exit code 75; training "
        f"goes on meanwhile, and a result it could not write is saved locally (default {DEFAULT_RETRY_SECONDS})",
    )


def check_storage_retry(args: argparse.Namespace) -> None:
    if not args.storage_retry >= 0:  # also refuses nan
        raise UserError(f"--storage-retry: expected a number of seconds >= 0, got {args.storage_retry:g}")


def run_dir(study_name: str) -> Path:
    return DEFAULT_RUN_ROOT / study_name


def open_existing_study(args: argparse.Namespace, heartbeat: int = 30):
    """(study, config) for commands that read or continue a study; `UserError` when it is not there."""
    storage = open_storage(args.storage, heartbeat, create=False)
    return load_existing(storage, args.study)


def open_study_to_run(args: argparse.Namespace):
    """(study, config, storage) for commands that run trials (`--heartbeat`, `--storage-retry`)."""
    check_storage_retry(args)
    storage = open_storage(args.storage, args.heartbeat, create=False, retry_seconds=args.storage_retry)
    return (*load_existing(storage, args.study), storage)


def checked_data(config: Config) -> str:
    """The dataset YAML of a command that trains, checked image by image before any trial starts."""
    from shapenas.data.check import check_dataset

    data = require_data(config)
    check_dataset(data)
    return data
