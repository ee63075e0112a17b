"""The exception hierarchy and the one-line form of an error."""

import pytest

from shapenas.errors import ShapenasError, UserError, first_line
from shapenas.evaluators import EvaluationFailed
from shapenas.search.fleet.coordination import OverBudget
from shapenas.search.fleet.outage import StorageUnavailable
from shapenas.ultralytics.build import BuildError
from shapenas.ultralytics.inherit import InheritanceLost


@pytest.mark.parametrize(
    "cls", [UserError, BuildError, EvaluationFailed, OverBudget, StorageUnavailable, InheritanceLost]
)
def test_every_deliberate_error_derives_from_one_base(cls):
    assert issubclass(cls, ShapenasError)


@pytest.mark.parametrize(
    "error,line",
    [
        (ValueError("\n  first  \nsecond"), "first"),
        (FileNotFoundError("data.yaml 'val:' images not found ❌"), "data.yaml 'val:' images not found"),
        (KeyError(), "KeyError"),
        (RuntimeError("   \n"), "RuntimeError"),
    ],
)
def test_first_line(error, line):
    assert first_line(error) == line
