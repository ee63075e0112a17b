"""What every step of a command that runs trials works on: one study and its surroundings, built once by the command
(`shapenas.commands.common.study_context`) and passed down to the parent, the noise runs, the trial loop and verify."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapenas.config import Config


@dataclass(frozen=True)
class StudyContext:
    """`storage`: the one `study` lives in (a `fleet.retrying.RetryingStorage`); `data`: the checked dataset YAML;
    `run_dir`: this machine's folder for the study's runs; `store`: the artifact store for the files every machine
    needs (None: kept on this machine only); `parent`: the `search.loop.parent.Parent` candidates start from (None:
    from scratch, or not prepared yet); `heartbeat_seconds`: between the beats of this process's claims (None: the
    storage's lease period)."""

    study: Any
    storage: Any
    config: Config
    data: str
    run_dir: Path
    store: Any = None
    parent: Any = None
    heartbeat_seconds: float | None = None
