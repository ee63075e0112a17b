"""shapenas's exception hierarchy, and the one-line form of an error that the CLI and stored trials show.

Every exception shapenas raises on purpose derives from `ShapenasError`:
- `UserError` (here): bad input; the CLI prints its one-line message and exits with code 2.
- `BuildError` (`shapenas.ultralytics.build`): a custom YAML row cannot be built with the channels it gets.
- `EvaluationFailed` (`shapenas.evaluators.base`): a candidate could not be scored; the trial fails with the reason.
- `OverBudget` (`shapenas.search.fleet.coordination`): a trial asked for after the budget was claimed; failed untrained.
- `StorageUnavailable` (`search.fleet.outage`): the storage stayed away past `--storage-retry`; the CLI prints one
  line and exits with code 75 (what was finished is saved locally).
- `InheritanceLost` (`shapenas.ultralytics.inherit`): `train` from a parent, but the trainer did not start from the
  inherited weights (also a `RuntimeError`, as it was before it joined this hierarchy).

Anything else that escapes is a bug, and keeps its traceback.
"""

from __future__ import annotations


class ShapenasError(Exception):
    """Base of the exceptions shapenas raises on purpose."""


class UserError(ShapenasError):
    """Bad input from the user: a config value, a path, a storage URL, a study name, a model YAML.

    The message must name the bad value; the CLI prints it on one line, without a traceback.
    """


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (its type name when the message is empty).

    Ultralytics decorates some messages with a '❌' marker; it is dropped.
    """
    for line in str(error).replace("❌", "").splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
