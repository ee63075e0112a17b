"""`shapenas search CONFIG`: create the study (or continue it) and run trials until the budget is met."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapenas.commands.base import Command
from shapenas.commands.common import (
    add_run_arguments,
    check_storage_retry,
    checked_data,
    print_front,
    run_storage,
    study_context,
)


def _next_step(name: str, url: str) -> str:
    """The command that runs a created study's trials on this storage (workers refuse SQLite: no row locks)."""
    import shlex

    study, storage = shlex.quote(name), shlex.quote(url)
    if url.startswith("sqlite"):
        return (
            f"run its trials with: shapenas resume --study {study} --storage {storage} (SQLite serves one process; "
            f"for workers, create the study on PostgreSQL or a journal file)"
        )
    return f"run its trials with: shapenas worker --study {study} --storage {storage}"


class SearchCommand(Command):
    name = "search"
    help = "run a search from a config (creates the study, or continues it)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", help="search config YAML, e.g. configs/quickstart.yaml")
        parser.add_argument("--trials", type=int, metavar="N", help="finished trials to reach (search.trials)")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
        parser.add_argument(
            "--create-only",
            action="store_true",
            help="create the study (presets queued) and stop: `shapenas worker`s then run its trials",
        )
        add_run_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.config import load_config
        from shapenas.evaluators import latency_settings
        from shapenas.search.loop import check_parent_config, create_or_continue, enqueue_presets, run_trials
        from shapenas.search.results import remember_location
        from shapenas.spaces import SearchSpace

        check_storage_retry(args)
        overrides = list(args.set) + ([f"search.trials={args.trials}"] if args.trials is not None else [])
        config = load_config(args.config, overrides)
        data = checked_data(config)
        space = SearchSpace(config)  # validates slot-dependent settings before anything is written
        check_parent_config(config, data)  # a parent checkpoint must be the base's, before a study exists
        if config.measures_latency:
            latency_settings(config.cost)  # a CUDA index this machine lacks, before a study exists
        name = args.study or Path(args.config).stem
        storage = run_storage(args, create=True)
        study, created = create_or_continue(config, storage, name)
        if created:
            enqueue_presets(study, space)
            if args.artifacts:
                remember_location(study, args.artifacts)
        if args.create_only:
            state = "created" if created else "already exists"
            print(f"study {name!r} {state}; {_next_step(name, storage.url)}")
            return 0
        run_trials(study_context(args, study, config, storage, data), config.search.trials, space)
        print_front(study, config)
        return 0
