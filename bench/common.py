"""Pieces the benchmark scripts share: train fixed candidates through the real proxy, and rank correlations."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_OFFLINE", "1")


def bench_parser(doc: str):
    """The arguments every benchmark takes: the search config and --set overrides, as `shapenas search` does."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml", help="search config (its proxy and space)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    return parser


def quiet() -> None:
    """Ultralytics' per-batch bars and Optuna's per-trial logs off, as the CLI does."""
    from shapenas.cli import quiet_libraries

    quiet_libraries(verbose=False)


def fixed_candidates(space, count: int, seed: int):
    """Baseline, the presets, then random candidates from a seeded sampler, as (name, Candidate), no duplicates."""
    import optuna

    picked = dict(space.presets())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while len(picked) < count:
        candidate = space.suggest(study.ask())
        if candidate not in picked.values():
            picked[f"random{len(picked) - len(space.presets()) + 1}"] = candidate
    return list(picked.items())


def train(config, candidate, folder: Path, parent=None, **proxy_changes) -> dict:
    """One proxy training of `candidate` with the config's proxy budget, changed by `proxy_changes`; started from
    `parent` (a `shapenas.search.loop.parent.Parent`) when given."""
    from shapenas.config import require_data
    from shapenas.evaluators import Job, ProxyTrainer
    from shapenas.ultralytics.build import model_file_stem

    inherit = {} if parent is None else {"parent": parent.model, "probe": parent.probe}
    proxy = ProxyTrainer(dataclasses.replace(config.proxy, **proxy_changes), require_data(config), **inherit)
    start = time.perf_counter()
    # rendered with the dataset's class count, as a search does (a parent's head must fit it)
    result = proxy.evaluate(Job(candidate_yaml(config, candidate), folder, model_file_stem(config.base, config.scale)))
    return {**result.as_attrs(), "wall_seconds": time.perf_counter() - start}


def candidate_yaml(config, candidate) -> dict:
    """The model YAML a search trains for `candidate`: rendered, with the dataset's class count."""
    from shapenas.config import require_data
    from shapenas.data.check import class_count
    from shapenas.spaces import SearchSpace

    return {**SearchSpace(config).render(candidate), "nc": class_count(require_data(config))}


def rank_correlations(a: list[float], b: list[float]) -> tuple[float, float]:
    """(Kendall's tau-b, Spearman's rho) between two score lists over the same candidates."""
    from scipy.stats import kendalltau, spearmanr

    return float(kendalltau(a, b).statistic), float(spearmanr(a, b).statistic)


def hypervolume_2d(points: list[tuple[float, float]], worst_gflops: float) -> float:
    """Area dominated by (mAP, GFLOPs) points, maximising mAP from 0 and minimising GFLOPs up to `worst_gflops`."""
    area, best_map = 0.0, 0.0
    # From the cheapest up: each point that beats every cheaper one adds the strip of mAP it gains, over the
    # GFLOPs from its own up to the reference.
    for map50_95, gflops in sorted(points, key=lambda p: (p[1], -p[0])):
        if gflops < worst_gflops and map50_95 > best_map:
            area += (map50_95 - best_map) * (worst_gflops - gflops)
            best_map = map50_95
    return area


def one_search(config, folder: Path, parent=None):
    """A real shapenas search in an in-memory storage, its candidates started from `parent` when given (a
    `shapenas.search.loop.parent.Parent`); returns its study."""
    from shapenas.config import require_data
    from shapenas.search.fleet import in_memory_storage
    from shapenas.search.loop import StudyContext, create_or_continue, enqueue_presets, run_trials
    from shapenas.spaces import SearchSpace

    storage = in_memory_storage()
    study, _ = create_or_continue(config, storage, "bench")
    enqueue_presets(study, SearchSpace(config))
    context = StudyContext(study, storage, config, require_data(config), folder, parent=parent)
    run_trials(context, config.search.trials)
    return study


def bench_parent(config, folder: Path):
    """The `Parent` a benchmark's warm runs start from: trained once into `folder` (`proxy.parent_epochs`,
    `proxy.parent_args`) and reused by later runs of the benchmark."""
    import json

    from shapenas.config import require_data
    from shapenas.search.loop import Parent, ParentRecord, train_parent
    from shapenas.ultralytics.checkpoint import load_detection_model
    from shapenas.ultralytics.images import probe_batch

    data = require_data(config)
    record_file = folder / "parent.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
    else:
        path, made = train_parent(config, data, folder)
        record = {**made.to_attr(), "path": str(path)}
        folder.mkdir(parents=True, exist_ok=True)
        record_file.write_text(json.dumps(record))
        print(json.dumps({"parent": record}), flush=True)
    model = load_detection_model(record["path"])
    return Parent(model, probe_batch(data, config.proxy.imgsz), ParentRecord.from_attr(record))


def front_points(study) -> list[tuple[float, float]]:
    from shapenas.search.results.record import trained

    return [(t.values[0], t.values[1]) for t in trained(study)]
