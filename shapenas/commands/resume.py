"""`shapenas resume`: continue a stopped or killed study with the config stored in it."""

from __future__ import annotations

import argparse

from shapenas.commands.base import Command
from shapenas.commands.common import (
    add_run_arguments,
    checked_data,
    open_study_and_storage,
    print_front,
    study_context,
    total_trials,
    upload_pending,
)


class ResumeCommand(Command):
    name = "resume"
    help = "continue a stopped or killed study: finished trials are kept, a dead running one is retried"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--trials", type=int, metavar="N", help="finished trials to reach (default: the stored budget)"
        )
        add_run_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.fleet import fail_left_running
        from shapenas.search.loop import release_stopped_maker, run_trials

        study, config, storage = open_study_and_storage(args)
        data = checked_data(config)
        upload_pending(study, storage)  # first: their trials are still RUNNING, and would be taken for dead below
        # With a heartbeat (RDB storages) the runner fails a dead process's trial once it is stale, and Optuna queues
        # a retry of its params; a journal file has none, so a trial still RUNNING there is taken as dead.
        for number in fail_left_running(study, storage):
            print(f"trial {number} was left running by a stopped process: failed, its candidate queued again")
        release_stopped_maker(storage, study.study_name)
        run_trials(study_context(args, study, config, storage, data), total_trials(args, config))
        print_front(study, config)
        return 0
