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
        from shapenas.search.fleet import note_running
        from shapenas.search.loop import run_trials

        study, config, storage = open_study_and_storage(args)
        data = checked_data(config)
        context = study_context(args, study, config, storage, data)  # pending results written first
        note_running(study, storage)  # a dead process's trial (or parent maker) is failed once its lease runs out
        run_trials(context, total_trials(args, config))
        print_front(study, config)
        return 0
