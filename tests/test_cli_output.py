"""What the CLI prints (issue 21, item 10): one header over the front for `pareto` and for the end of a search; an
unknown option named with its command and the closest option; `--debug` after the command; counts of one in the
singular; verify's `--trials` said to take trial numbers."""

from __future__ import annotations

import optuna
import pytest

from shapenas.cli import main
from shapenas.commands.common import print_front
from shapenas.config import config_from_dict
from shapenas.errors import UserError
from shapenas.search.fleet.storage import open_storage
from shapenas.search.loop.study import create_or_continue
from shapenas.search.verify.jobs import choose
from shapenas.text import count

CONFIG = {"base": "yolov8n.yaml", "space": {"slots": [16]}, "search": {"presets": ["baseline"]}}


def _trial(value: float, gflops: float, key: str, preset: str | None = None) -> optuna.trial.FrozenTrial:
    attrs = {"key": key, "summary": preset or key, "gflops": gflops, "params": 1000, "map50": 0.5}
    return optuna.trial.create_trial(
        values=[value, gflops], user_attrs={**attrs, **({"preset": preset} if preset else {})}
    )


@pytest.fixture
def stored(tmp_path):
    """A study in SQLite: the baseline and a trial it dominates (trained), and a failed trial."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    config = config_from_dict(CONFIG)
    study, _ = create_or_continue(config, open_storage(url), "s")
    study.add_trial(_trial(0.5, 8.0, "base", "baseline"))
    study.add_trial(_trial(0.4, 9.0, "other"))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    return url, study, config


def test_pareto_and_the_end_of_a_search_print_the_front_under_one_header(stored, capsys):
    url, study, config = stored
    assert main(["pareto", "--storage", url, "--study", "s"]) == 0
    from_pareto = capsys.readouterr().out.splitlines()
    print_front(study, config)
    from_search = capsys.readouterr().out.splitlines()
    header = "Pareto front of study 's' (1 of 2 trained trials): mAP50-95 up, GFLOPs@640 down"
    assert from_pareto[0] == from_search[0] == header
    assert from_pareto[1] == from_search[1] and from_pareto[1].startswith("trial  mAP50-95")


def test_an_unknown_option_names_its_command_and_the_closest_option(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["pareto", "--plt", "front.png"])
    assert exit.value.code == 2
    expected = "shapenas pareto: error: unrecognized arguments: --plt front.png (did you mean --plot?)"
    assert capsys.readouterr().err.splitlines() == [expected]
    with pytest.raises(SystemExit):
        main(["pareto", "--zzzz"])
    assert capsys.readouterr().err.strip() == "shapenas pareto: error: unrecognized arguments: --zzzz"


def test_debug_is_accepted_after_the_command_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = ["pareto", "--storage", "redis://localhost/0"]
    assert main(bad) == 2 and len(capsys.readouterr().err.splitlines()) == 1
    for argv in (["--debug", *bad], [*bad, "--debug"]):
        with pytest.raises(UserError, match="--storage 'redis://localhost/0'"):
            main(argv)


def test_counts_of_one_are_singular():
    assert (count(1, "epoch"), count(2, "epoch"), count(0, "seed")) == ("1 epoch", "2 epochs", "0 seeds")
    assert (count(1, "study", "studies"), count(3, "study", "studies")) == ("1 study", "3 studies")


def test_verify_trials_says_it_takes_trial_numbers(stored, capsys):
    url, study, _ = stored
    with pytest.raises(UserError, match=r"^--trials 7: .*; --trials takes trial numbers \(--top K: the K best\)$"):
        choose(study, False, [7], None)
    assert main(["verify", "--storage", url, "--study", "s", "--trials", "a,b", "--epochs", "1"]) == 2
    line = capsys.readouterr().err.strip()
    assert line == (
        "shapenas verify: error: --trials: expected trial numbers such as 3,7,9, got 'a,b' (not a count as in "
        "search's --trials N; --top K picks the K best)"
    )
