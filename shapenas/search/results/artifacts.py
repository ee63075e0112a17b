"""Files a study shares with every machine (the parent checkpoint; later trial weights) in Optuna's artifact store.

`--artifacts LOCATION`: a folder (Optuna's `FileSystemArtifactStore`; on several machines, a shared filesystem) or
`s3://BUCKET` (Optuna's `Boto3ArtifactStore`, where boto3 is installed and configured). The location a study was
created with is stored in it, so later commands on the same machine need no option. Every file is recorded with its
SHA-256 and checked when it is fetched, so a changed or truncated copy is never used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import optuna
from optuna.artifacts import Boto3ArtifactStore, FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from shapenas.errors import UserError
from shapenas.files import RUN_ROOT
from shapenas.search.results.study_attrs import LOCATION_ATTR

DEFAULT_LOCATION = str(RUN_ROOT / "artifacts")


def open_artifact_store(location: str | None):
    """The store `location` names (default: a folder under runs/shapenas); `UserError` naming it when unusable."""
    location = location or DEFAULT_LOCATION
    if location.startswith("s3://"):
        bucket = location[len("s3://") :].strip("/")
        if not bucket or "/" in bucket:
            raise UserError(f"--artifacts {location!r}: expected s3://BUCKET (objects are named by artifact id)")
        try:
            import boto3
        except ImportError:
            raise UserError(f"--artifacts {location!r}: needs boto3 (pip install boto3)") from None
        return Boto3ArtifactStore(bucket, client=boto3.client("s3"))
    folder = Path(location)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"--artifacts {location!r}: cannot create the folder ({error.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"--artifacts {location!r}: folder is not writable")
    return FileSystemArtifactStore(str(folder))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload(store, study_or_trial, path: Path) -> dict:
    """Put a file in the store, attached to a study or trial; returns its record (artifact id, name, SHA-256)."""
    artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study_or_trial)
    return {"artifact_id": artifact_id, "name": Path(path).name, "sha256": sha256(Path(path))}


def fetch(store, record: dict, destination: Path) -> Path:
    """The stored file at `destination` (kept when already there with the right SHA-256); `ValueError` when the store
    does not have it or its copy does not match."""
    destination = Path(destination)
    if destination.is_file() and sha256(destination) == record["sha256"]:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    os.close(handle)
    try:
        os.unlink(temporary)  # download_artifact refuses to overwrite
        try:
            download_artifact(artifact_store=store, file_path=temporary, artifact_id=record["artifact_id"])
        except ArtifactNotFound:
            raise ValueError(f"artifact {record['artifact_id']} ({record['name']}) is not in the store") from None
        if sha256(Path(temporary)) != record["sha256"]:
            raise ValueError(f"artifact {record['artifact_id']} ({record['name']}) does not match its SHA-256")
        shutil.move(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return destination


def location_of(study: optuna.Study, given: str | None) -> str:
    """The artifact location a command uses: the one given, else the one the study was created with."""
    return given or study.user_attrs.get(LOCATION_ATTR) or DEFAULT_LOCATION


def remember_location(study: optuna.Study, location: str) -> None:
    """Store where the study keeps its files, so later commands (resume, workers) default to the same place."""
    study.set_user_attr(LOCATION_ATTR, location)
