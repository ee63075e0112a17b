"""`shapenas resume`: continue a stopped or killed study with the config stored in it."""

from __future__ import annotations

import argparse

from shapenas.commands.base import Command
from shapenas.commands.common import (
    add_artifacts_argument,
    add_heartbeat_argument,
    add_storage_retry_argument,
    add_study_arguments,
    artifact_store,
    checked_data,
    open_study_and_storage,
    prepared_parent,
    print_front,
    run_dir,
    upload_pending,
)


class ResumeCommand(Command):
    name = "resume"
    help = "continue a stopped or killed study: finished trials are kept, a dead running one is retried"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--trials", type=int, metavar="N", help="finished trials to reach (default: the stored budget)"
        )
        add_study_arguments(parser)
        add_heartbeat_argument(parser)
        add_artifacts_argument(parser)
        add_storage_retry_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.fleet import note_running
        from shapenas.search.loop import run_trials

        study, config, storage = open_study_and_storage(args)
        data = checked_data(config)
        upload_pending(study, storage)  # first: their trials are still RUNNING, and would be taken for dead below
        note_running(study, storage)  # a dead process's trial (or parent maker) is failed once its lease runs out
        total = args.trials if args.trials is not None else config.search.trials
        parent = prepared_parent(study, storage, config, data, args)
        run_trials(
            study, storage, config, run_dir(study.study_name), total, parent=parent, store=artifact_store(study, args)
        )
        print_front(study, config)
        return 0
