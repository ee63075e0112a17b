"""The parent every candidate starts from (`proxy.init: parent`), made once per study and shared by every process.

`proxy.parent` is either the user's trained checkpoint of the base (checked against the base's architecture before
anything runs) or `train`: the base trained on the search's data for `proxy.parent_epochs` with `proxy.parent_args`.
Either way the checkpoint goes into the study's artifact store and the study records it as its user attribute
`parent` (source, SHA-256, artifact id), so a resumed study and every worker, on any machine, use the very same file.

Made once: the processes that need the parent claim the job `parent` in a small companion study
(`<study>:shapenas-parent`, see `shapenas.search.fleet.claims`): one makes it, the others wait for the study's `parent`
attribute, and a maker that dies (its claim's lease goes silent, `shapenas.search.fleet.lease`) is taken over by the
next waiting process, on every storage.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch

from shapenas.errors import UserError
from shapenas.search.fleet.claim_attrs import parent_companion
from shapenas.search.fleet.claims import Claims
from shapenas.search.loop.context import StudyContext
from shapenas.search.results import artifacts
from shapenas.search.results.study_attrs import PARENT_ATTR, PARENT_OF_ATTR, FlatRecord
from shapenas.text import count


def check_parent_file(path: str, base_model, base_name: str) -> None:
    """`UserError` naming `proxy.parent` when the file is missing, unreadable, or not a checkpoint of the base."""
    from shapenas.ultralytics.checkpoint import first_difference, load_detection_model

    try:
        model = load_detection_model(path)
    except ValueError as error:
        raise UserError(f"proxy.parent {path!r}: {error}") from None
    difference = first_difference(model, base_model)
    if difference is not None:
        raise UserError(f"proxy.parent {path!r}: not a checkpoint of the base {base_name}: {difference}")


@dataclass(frozen=True)
class ParentRecord(FlatRecord):
    """The study attribute `parent`: where the checkpoint came from (a file's path, or `train` with its epochs, score
    and seconds) and the artifact that holds it (id, file name, SHA-256). Written and read here only; JSON only."""

    source: str
    artifact_id: str | None = None
    name: str | None = None
    sha256: str | None = None
    epochs: int | None = None
    map50_95: float | None = None
    seconds: float | None = None
    epoch_map50_95: list | None = None  # the curve's last epochs show the validation's own noise

    def stored_file(self) -> dict:
        """The artifact's record as `search.results.artifacts` fetches it."""
        return {"artifact_id": self.artifact_id, "name": self.name, "sha256": self.sha256}


def read_parent(study: optuna.Study) -> ParentRecord | None:
    stored = study.user_attrs.get(PARENT_ATTR)
    return ParentRecord.from_attr(stored) if isinstance(stored, dict) else None


def train_parent(config, data: str, folder: Path) -> tuple[Path, ParentRecord]:
    """Train the base on `data` for `proxy.parent_epochs` with `proxy.parent_args` (the proxy's size, batch, seed and
    device); returns the checkpoint and a record of it (epochs, mAP50-95, seconds)."""
    from shapenas.evaluators import EpochMetrics, Job, ProxyTrainer
    from shapenas.spaces import SearchSpace
    from shapenas.ultralytics.build import model_file_stem

    space = SearchSpace(config)
    model_yaml = {**space.render(space.baseline()), "nc": _class_count(data)}
    epochs = config.proxy.parent_epochs
    proxy = dataclasses.replace(config.proxy, init="scratch", epochs=epochs, train_args=config.proxy.parent_args)
    about = f"{config.base} for {count(epochs, 'epoch')}"
    print(f"parent: training {about} on the search's data (once per study)", file=sys.stderr)
    name = model_file_stem(config.base, config.scale)
    started = time.perf_counter()

    def on_epoch(epoch: int, metrics: EpochMetrics) -> None:
        elapsed = time.perf_counter() - started
        print(f"[{elapsed:6.0f}s] parent: epoch {epoch}/{epochs} mAP50-95 {metrics.map50_95:.4f}", file=sys.stderr)

    result = ProxyTrainer(proxy, data).evaluate(Job(model_yaml, folder / "parent", name, on_epoch))
    print(f"parent: mAP50-95 {result.map50_95:.4f} after {count(epochs, 'epoch')} (its best epoch)", file=sys.stderr)
    record = ParentRecord("train", epochs=epochs, map50_95=result.map50_95, seconds=result.train_seconds)
    return Path(result.weights), dataclasses.replace(record, epoch_map50_95=result.epoch_map50_95)


def _make(context: StudyContext) -> tuple[Path, ParentRecord]:
    """The parent checkpoint on this machine and what to record about where it came from."""
    source = context.config.proxy.parent
    if source != "train":
        return Path(source), ParentRecord(source)
    return train_parent(context.config, context.data, context.run_dir)


def _class_count(data: str) -> int:
    from shapenas.data.check import class_count

    return class_count(data)


def _make_once(context: StudyContext) -> None:
    """Make the parent unless it exists, as the one process that claims the job; the others wait for it."""
    study = context.study

    def make() -> dict:
        path, made = _make(context)
        stored = dataclasses.replace(made, **artifacts.upload(context.store, study, path)).to_attr()
        study.set_user_attr(PARENT_ATTR, stored)
        return stored

    def waiting(number: int) -> None:
        print(f"parent: waiting for another process to make it (claim {number})", file=sys.stderr, flush=True)

    claims = Claims(context.storage, parent_companion(study.study_name), context.heartbeat_seconds)
    claims.study.set_user_attr(PARENT_OF_ATTR, study.study_name)
    claims.once("parent", make, finished=lambda: study.user_attrs.get(PARENT_ATTR), on_wait=waiting)


def ensure_parent(context: StudyContext) -> Path:
    """The study's parent checkpoint on this machine; made first (once over all processes) if the study has none."""
    if read_parent(context.study) is None:
        _make_once(context)
    record = read_parent(context.study)
    destination = context.run_dir / f"parent-{record.sha256[:12]}.pt"
    try:
        return artifacts.fetch(context.store, record.stored_file(), destination)
    except (OSError, ValueError) as error:
        raise UserError(f"study {context.study.study_name!r}: cannot fetch its parent ({error})") from None


@dataclass(frozen=True)
class Parent:
    """What a process needs to start candidates from the parent: the model, probe images, and the study's record."""

    model: torch.nn.Module
    probe: torch.Tensor
    record: ParentRecord


def _base_model(config, data: str):
    from shapenas.spaces import SearchSpace
    from shapenas.ultralytics.build import build_model

    space = SearchSpace(config)
    return build_model({**space.render(space.baseline()), "nc": _class_count(data)})


def check_parent_config(config, data: str) -> None:
    """Before a study is created: a `proxy.parent` file must be a checkpoint of the base (`UserError` otherwise)."""
    if config.proxy.init == "parent" and config.proxy.parent != "train":
        check_parent_file(config.proxy.parent, _base_model(config, data), config.base)


def prepare_parent(context: StudyContext) -> Parent | None:
    """The study's `Parent` (made first if needed), or None when candidates train from scratch."""
    if context.config.proxy.init != "parent":
        return None
    from shapenas.ultralytics.checkpoint import load_detection_model
    from shapenas.ultralytics.images import probe_batch

    path = ensure_parent(context)
    try:
        model = load_detection_model(path)
    except ValueError as error:
        raise UserError(
            f"study {context.study.study_name!r}: its parent {str(path)!r} cannot be read ({error})"
        ) from None
    return Parent(model, probe_batch(context.data, context.config.proxy.imgsz), read_parent(context.study))
