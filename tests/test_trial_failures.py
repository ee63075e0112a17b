"""A trial that cannot be scored fails with its reason stored, and the study goes on; what the evaluators are given
comes from the config."""

import math
from types import SimpleNamespace

import optuna
import pytest
import torch
from optuna.trial import TrialState

from shapenas.config import config_from_dict
from shapenas.evaluators import CostEvaluator, EvaluationFailed, Evaluator, Job, ProxyResult, ProxyTrainer
from shapenas.search.loop.objective import Evaluators, Objective
from shapenas.spaces import SearchSpace
from tests.helpers import GFLOPS_AT_64


def _baseline_job(tmp_path):
    """(config, job) for yolov8n's baseline, as the proxy trainer gets it in a search."""
    config = config_from_dict({"base": "yolov8n.yaml", "space": {"slots": [16]}, "proxy": {"device": "cpu"}})
    space = SearchSpace(config)
    return config, Job(space.render(space.baseline()), tmp_path, "yolov8n")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_loss_stops_training_with_the_reason(tmp_path, monkeypatch, value):
    from ultralytics.engine.model import Model

    batches_done = []

    def train(self, **kwargs):  # two batches through the callbacks the proxy trainer registered on the model
        for loss in (torch.tensor([1.0, 2.0]), torch.tensor([1.0, value, 2.0])):
            for callback in self.callbacks["on_train_batch_end"]:
                callback(SimpleNamespace(loss=loss, epoch=1))
            batches_done.append(loss)

    monkeypatch.setattr(Model, "train", train)
    config, job = _baseline_job(tmp_path)
    with pytest.raises(EvaluationFailed, match=r"loss became (nan|inf) in epoch 2"):
        ProxyTrainer(config.proxy, "unused.yaml").evaluate(job)
    assert len(batches_done) == 1  # the finite batch went on; the non-finite one stopped training


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
    evaluators = Evaluators(CostEvaluator(64), FailsFirst())
    objective = Objective(space, GFLOPS_AT_64, config.constraints, evaluators, tmp_path)
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

    def train(self, **kwargs):
        raise error

    monkeypatch.setattr(Model, "train", train)
    config, job = _baseline_job(tmp_path)
    trainer = ProxyTrainer(config.proxy, "unused.yaml")
    if reason is None:  # a bug, not a full GPU: it keeps its type and traceback
        with pytest.raises(RuntimeError, match="mat1 and mat2"):
            trainer.evaluate(job)
    else:
        with pytest.raises(EvaluationFailed, match=f"CUDA out of memory: .*{reason}"):
            trainer.evaluate(job)


class Broken(Evaluator[ProxyResult]):
    def evaluate(self, job: Job) -> ProxyResult:
        raise ZeroDivisionError("a bug in an evaluator")


def test_an_unexpected_error_keeps_its_traceback_and_the_trial_keeps_why(tmp_path):
    config = config_from_dict({"base": "yolov8n.yaml", "space": {"slots": [16]}, "proxy": {"imgsz": 64}})
    evaluators = Evaluators(CostEvaluator(64), Broken())
    objective = Objective(SearchSpace(config), GFLOPS_AT_64, config.constraints, evaluators, tmp_path)
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.raises(ZeroDivisionError, match="a bug in an evaluator"):
        study.optimize(objective, n_trials=1, catch=(EvaluationFailed,))
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"] == "ZeroDivisionError: a bug in an evaluator"


def test_evaluators_take_their_keyword_arguments_from_the_config_sections(tmp_path):
    from shapenas.evaluators import latency_settings
    from shapenas.latency import LatencySettings

    config = config_from_dict({"base": "yolov8n.yaml", "cost": {"imgsz": 320, "latency_repeats": 5}})
    assert latency_settings(config.cost) == LatencySettings(imgsz=320, device="auto", repeats=5, warmup=3)
    proxy = config_from_dict({"base": "yolov8n.yaml", "proxy": {"epochs": 2, "train_args": {"lr0": 0.01}}}).proxy
    args = ProxyTrainer(proxy, "data.yaml").train_args(tmp_path, "cpu")
    expected = {"epochs": 2, "imgsz": 160, "batch": 16, "fraction": 1.0, "seed": 0, "workers": 0, "cache": False}
    assert {key: args[key] for key in expected} == expected
    assert (args["lr0"], args["data"], args["device"]) == (0.01, "data.yaml", "cpu")
    assert args["amp"] is False and args["deterministic"] is True
