"""A trial's files on any machine: its model YAML (checked before anything builds it) and its trained weights.

The objective puts both into the study's artifact store (`shapenas.search.artifacts`) and records them on the trial
(user attribute `artifacts`: name -> artifact id, file name, SHA-256), so `export --weights`, `verify` and
`train --study` work wherever the storage and the artifact location are reachable; optuna-dashboard lists them on
the trial. Studies made before that keep only `weights`, a path on the worker's disk, which still works there.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import optuna
import yaml

from shapenas.errors import UserError
from shapenas.search import artifacts

ARTIFACTS_ATTR = "artifacts"
_ACTIVATION = re.compile(r"(torch\.)?nn\.[A-Z][A-Za-z0-9]*\(\)")


def checked_model_yaml(model, where: str) -> dict:
    """`model` when it is a model YAML that builds without running code; else `UserError` naming `where` and the bad
    part. Ultralytics `eval`s `activation` and calls whatever a row's module name resolves to, so both are checked.
    (Interim: the model YAML check of branch `records` supersedes this one.)"""
    from shapenas.modules.registry import MODULES
    from shapenas.ultralytics.layer_names import is_layer_name

    if not isinstance(model, dict) or not all(isinstance(model.get(key), list) for key in ("backbone", "head")):
        raise UserError(f"{where}: not a model YAML (it needs 'backbone' and 'head' lists)")
    activation = model.get("activation")
    if activation and not (isinstance(activation, str) and _ACTIVATION.fullmatch(activation.strip())):
        raise UserError(f"{where}: activation: expected nn.<Activation>() of torch.nn, got {activation!r}")
    for index, row in enumerate(model["backbone"] + model["head"]):
        name = row[2] if isinstance(row, list) and len(row) == 4 else None
        if name not in MODULES and not is_layer_name(name):
            raise UserError(f"{where}: layer {index}: {row!r} does not name a layer class Ultralytics can build")
    return model


def read_model_yaml(text: str, where: str) -> dict:
    try:
        model = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UserError(f"{where}: not valid YAML ({' '.join(str(error).split())})") from None
    return checked_model_yaml(model, where)


def model_yaml_of(trial: optuna.trial.FrozenTrial) -> dict:
    """The trial's rendered model YAML, checked."""
    text = trial.user_attrs.get("yaml")
    if not isinstance(text, str):
        raise UserError(f"trial {trial.number}: holds no model YAML")
    return read_model_yaml(text, f"trial {trial.number}")


def upload_trial_files(store, trial: optuna.Trial, files: dict[str, Path]) -> dict:
    """Put `files` (name -> path; missing ones skipped) into the store, attached to the trial; records them."""
    records = {name: artifacts.upload(store, trial, Path(path)) for name, path in files.items() if path}
    trial.set_user_attr(ARTIFACTS_ATTR, records)
    return records


def fetch_weights(store, trial: optuna.trial.FrozenTrial, destination: Path) -> Path:
    """The trial's trained weights at `destination`: from the artifact store (SHA-256 checked), else from the path
    the worker recorded (studies made before artifacts). `UserError` when neither has them."""
    record = trial.user_attrs.get(ARTIFACTS_ATTR, {}).get("weights")
    if record is not None:
        try:
            return artifacts.fetch(store, record, destination)
        except (OSError, ValueError) as error:
            raise UserError(f"trial {trial.number}: cannot fetch its weights ({error})") from None
    local = trial.user_attrs.get("weights")
    if not local:
        raise UserError(f"trial {trial.number} kept no weights")
    if not Path(local).is_file():
        raise UserError(
            f"trial {trial.number}: its weights are only on the machine that trained it ({local!r}), "
            f"and the study has no artifact of them"
        )
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(local, destination)
    return Path(destination)
