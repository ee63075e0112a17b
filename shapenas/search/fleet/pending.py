"""A trial's end on its way to the storage, and the local file it waits in when the storage stays away.

`deliver` writes a trial's end (its state, values and attributes) once the storage answers:
- the trial is still RUNNING: its attributes are written and it is told its state, as if nothing had happened;
- another process failed it meanwhile (silent lease, candidate queued again): that FAIL stays; a COMPLETE result
  is kept for the candidate's retry (`orphans`);
- it is already finished otherwise (an earlier upload): nothing is written twice.

When the storage does not answer within the retry window, the end is saved to
`runs/shapenas/<study>/pending/trial_NNNN_<start>.json` and the process exits 75. The next `worker`, `resume` or
`search` on that study started in the same folder calls `upload_pending` first. A file is claimed by renaming it, so
two processes starting together never upload one result twice, and deleted once written. A trial given up before it
had a result is saved too ("FAIL, queue its candidate again"), so it is not left RUNNING.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from shapenas.files import write_text_atomic
from shapenas.search.fleet import orphans
from shapenas.search.fleet.coordination import queue_again
from shapenas.search.fleet.retrying import RetryingStorage

WRITTEN, KEPT_FOR_RETRY, ALREADY_FINISHED = "written", "kept for the retry of its candidate", "not written (finished)"
_SETTERS = {"user": "set_trial_user_attr", "system": "set_trial_system_attr"}


@dataclass
class TrialEnd:
    """How one trial ended, with everything that must reach the storage; JSON-able, nothing in it runs code."""

    study: str
    number: int
    started: str  # the trial's datetime_start, ISO: tells this trial from a same-numbered one in another storage
    state: str  # a TrialState name
    values: list[float] | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    writes: list[list[Any]] = field(default_factory=list)  # [kind, key, value] not written yet ("user"/"system")
    requeue: bool = False  # no result: queue the candidate again once the trial is failed

    @classmethod
    def of(cls, study_name: str, trial: optuna.Trial, state: TrialState, values=None, writes=(), requeue=False):
        """`trial`'s end; `writes`: what the storage has not been told yet (every other attribute has been)."""
        user_attrs = trial.user_attrs
        user_attrs.update({key: value for kind, key, value in writes if kind == "user"})
        start = trial.datetime_start.isoformat()
        return cls(study_name, trial.number, start, state.name, values, user_attrs, [list(w) for w in writes], requeue)


def _write_and_tell(study: optuna.Study, storage: RetryingStorage, trial_id: int, end: TrialEnd) -> None:
    try:
        for kind, key, value in end.writes:
            getattr(storage, _SETTERS[kind])(trial_id, key, value)
        study.tell(end.number, end.values, TrialState[end.state], skip_if_finished=True)
    except UpdateFinishedTrialError:
        pass  # another process finished it first; the caller reads what is stored


def deliver(study: optuna.Study, storage: RetryingStorage, end: TrialEnd, trial_id: int | None = None) -> str:
    """Write `end` to the storage (see the module's docstring); what happened. `StorageUnavailable` past the window."""
    trial_id = storage.trial_id(study.study_name, end.number) if trial_id is None else trial_id
    stored = storage.get_trial(trial_id)
    if stored.datetime_start is None or stored.datetime_start.isoformat() != end.started:
        raise ValueError(f"trial {end.number} of study {study.study_name!r} in this storage is another trial")
    if stored.state == TrialState.RUNNING:
        _write_and_tell(study, storage, trial_id, end)
        stored = storage.get_trial(trial_id)
        if stored.state.name == end.state and stored.values == end.values:
            if end.requeue:
                queue_again(study, stored)
            return WRITTEN
    if stored.state == TrialState.FAIL and end.state == TrialState.COMPLETE.name:
        if orphans.keep(study, end.number, end.values, end.user_attrs):
            return KEPT_FOR_RETRY
    return ALREADY_FINISHED


def pending_folder(run_dir: Path) -> Path:
    return Path(run_dir) / "pending"


def save(end: TrialEnd, folder: Path) -> Path:
    """Write `end` to a file of its own in `folder`, whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(end.started).strftime("%Y%m%dT%H%M%S%f")
    return write_text_atomic(folder / f"trial_{end.number:04d}_{stamp}.json", json.dumps(asdict(end)), "pending")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(folder: Path) -> list[tuple[Path, Path]]:
    """(claimed path, original path) for every pending file no live process is uploading; renamed to claim it."""
    claimed = []
    for path in sorted(folder.glob("trial_*.json*")):
        original = path.with_name(path.name.split(".json")[0] + ".json")
        if path != original:  # claimed by another process: take it over only when that process is gone
            pid = path.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or _alive(int(pid)):
                continue
        mine = original.with_name(f"{original.name}.claimed-{os.getpid()}")
        try:
            os.rename(path, mine)
        except FileNotFoundError:
            continue  # another process claimed it first
        claimed.append((mine, original))
    return claimed


def _read(path: Path) -> TrialEnd:
    """The end saved in `path`; `ValueError` when it is not one. JSON only: nothing read here runs code."""
    try:
        return TrialEnd(**json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a pending result ({error})") from None


def upload_pending(study: optuna.Study, storage: RetryingStorage, folder: Path, stream=None) -> None:
    """Write the results saved in `folder` for this study before anything else; nothing written twice."""
    stream = stream or sys.stderr
    for mine, original in _claim(folder) if folder.is_dir() else []:
        try:
            end = _read(mine)
            if end.study != study.study_name:
                raise ValueError(f"it belongs to study {end.study!r}")
            outcome = deliver(study, storage, end)
        except ValueError as error:  # not this study's trial, or not a pending result at all
            os.rename(mine, original)
            print(f"pending result {original.name} left alone: {error}", file=stream)
            continue
        except BaseException:
            os.rename(mine, original)
            raise
        mine.unlink()
        print(f"pending result of trial {end.number} ({end.state}): {outcome}", file=stream, flush=True)
