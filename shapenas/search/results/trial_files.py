"""A trial's files on any machine: its model YAML (checked before anything builds it) and its trained weights.

The objective puts both into the study's artifact store (`search.results.artifacts`) and records them on the trial
(user attribute `artifacts`: name -> artifact id, file name, SHA-256), so `export --weights`, `verify` and
`train --study` work wherever the storage and the artifact location are reachable; optuna-dashboard lists them on
the trial. Studies made before that keep only `weights`, a path on the worker's disk, which still works there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import yaml

from shapenas.errors import UserError
from shapenas.search.results import artifacts, record

ARTIFACTS_ATTR = "artifacts"  # the TrialRecord field


def read_model_yaml(text: str | None, where: str) -> dict:
    """The model YAML in `text` once `shapenas.model_yaml` found it safe to build (Ultralytics evaluates its
    activation and calls what its rows name); `UserError` naming `where` otherwise."""
    from shapenas.model_yaml import check_model_yaml

    try:
        model = yaml.safe_load(text or "")
    except yaml.YAMLError:
        raise UserError(f"{where}: not valid YAML") from None
    check_model_yaml(model, where)
    return model


def model_yaml_of(trial: optuna.trial.FrozenTrial) -> dict:
    """The model YAML stored on a trial, checked: the study may be shared, so it is not trusted."""
    return read_model_yaml(record.read(trial).yaml, f"trial {trial.number}'s stored yaml")


def upload_trial_files(store, trial: optuna.Trial, files: dict[str, Path]) -> dict:
    """Put `files` (name -> path; ones not written skipped) into the store, attached to the trial; records them."""
    present = {name: Path(path) for name, path in files.items() if path and Path(path).is_file()}
    records = {name: artifacts.upload(store, trial, path) for name, path in present.items()}
    record.write(trial, artifacts=records)
    return records


def _records(trial: optuna.trial.FrozenTrial) -> dict:
    return record.read(trial).artifacts or {}  # None on a twin of a trial that kept no artifacts


def has_weights(trial: optuna.trial.FrozenTrial) -> bool:
    return bool(_records(trial).get("weights") or record.read(trial).weights)


def fetch_weights(store, trial: optuna.trial.FrozenTrial, destination: Path) -> Path:
    """The trial's trained weights at `destination`: from the artifact store (SHA-256 checked), else from the path
    the worker recorded, when this machine has it (studies made before artifacts, or a store not reachable here).
    `UserError` when neither has them."""
    stored, local = _records(trial).get("weights"), record.read(trial).weights
    problem = "it kept none"
    if stored is not None:
        try:
            return artifacts.fetch(store, stored, destination)
        except (OSError, ValueError) as error:  # not in this store (another location?) or damaged
            problem = f"the artifact store has no good copy ({error}); is --artifacts the study's location?"
    if local and Path(local).is_file():
        Path(destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, destination)
        return Path(destination)
    if local and stored is None:
        problem = f"they are only on the machine that trained it ({local!r}), not in an artifact store"
    raise UserError(f"trial {trial.number}: cannot get its weights: {problem}")
