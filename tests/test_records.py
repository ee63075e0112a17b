"""Trial records: one typed record written and read one way; typed evaluator results whose fields the record holds;
a rejected candidate marked one way that every reader honours; and studies stored before these types still read."""

from __future__ import annotations

import io
import json

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from shapenas.cli import main
from shapenas.config import config_from_dict, load_config
from shapenas.config_schema import ConstraintsConfig
from shapenas.cost import yaml_cost
from shapenas.evaluators import CostEvaluator, CostResult, LatencyEvaluator, LatencyResult, ProxyResult
from shapenas.latency import LatencySettings
from shapenas.search.fleet.storage import open_storage
from shapenas.search.loop.objective import Evaluators, Objective
from shapenas.search.loop.runner import Progress
from shapenas.search.loop.study import CONFIG_ATTR, create_or_continue
from shapenas.search.results import pareto, record
from shapenas.search.results.objectives import Objectives
from shapenas.spaces import SearchSpace
from tests.helpers import GFLOPS_AT_64, FixedProxy

CONFIG = {"base": "yolov8n.yaml", "space": {"slots": [16]}, "proxy": {"imgsz": 64}, "search": {"presets": []}}


def _study() -> optuna.Study:
    return optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))


def test_write_refuses_a_name_that_is_not_a_record_field():
    study = _study()
    trial = study.ask()
    with pytest.raises(KeyError, match="not a trial record field: map_50"):
        record.write(trial, map_50=0.1)
    with pytest.raises(KeyError, match="not a trial record field: presets"):
        record.attrs(presets="baseline")
    assert study.trials[0].user_attrs == {}


def test_read_gives_typed_fields_and_rungs_and_ignores_other_attributes():
    attrs = {"key": "k", "gflops": 1.5, "reused_from": 3, record.rung_attr(2): 0.25, "not_ours": [1]}
    stored = record.read(create_trial(values=[0.3, 1.5], user_attrs=attrs))
    assert (stored.key, stored.gflops, stored.reused_from, stored.rungs) == ("k", 1.5, 3, {2: 0.25})
    assert stored.rejected is None and stored.map50_95 is None and stored.summary == ""


@pytest.mark.parametrize("result", [CostResult, LatencyResult, ProxyResult])
def test_every_evaluator_result_field_is_a_record_field(result):
    assert set(result.names()) <= record.NAMES


def _objective(space: SearchSpace, proxy: FixedProxy, tmp_path, max_gflops=None) -> Objective:
    limits = ConstraintsConfig(max_gflops=max_gflops)
    return Objective(space, GFLOPS_AT_64, limits, Evaluators(CostEvaluator(64), proxy), tmp_path)


def test_a_latency_limit_rejects_before_training_and_keeps_what_was_measured(tmp_path):
    space = SearchSpace(config_from_dict(CONFIG))
    settings = LatencySettings(imgsz=64, device="cpu", repeats=3, warmup=1, threads=1)
    latency = LatencyEvaluator(space.render(space.baseline()), settings)
    objectives = Objectives(("map50_95", "gflops", "latency"), imgsz=64)
    limits = ConstraintsConfig(max_latency_ms=1e-6)
    proxy = FixedProxy(0.6)
    objective = Objective(space, objectives, limits, Evaluators(CostEvaluator(64), proxy, latency), tmp_path)
    study = optuna.create_study(directions=objectives.directions)
    study.enqueue_trial(space.to_params(space.baseline()))
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    stored = record.read(trial)
    assert (
        proxy.calls == 0 and stored.rejected.startswith("latency_ms ") and "> max_latency_ms 1e-06" in stored.rejected
    )
    assert trial.values == [0.0, stored.gflops, stored.latency_ratio] and stored.latency_ms > 0
    assert (stored.latency_backend, stored.latency_threads, stored.latency_imgsz) == ("torch", 1, 64)
    assert not record.is_trained(trial) and pareto.front(study) == []


def test_a_rejected_candidate_is_never_trained_nor_read_as_a_result(tmp_path):
    space = SearchSpace(config_from_dict(CONFIG))
    baseline = space.to_params(space.baseline())
    study, proxy = _study(), FixedProxy(0.6)
    study.enqueue_trial(baseline)
    study.optimize(_objective(space, proxy, tmp_path, max_gflops=1e-3), n_trials=1)
    rejected = study.trials[0]
    assert rejected.state == TrialState.COMPLETE and proxy.calls == 0
    assert record.read(rejected).rejected.startswith("gflops ") and not record.is_trained(rejected)
    assert record.trained(study) == [] and pareto.front(study) == []
    stream = io.StringIO()
    Progress(3, GFLOPS_AT_64, stream=stream)(study, rejected)
    assert "not trained, rejected: gflops" in stream.getvalue()
    for _ in range(2):  # the same candidate without the limit: trained once (not the rejected one's twin), then reused
        study.enqueue_trial(baseline)
        study.optimize(_objective(space, proxy, tmp_path), n_trials=1)
    trained, reused = study.trials[1:]
    assert proxy.calls == 1 and record.read(trained).reused_from is None
    assert record.read(reused).reused_from == trained.number and reused.values[0] == 0.6
    assert [t.number for t in record.trained(study)] == [1, 2] and [r.trial for r in pareto.front(study)] == [1]


def _old_trial(space: SearchSpace, imgsz: int, rejected: bool) -> optuna.trial.FrozenTrial:
    """A trial as shapenas stored it before typed records: bare attribute names, YAML in `yaml.safe_dump` layout."""
    baseline = space.baseline()
    model_yaml = space.render(baseline)
    cost = yaml_cost(model_yaml, imgsz)
    attrs = {
        "key": baseline.key(),
        "summary": "baseline",
        "candidate": baseline.to_dict(),
        "yaml": yaml.safe_dump(model_yaml, sort_keys=False),
        "preset": "baseline",
        "params": cost.params,
        "gflops": round(cost.gflops, 6),
    }
    if rejected:
        return create_trial(values=[0.0, attrs["gflops"]], user_attrs={**attrs, "rejected": "gflops 9 > max_gflops 1"})
    result = {"map50_95": 0.3, "map50": 0.5, "epoch_map50_95": [0.3], "epoch_map50": [0.5], "train_seconds": 1.0}
    return create_trial(values=[0.3, attrs["gflops"]], user_attrs={**attrs, **result, "device": "cpu", "weights": None})


def test_a_study_stored_before_the_typed_records_still_reads(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "proxy": {"imgsz": 32}}))
    config = load_config(path)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    study, _ = create_or_continue(config, open_storage(url), "old")
    stored = config.to_dict()  # as studies made before the cost section and search.objectives stored it
    del stored["cost"], stored["search"]["objectives"], stored["constraints"]["max_latency_ms"]
    study.set_user_attr(CONFIG_ATTR, stored)
    space = SearchSpace(config)
    study.add_trial(_old_trial(space, 32, rejected=True))
    study.add_trial(_old_trial(space, 32, rejected=False))
    capsys.readouterr()
    assert main(["pareto", "--storage", url, "--study", "old", "--json", "front.json"]) == 0
    assert "GFLOPs@32" in capsys.readouterr().out  # its GFLOPs were counted at the proxy's size, and say so
    assert [row["trial"] for row in json.loads((tmp_path / "front.json").read_text())] == [1]
    assert main(["export", "--storage", url, "--study", "old", "--trial", "1", "-o", "best.yaml"]) == 0
    exported = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert exported == yaml.safe_load(study.trials[1].user_attrs["yaml"])
    capsys.readouterr()
    assert main(["export", "--storage", url, "--study", "old", "--trial", "0", "-o", "rejected.yaml"]) == 2
    assert "--trial 0: trial 0 was not trained: a constraint rejected it" in capsys.readouterr().err
