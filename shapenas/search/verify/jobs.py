"""Verification: the chosen trials and the baseline trained again at a higher budget, each with K seeds, each
(trial, seed, budget) by exactly one of the processes that run `shapenas verify` on the study.

Each training is a job claimed in the companion study `<study>:shapenas-verify` (`shapenas.search.fleet.claims`); its
result (mAP, the proxy settings, the weights in the artifact store) is stored on the claim. A job that has a result
is never trained again, so a second run trains nothing and a killed run resumes where it stopped (a killed process's
claim is taken over once its heartbeat goes silent). The per-trial summaries (`shapenas.search.verify.verified`) are
rebuilt from the claims' results; a process re-reads the results after writing a summary and writes it again if
another process finished a seed meanwhile, so the last summary written holds every finished seed.

Every trial, the baseline included, trains with the same seeds (`proxy.seed` .. +K-1), so each seed's result pairs
with the baseline's and the report can test the paired differences (`shapenas.search.verify.paired`).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path

import optuna

from shapenas.config import Config, config_from_dict
from shapenas.errors import UserError
from shapenas.search.fleet.claim_attrs import verify_companion
from shapenas.search.fleet.claims import Claims, Outcome
from shapenas.search.loop.context import StudyContext
from shapenas.search.results import artifacts, pareto, record
from shapenas.search.results.trial_files import model_yaml_of
from shapenas.search.verify import verified


def verify_config(config: Config, epochs: int, overrides: list[str]) -> Config:
    """The study's config with the verification budget: `--epochs` and `--set proxy.KEY=VALUE` overrides."""
    for text in overrides:
        key = text.partition("=")[0].strip()
        if not key.startswith("proxy.") or key == "proxy.epochs":
            raise UserError(f"--set {text!r}: verify changes proxy.* keys only, and the epochs through --epochs")
    if epochs < 1:
        raise UserError(f"--epochs: expected an integer >= 1, got {epochs}")
    return config_from_dict(config.to_dict(), config.folder, [*overrides, f"proxy.epochs={epochs}"])


def _source(trial: optuna.trial.FrozenTrial, trained: dict[int, optuna.trial.FrozenTrial]):
    """A trial that reused a twin's result stands for that twin, which was trained."""
    twin = record.read(trial).reused_from
    return trial if twin is None else trained.get(twin, trial)


def choose(study: optuna.Study, front: bool, numbers: list[int] | None, top: int | None):
    """The baseline, then the chosen trials (the proxy's front, given numbers, or the K best by proxy mAP), each
    architecture once."""
    trained = {t.number: t for t in record.trained(study)}
    baseline = next((t for t in trained.values() if record.read(t).preset == "baseline"), None)
    if baseline is None:
        stored = [t.number for t in study.get_trials(deepcopy=False) if record.read(t).preset == "baseline"]
        why = f"baseline {record.why_untrained(study, stored[-1])}" if stored else None
        raise UserError(
            f"study {study.study_name!r} has no trained baseline trial, and verify compares every trial with it "
            f"({why or 'search.presets must include baseline'})"
        )
    if front:
        picked = [trained[row.trial] for row in pareto.front(study)]
    elif numbers:
        missing = [n for n in numbers if n not in trained]
        if missing:
            why = record.why_untrained(study, missing[0])
            raise UserError(f"--trials {missing[0]}: {why}; --trials takes trial numbers (--top K: the K best)")
        picked = [trained[n] for n in numbers]
    else:
        picked = sorted(trained.values(), key=lambda t: (-t.values[0], t.number))
    chosen, keys = [], set()
    for trial in map(functools.partial(_source, trained=trained), [baseline, *picked]):
        key = record.read(trial).key
        if key not in keys:
            keys.add(key)
            chosen.append(trial)
    return chosen if top is None else chosen[: top + 1]


class Verification:
    """Trains trials x `seeds` at `context.config.proxy`'s budget, once over all processes: from the context's parent
    when it has one, the weights kept in its artifact store when it has one."""

    def __init__(self, context: StudyContext, seeds: list[int]):
        self.study, self.config, self.data, self.seeds = context.study, context.config, context.data, seeds
        self.budget = verified.Budget(context.config.proxy)
        self.claims = Claims(context.storage, verify_companion(self.study.study_name), context.heartbeat_seconds)
        self.folder = Path(context.run_dir) / "verify" / self.budget.key
        self.parent, self.store = context.parent, context.store
        self.started = time.perf_counter()

    def _say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.0f}s] {text}", file=sys.stderr, flush=True)

    def job(self, number: int, seed: int) -> str:
        return f"trial {number} seed {seed} budget {self.budget.key}"

    def run(self, trials: list[optuna.trial.FrozenTrial]) -> int:
        """Every job done (here or elsewhere) and every summary written; returns how many were trained here."""
        pending = [(trial, seed) for trial in trials for seed in self.seeds]
        trained_here, total = 0, len(pending)
        while pending:
            trial, seed = self._next(pending)
            pending.remove((trial, seed))
            name = self.job(trial.number, seed)
            waiting = functools.partial(self._waiting, name)
            outcome = self.claims.once(name, functools.partial(self._train, trial, seed), on_wait=waiting)
            trained_here += outcome.worked
            self._done(trial, seed, outcome, total - len(pending), total)
            self.write_entries(trial.number)
        for trial in trials:
            self.write_entries(trial.number)
        return trained_here

    def _next(self, pending: list) -> tuple:
        """The first job no other process is on, else the first (then this process waits for it)."""
        busy = self.claims.running_jobs()
        return next((job for job in pending if self.job(job[0].number, job[1]) not in busy), pending[0])

    def _waiting(self, name: str, claim: int) -> None:
        self._say(f"{name}: another process is training it (claim {claim}); waiting for its result")

    def _done(self, trial, seed: int, outcome: Outcome, done: int, total: int) -> None:
        result = verified.SeedResult.from_attr(outcome.result)
        how = "trained here" if outcome.worked else "already verified"
        value = verified.seed_score(result)
        score = f"failed: {result.failed}" if value is None else f"{verified.SCORE} mAP50-95 {value:.4f}"
        self._say(f"trial {trial.number} seed {seed} ({done}/{total}): {score} (proxy {trial.values[0]:.4f}), {how}")

    def _train(self, trial: optuna.trial.FrozenTrial, seed: int) -> dict:
        from shapenas.evaluators import EpochMetrics, EvaluationFailed, Job, ProxyTrainer
        from shapenas.ultralytics.build import model_file_stem

        model_yaml = model_yaml_of(trial)
        inherit = {} if self.parent is None else {"parent": self.parent.model, "probe": self.parent.probe}
        trainer = ProxyTrainer(dataclasses.replace(self.config.proxy, seed=seed), self.data, **inherit)
        about = dict(trial=trial.number, seed=seed, budget=self.budget.key, proxy=self.budget.settings())

        def on_epoch(epoch: int, metrics: EpochMetrics) -> None:
            self._say(f"trial {trial.number} seed {seed}: epoch {epoch} mAP50-95 {metrics.map50_95:.4f}")

        folder = self.folder / f"trial_{trial.number:04d}_seed{seed}"
        name = model_file_stem(self.config.base, self.config.scale)
        try:
            result = trainer.evaluate(Job(model_yaml, folder, name, on_epoch))
        except EvaluationFailed as error:
            return verified.SeedResult(**about, failed=str(error)).to_attr()
        kept = {k: getattr(result, k) for k in ("map50_95", "map50", "epoch_map50_95", "train_seconds", "device")}
        return verified.SeedResult(**about, **kept, weights=self._upload(result.weights)).to_attr()

    def _upload(self, weights: str | None) -> dict | None:
        if not weights or self.store is None:
            return None
        return artifacts.upload(self.store, self.study, Path(weights))

    def _results_of(self, number: int) -> dict[str, dict[int, verified.SeedResult]]:
        """This trial's finished seeds, by budget key (the claims' results that are verify results)."""
        found: dict[str, dict[int, verified.SeedResult]] = {}
        for stored in self.claims.results().values():
            result = verified.SeedResult.from_attr(stored) if isinstance(stored, dict) else None
            if result is not None and result.trial == number and result.budget is not None:
                found.setdefault(result.budget, {})[result.seed] = result
        return found

    def write_entries(self, number: int) -> None:
        """The trial's `verified` summaries from every finished seed; written again until no seed finished between
        reading the results and writing them."""
        results = self._results_of(number)
        while True:
            entries = {key: verified.summary(next(iter(seeds.values())).proxy, seeds) for key, seeds in results.items()}
            verified.write_entries(self.study, number, entries)
            latest = self._results_of(number)
            if latest == results:
                return
            results = latest
