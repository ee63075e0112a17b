"""A trial that cannot be scored fails with its reason stored, and the study goes on."""

import math
from types import SimpleNamespace

import optuna
import pytest
import torch
from optuna.trial import TrialState

from shapenas.config import config_from_dict
from shapenas.evaluators import CostEvaluator, EvaluationFailed, Evaluator, Job, ProxyResult
from shapenas.evaluators.proxy import _EpochRecorder
from shapenas.search.objective import Objective
from shapenas.spaces import SearchSpace


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_loss_stops_training_with_the_reason(value):
    recorder = _EpochRecorder(Job({}, folder=None))
    trainer = SimpleNamespace(loss=torch.tensor([1.0, value, 2.0]), epoch=1)
    with pytest.raises(EvaluationFailed, match=r"loss became (nan|inf) in epoch 2"):
        recorder.on_train_batch_end(trainer)
    recorder.on_train_batch_end(SimpleNamespace(loss=torch.tensor([1.0, 2.0]), epoch=1))  # finite: goes on


class FailsFirst(Evaluator):
    """Stands in for the proxy trainer: the first candidate's loss diverges, later ones all score mAP50-95 0.5."""

    def __init__(self):
        self.calls = 0

    def evaluate(self, job: Job) -> ProxyResult:
        self.calls += 1
        if self.calls == 1:
            raise EvaluationFailed("loss became nan in epoch 1")
        return ProxyResult(0.5, 0.7, [0.5], [0.7], train_seconds=0.0, device="cpu", weights=None)


def test_failed_trial_keeps_its_reason_and_the_study_goes_on(tmp_path):
    config = config_from_dict(
        {"base": "yolov8n.yaml", "space": {"slots": [16]}, "proxy": {"imgsz": 64}, "search": {"presets": ["baseline"]}}
    )
    space = SearchSpace(config)
    objective = Objective(space, CostEvaluator(64), FailsFirst(), config.constraints, tmp_path)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3, catch=(EvaluationFailed,))
    states = [t.state for t in study.trials]
    assert states[0] == TrialState.FAIL and study.trials[0].user_attrs["fail_reason"] == "loss became nan in epoch 1"
    assert states[1:] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert "gflops" in study.trials[0].user_attrs  # what was measured before the failure is kept


def test_a_build_error_fails_the_candidate_with_the_layer_named(tmp_path):
    from tests.yaml_fixtures import all_modules_yaml

    model_yaml = all_modules_yaml("yolov8n.yaml")
    model_yaml["backbone"][0] = [-1, 1, "SPConv", [64, 3, 2, 0.5]]  # an RGB input cannot be split
    with pytest.raises(EvaluationFailed, match=r"build error: layer 0 SPConv"):
        CostEvaluator(64).evaluate(Job(model_yaml, tmp_path))


@pytest.mark.parametrize(
    "error,reason",
    [
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "CUDA out of memory"),
        (RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"), "CUBLAS"),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"), None),
    ],
    ids=["allocator", "cublas", "not-memory"],
)
def test_out_of_memory_fails_the_candidate_and_other_errors_propagate(tmp_path, monkeypatch, error, reason):
    from ultralytics.engine.model import Model

    from shapenas.evaluators import ProxyTrainer

    def train(self, **kwargs):
        raise error

    monkeypatch.setattr(Model, "train", train)
    config = config_from_dict({"base": "yolov8n.yaml", "space": {"slots": [16]}, "proxy": {"device": "cpu"}})
    job = Job(SearchSpace(config).render(SearchSpace(config).baseline()), tmp_path, "yolov8n")
    trainer = ProxyTrainer(config.proxy, "unused.yaml")
    if reason is None:  # a bug, not a full GPU: it keeps its type and traceback
        with pytest.raises(RuntimeError, match="mat1 and mat2"):
            trainer.evaluate(job)
    else:
        with pytest.raises(EvaluationFailed, match=f"CUDA out of memory: .*{reason}"):
            trainer.evaluate(job)
