"""Arguments and helpers shared by the commands that work on a study.

Command modules import only argparse and this module at the top, so `shapenas --help` loads no torch, Ultralytics or
Optuna; what a command needs to run is imported inside it.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from shapenas.errors import UserError
from shapenas.files import RUN_ROOT
from shapenas.search.fleet import DEFAULT_RETRY_SECONDS, GRACE_BEATS, HEARTBEAT_SECONDS

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
        default=HEARTBEAT_SECONDS,
        help="seconds between the heartbeats of a running trial (or parent, verify job); silent for "
        f"{GRACE_BEATS}x that, it is failed and retried by another process (default {HEARTBEAT_SECONDS})",
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
    return RUN_ROOT / study_name


def print_front(study, config, rows=None) -> None:
    """The study's Pareto front as a table on stdout, under one header: what `pareto` prints and `search`, `resume`
    and `worker` end with. `rows`: the front when computed already."""
    from shapenas.search.results import Objectives, pareto, record
    from shapenas.text import count

    rows, objectives = pareto.front(study) if rows is None else rows, Objectives.of(config)
    costs = " and ".join(objectives.names[1:])
    trained = count(len(record.trained(study)), "trained trial")
    print(f"Pareto front of study {study.study_name!r} ({len(rows)} of {trained}): mAP50-95 up, {costs} down")
    print(pareto.table(rows, objectives) if rows else "(no trained trials yet)")
    if rows:
        print("\n".join(pareto.noise_notes(study, rows)))


def add_artifacts_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        metavar="DIR|s3://BUCKET",
        help="where the study keeps the files every machine needs (its parent checkpoint, each trial's weights and "
        "YAML): a folder (shared by the machines) or s3://BUCKET; default: the one the study was created with, else "
        "runs/shapenas/artifacts",
    )


def open_existing_study(args: argparse.Namespace):
    """(study, config) for commands that read a study; `UserError` when it is not there."""
    from shapenas.search.fleet import open_storage
    from shapenas.search.loop import load_existing

    return load_existing(open_storage(args.storage, create=False), args.study)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of every command that trains on a study: which study, its heartbeat, artifacts, storage retry."""
    add_study_arguments(parser)
    add_heartbeat_argument(parser)
    add_artifacts_argument(parser)
    add_storage_retry_argument(parser)


def run_storage(args: argparse.Namespace, create: bool = False):
    """The storage of a command that trains (`--heartbeat`, `--storage-retry`): trials, pending results and the
    parent all go through it."""
    from shapenas.search.fleet import open_storage

    check_storage_retry(args)
    return open_storage(args.storage, args.heartbeat, create=create, retry_seconds=args.storage_retry)


def open_study_and_storage(args: argparse.Namespace):
    """(study, config, storage) of an existing study, for the commands that train on it."""
    from shapenas.search.loop import load_existing

    storage = run_storage(args)
    return (*load_existing(storage, args.study), storage)


def upload_pending(study, storage) -> None:
    """Results a process of this folder saved while the storage was away are written first
    (`search.fleet.pending`): their trials are RUNNING, not dead, and making a parent may take a while. Nothing is
    written twice."""
    from shapenas.search.fleet import pending_folder, upload_pending

    upload_pending(study, storage, pending_folder(run_dir(study.study_name)))


def study_context(args: argparse.Namespace, study, config: Config, storage, data: str):
    """The `StudyContext` a command trains on, built once: the pending results written first (`upload_pending`), then
    the study's artifact store opened and its parent prepared (made first if the study has none; None when candidates
    train from scratch)."""
    from shapenas.search.loop import StudyContext, prepare_parent

    upload_pending(study, storage)
    store = artifact_store(study, args)
    folder = run_dir(study.study_name)
    context = StudyContext(study, storage, config, data, folder, store, heartbeat_seconds=args.heartbeat)
    return dataclasses.replace(context, parent=prepare_parent(context))


def artifact_store(study, args: argparse.Namespace):
    """The store the study keeps shared files in (--artifacts, else the study's own location, else the default)."""
    from shapenas.search.results import location_of, open_artifact_store

    return open_artifact_store(location_of(study, getattr(args, "artifacts", None)))


def total_trials(args: argparse.Namespace, config: Config) -> int:
    """Finished trials to reach: `--trials N`, else the study's budget."""
    return args.trials if args.trials is not None else config.search.trials


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
