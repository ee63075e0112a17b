"""An Optuna storage that waits out outages: Optuna's public `BaseStorage` interface, by delegation.

Every call goes to the wrapped storage and is retried while the storage is away (`shapenas.search.fleet.outage`), so the
study, its samplers and our own code never see a database restart, only a pause. Two exceptions to "wait":

- Writes to the trial this process is running (`owning(trial_id)`) never wait: they are tried once and, when the
  storage does not answer, queued. The next write to that trial takes the queued ones along, in order; what is still
  queued at the trial's end goes into its `TrialEnd` (`queued()`), which `shapenas.search.fleet.pending.deliver` writes,
  waiting like any call. Training goes on through an outage, and an attribute set during it is kept (Optuna's `Trial`
  caches it too).
- Finishing a trial is made idempotent: if a retried `set_trial_state_values` finds the trial already finished
  exactly as asked, the first try did get through before the connection dropped.

It also holds the facts of how `open_storage` configured it (`url`, `heartbeat_seconds`, its `outage`): the code
that needs them takes a `RetryingStorage` and reads them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Container, Sequence
from typing import Any, Iterator

from optuna.distributions import BaseDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from shapenas.search.fleet.outage import Outage, is_transient

Write = tuple[str, str, Any]  # ("user" or "system", key, value): one attribute write to the owned trial
_SETTERS = {"user": "set_trial_user_attr", "system": "set_trial_system_attr"}


class RetryingStorage(BaseStorage):
    """`inner`, waited for while it is away; give this object (not `inner`) to `optuna.create_study`/`load_study`.

    **Thread safety**: as Optuna requires of a storage. The lease threads share it with the trial's thread; the
    owned trial and its queue are read and changed under one lock, which is also held while the queue is written
    (one try per write), so writes to the owned trial keep their order whichever thread makes them. Every other call
    goes straight to `inner`, which is thread-safe itself.

    **Caching**: for an RDB, `inner` is Optuna's cached storage (`optuna.storages.get_storage`), as `create_study`
    would build it from a URL: a finished trial is read once and then kept (finished trials never change), so each
    poll reads only the trials that are new or still running (a lease's beats, written to running trials, are seen).
    Handing this wrapper to Optuna skips Optuna's own wrapping, hence here.
    """

    def __init__(self, inner: BaseStorage, url: str, heartbeat_seconds: float, outage: Outage):
        self.inner, self.url, self.outage = inner, url, outage
        self.heartbeat_seconds = heartbeat_seconds  # the lease period of the trials run on it (`fleet.lease`)
        self._lock = threading.RLock()
        self._owned: int | None = None
        self._queued: list[Write] = []

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.inner, name)
        return self.outage.call(lambda: method(*args, **kwargs))

    # --- the trial this process runs ---

    def trial_id(self, study_name: str, number: int) -> int:
        return self.get_trial_id_from_study_id_trial_number(self.get_study_id_from_name(study_name), number)

    @contextlib.contextmanager
    def owning(self, trial_id: int) -> Iterator[None]:
        """Within the block, writes to `trial_id` never wait for the storage (see the module's docstring); what is
        still queued when it ends must be taken with `queued()` inside it."""
        with self._lock:
            self._owned, self._queued = trial_id, []
        try:
            yield
        finally:
            with self._lock:
                self._owned, self._queued = None, []

    def queued(self) -> list[Write]:
        """The owned trial's attribute writes that have not reached the storage yet, oldest first."""
        with self._lock:
            return list(self._queued)

    def _write_owned(self, kind: str, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            owned = trial_id == self._owned
            if owned:
                self._queued.append((kind, key, value))
                self._write_queue(trial_id)
        if not owned:
            self._call(_SETTERS[kind], trial_id, key, value)

    def _write_queue(self, trial_id: int) -> None:
        """Under the lock: the queue, in order, one try each; stops at the first write that does not get through."""
        while self._queued:
            kind, key, value = self._queued[0]
            try:
                getattr(self.inner, _SETTERS[kind])(trial_id, key, value)
            except UpdateFinishedTrialError:
                return  # another process failed this trial during an outage: the trial's end sorts it out
            except Exception as error:
                if not is_transient(error):
                    self._queued.pop(0)
                    raise
                self.outage.lost(error)
                return
            self.outage.found()
            self._queued.pop(0)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write_owned("user", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write_owned("system", trial_id, key, value)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        tries = []

        def attempt() -> bool:
            tries.append(1)
            return self.inner.set_trial_state_values(trial_id, state, values)

        try:
            return self.outage.call(attempt)
        except UpdateFinishedTrialError:
            stored = self.get_trial(trial_id)
            if len(tries) > 1 and stored.state == state and stored.values == (list(values) if values else None):
                return True  # our earlier try was written; only its answer was lost
            raise

    # --- everything else: plain delegation, retried ---

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        return self._call("create_new_study", directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self._call("delete_study", study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._call("get_study_id_from_name", study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._call("get_study_name_from_id", study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._call("get_study_directions", study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._call("get_study_user_attrs", study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._call("get_study_system_attrs", study_id)

    def get_all_studies(self) -> list:
        return self._call("get_all_studies")

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self._call("create_new_trial", study_id, template_trial)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: BaseDistribution
    ) -> None:
        self._call("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._call("get_trial_id_from_study_id_trial_number", study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._call("get_trial_number_from_id", trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        return self._call("get_trial_param", trial_id, param_name)

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self._call("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._call("get_trial", trial_id)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._call("get_all_trials", study_id, deepcopy=deepcopy, states=states)

    def get_n_trials(self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None) -> int:
        return self._call("get_n_trials", study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self._call("get_best_trial", study_id)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        return self._call("get_trial_params", trial_id)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return self._call("get_trial_user_attrs", trial_id)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return self._call("get_trial_system_attrs", trial_id)

    def remove_session(self) -> None:
        self.inner.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        self.inner.check_trial_is_updatable(trial_id, trial_state)
