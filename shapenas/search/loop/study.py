"""Create or load a shapenas study: the config's objectives (mAP50-95, then GFLOPs and/or latency), the sampler it
names, the config stored in the study."""

from __future__ import annotations

import optuna

from shapenas.config import Config, config_from_dict, upgraded, with_defaults
from shapenas.config_schema import SearchConfig
from shapenas.devices import resolve_device
from shapenas.errors import UserError
from shapenas.search.fleet.storage import existing_study_names
from shapenas.search.loop.environment import environment
from shapenas.search.results.objectives import Objectives
from shapenas.search.results.study_attrs import CONFIG_ATTR, ENVIRONMENT_ATTR
from shapenas.text import count


def make_sampler(search: SearchConfig) -> optuna.samplers.BaseSampler:
    seed, name = search.seed, search.sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=4)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # A small population: proxy trials are expensive, and NSGA-II's default of 50 would make short searches random.
    population = max(4, min(50, search.trials // 2))
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)


def _comparable(config_dict: dict) -> dict:
    """The parts of a config that must match to continue a study (the trial budget may change)."""
    search = {k: v for k, v in config_dict.get("search", {}).items() if k != "trials"}
    return {**config_dict, "search": search}


def create_or_continue(config: Config, storage, study_name: str) -> tuple[optuna.Study, bool]:
    """The study `study_name`, created when new (returns True then); its stored config must match `config`."""
    exists = study_name in existing_study_names(storage)
    if exists:
        stored = optuna.load_study(study_name=study_name, storage=storage).user_attrs.get(CONFIG_ATTR)
        if stored is None:
            raise UserError(f"--study {study_name!r}: this study was not made by shapenas")
        if _comparable(with_defaults(stored)) != _comparable(config.to_dict()):
            raise UserError(
                f"--study {study_name!r} exists with another config; use `shapenas resume` or a new --study"
            )
    objectives = Objectives.of(config)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        directions=objectives.directions,
        sampler=make_sampler(config.search),
        load_if_exists=True,
    )
    if not exists:
        study.set_metric_names(objectives.names)
        study.set_user_attr(CONFIG_ATTR, config.to_dict())
        study.set_user_attr(ENVIRONMENT_ATTR, environment(resolve_device(config.proxy.device)))
    return study, not exists


def load_existing(storage, study_name: str | None) -> tuple[optuna.Study, Config]:
    """A shapenas study and its stored config; with no name, the storage's only study."""
    names = existing_study_names(storage)
    if study_name is None:
        if len(names) != 1:
            held = f"{count(len(names), 'study', 'studies')} ({', '.join(names) or 'none'})"
            raise UserError(f"--study is needed: the storage holds {held}")
        study_name = names[0]
    if study_name not in names:
        raise UserError(f"--study {study_name!r}: not found in the storage (it holds: {', '.join(names) or 'none'})")
    study = optuna.load_study(study_name=study_name, storage=storage)
    stored = study.user_attrs.get(CONFIG_ATTR)
    if stored is None:
        raise UserError(f"--study {study_name!r}: this study was not made by shapenas")
    config = config_from_dict(upgraded(stored))
    study.sampler = make_sampler(config.search)
    return study, config
