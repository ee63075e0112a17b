"""`shapenas resume`: continue a stopped or killed study with the config stored in it."""

from __future__ import annotations

import argparse

from optuna.storages import fail_stale_trials

from shapenas.commands.base import Command
from shapenas.commands.common import add_heartbeat_argument, add_study_arguments, open_existing_study, run_dir
from shapenas.commands.search import print_front
from shapenas.config import require_data
from shapenas.search.runner import run_trials


class ResumeCommand(Command):
    name = "resume"
    help = "continue a stopped or killed study: finished trials are kept, a dead running one is retried"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--trials", type=int, metavar="N", help="finished trials to reach (default: the stored budget)")
        add_study_arguments(parser)
        add_heartbeat_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        study, config = open_existing_study(args, args.heartbeat)
        require_data(config)
        # A trial whose process died has a stale heartbeat: fail it now, and Optuna queues a retry of its params.
        fail_stale_trials(study)
        total = args.trials if args.trials is not None else config.search["trials"]
        run_trials(study, config, run_dir(study.study_name), total)
        print_front(study)
        return 0
