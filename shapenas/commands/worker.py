"""`shapenas worker`: join a study on a shared storage and run its trials until the budget is met.

Start as many as you like, on as many machines as can reach the storage (PostgreSQL, or a journal file on a shared
filesystem). They share the budget exactly and never train one candidate twice at the same time (see
`shapenas.search.fleet.coordination`); a dead worker's trial is failed by another once its lease is silent, and retried.
A storage that stops answering is waited for (`--storage-retry`) while training goes on; past that, the worker saves
what it finished locally and exits 75 (`shapenas.search.fleet.pending`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from shapenas.commands.base import Command
from shapenas.commands.common import (
    add_run_arguments,
    checked_data,
    open_study_and_storage,
    print_front,
    study_context,
    total_trials,
)
from shapenas.errors import UserError


def _check_arguments(args: argparse.Namespace) -> None:
    for option, value in (("--trials", args.trials), ("--heartbeat", args.heartbeat)):
        if value is not None and value < 1:
            raise UserError(f"{option}: expected an integer >= 1, got {value}")
    # SQLite has no row locks: two processes can take the same queued trial (a preset, a retry) and train it twice.
    if args.storage is None or args.storage.startswith("sqlite"):
        from shapenas.search.fleet import default_storage_url

        url = args.storage or default_storage_url()
        raise UserError(
            f"--storage {url!r}: workers need a storage several processes can share: "
            f"postgresql+psycopg://USER@HOST/DB (pip install 'shapenas[postgres]') or "
            f"journal:///FILE on a shared filesystem"
        )


def _child_command(args: argparse.Namespace, study_name: str) -> list[str]:
    """The same worker, without the pool options, for each pinned process."""
    command = [sys.executable, "-m", "shapenas.cli", "worker", "--study", study_name]
    command += ["--heartbeat", str(args.heartbeat), "--storage-retry", str(args.storage_retry)]
    if args.storage:
        command += ["--storage", args.storage]
    if args.trials is not None:
        command += ["--trials", str(args.trials)]
    if args.artifacts:
        command += ["--artifacts", args.artifacts]
    return command


class WorkerCommand(Command):
    name = "worker"
    help = "join a study on a shared storage and run its trials until its budget is met (start many)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--trials",
            type=int,
            metavar="N",
            help="finished trials to reach, counted over all workers (default: the study's budget)",
        )
        parser.add_argument(
            "--workers-per-device",
            type=int,
            metavar="K",
            help="start K worker processes per device, each pinned to its GPU (no GPU: K on the CPU)",
        )
        parser.add_argument(
            "--devices",
            metavar="0,1",
            help="GPUs for --workers-per-device (default: every visible GPU); cpu for the CPU",
        )
        add_run_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.fleet import run_pool, worker_pins

        _check_arguments(args)
        pool = args.workers_per_device is not None or args.devices is not None
        per_device = 1 if args.workers_per_device is None else args.workers_per_device
        pins = worker_pins(args.devices, per_device) if pool else []
        # Checked here once, so that a bad study or dataset is one error, not one per worker process.
        study, config, storage = open_study_and_storage(args)
        data = checked_data(config)
        if pool:
            return run_pool(_child_command(args, study.study_name), pins)
        return self._work(study_context(args, study, config, storage, data), total_trials(args, config))

    @staticmethod
    def _work(context, total: int) -> int:
        from shapenas.search.loop import make_sampler, run_trials

        # A fixed seed would make every worker propose the same candidates; parallel runs are not reproducible anyway.
        context.study.sampler = make_sampler(dataclasses.replace(context.config.search, seed=None))
        finished = run_trials(context, total)
        if finished < total:
            print(
                f"shapenas worker: stopped with {finished}/{total} finished trials: the last trials all failed "
                f"(see their fail_reason)",
                file=sys.stderr,
            )
            return 1
        print_front(context.study, context.config)
        return 0
