"""Measuring the proxy's noise in a study (`search.results.noise` says what the figure means): once over all
processes, after the parent, the baseline's proxy trained again at seeds `proxy.seed + 1 ..`."""

from __future__ import annotations

import dataclasses
import functools
import sys

from shapenas.search.loop.context import StudyContext
from shapenas.search.results.noise import (
    NOISE_JOB,
    NoiseRun,
    NoiseRuns,
    read_noise_runs,
    study_noise,
    write_noise_runs,
)


def ensure_noise(context: StudyContext):
    """The study's `ProxyNoise`, its runs made first (once over all processes) if missing; None when
    `proxy.noise_seeds` is 0. Prints the figure."""
    if context.config.proxy.noise_seeds == 0:
        return None
    study = context.study
    if read_noise_runs(study) is None:
        from shapenas.search.fleet.claim_attrs import parent_companion
        from shapenas.search.fleet.claims import Claims

        def make() -> dict:
            runs = train_noise_runs(context.config, context.data, context.run_dir, context.parent)
            write_noise_runs(study, runs)
            return runs.to_attr()

        def waiting(number: int) -> None:
            print(f"noise: waiting for another process to measure it (claim {number})", file=sys.stderr, flush=True)

        claims = Claims(context.storage, parent_companion(study.study_name), context.heartbeat_seconds)
        claims.once(NOISE_JOB, make, finished=lambda: read_noise_runs(study), on_wait=waiting)
    noise = study_noise(study)
    if noise is not None:
        print(noise.describe(), file=sys.stderr, flush=True)
    return noise


def _epoch_line(seed: int, epoch: int, metrics) -> None:
    print(f"noise: seed {seed} epoch {epoch} mAP50-95 {metrics.map50_95:.4f}", file=sys.stderr, flush=True)


def train_noise_runs(config, data: str, folder, parent) -> NoiseRuns:
    """The baseline's proxy at seeds `proxy.seed + 1 ..`, as a search trains it: what `proxy_noise` stores."""
    from shapenas.data.check import class_count
    from shapenas.devices import resolve_device
    from shapenas.evaluators import EvaluationFailed, Job, ProxyTrainer
    from shapenas.search.loop.environment import environment
    from shapenas.spaces import SearchSpace
    from shapenas.ultralytics.build import model_file_stem

    space = SearchSpace(config)
    model_yaml = {**space.render(space.baseline()), "nc": class_count(data)}
    inherit = {} if parent is None else {"parent": parent.model, "probe": parent.probe}
    name, runs = model_file_stem(config.base, config.scale), {}
    for seed in range(config.proxy.seed + 1, config.proxy.seed + 1 + config.proxy.noise_seeds):
        print(f"noise: training the baseline's proxy with seed {seed}", file=sys.stderr, flush=True)
        trainer = ProxyTrainer(dataclasses.replace(config.proxy, seed=seed), data, **inherit)
        say = functools.partial(_epoch_line, seed)
        try:
            result = trainer.evaluate(Job(model_yaml, folder / "noise" / f"seed{seed}", name, say))
        except EvaluationFailed as error:
            runs[seed] = NoiseRun(failed=str(error))
            continue
        runs[seed] = NoiseRun(result.map50_95, result.epoch_map50_95, result.train_seconds)
    device = resolve_device(config.proxy.device)
    return NoiseRuns(config.proxy.seed, runs, environment(device))
