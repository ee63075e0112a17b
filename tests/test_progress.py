"""The search's progress lines: a trial says when it starts training, so the setup before its first epoch is not a
silence (issue 21, item 8); a rejected candidate or a reused twin never trains, so it says nothing of the kind."""

from __future__ import annotations

import io

import optuna

from shapenas.config import config_from_dict
from shapenas.evaluators import Evaluator, Job, ProxyResult
from shapenas.search.loop.context import StudyContext
from shapenas.search.loop.runner import Progress, make_objective
from shapenas.search.results.objectives import Objectives
from shapenas.spaces import SearchSpace


class Logged(Evaluator[ProxyResult]):
    """Stands in for the proxy trainer; writes one line to the progress stream when it starts, as the first epoch
    line would."""

    def __init__(self, stream: io.StringIO):
        self.stream = stream

    def evaluate(self, job: Job) -> ProxyResult:
        self.stream.write(f"proxy trains {job.folder.name}\n")
        return ProxyResult(0.5, 0.7, [0.5], [0.7], train_seconds=0.0, device="cpu", weights=None)


def _run(tmp_path, tiny_data, epochs: int, max_gflops=None) -> list[str]:
    """Progress lines of two trials of the baseline (the second a twin of the first) through the search's objective."""
    config = config_from_dict(
        {
            "base": "yolov8n.yaml",
            "data": str(tiny_data),
            "space": {"slots": [16]},
            "proxy": {"imgsz": 64, "epochs": epochs},
            "cost": {"imgsz": 64},
            "constraints": {"max_gflops": max_gflops},
            "search": {"presets": []},
        }
    )
    space, stream = SearchSpace(config), io.StringIO()
    context = StudyContext(None, None, config, str(tiny_data), tmp_path)
    objective = make_objective(context, space, Progress(2, Objectives.of(config), stream=stream))
    objective.proxy = Logged(stream)
    study = optuna.create_study(directions=Objectives.of(config).directions)
    for _ in range(2):
        study.enqueue_trial(space.to_params(space.baseline()))
    study.optimize(objective, n_trials=2)
    return [line.split("] ", 1)[-1] for line in stream.getvalue().splitlines()]


def test_a_trial_says_it_starts_training_before_the_training_and_a_reused_twin_does_not(tmp_path, tiny_data):
    assert _run(tmp_path, tiny_data, epochs=2) == ["trial 0: training baseline (2 epochs)", "proxy trains trial_0000"]


def test_one_epoch_is_singular_and_a_rejected_candidate_never_says_it_trains(tmp_path, tiny_data):
    one = _run(tmp_path / "one", tiny_data, epochs=1)
    assert one == ["trial 0: training baseline (1 epoch)", "proxy trains trial_0000"]
    assert _run(tmp_path / "rejected", tiny_data, epochs=1, max_gflops=1e-3) == []
