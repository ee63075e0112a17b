"""`shapenas verify`: train the proxy's favourites and the baseline again at a higher budget, with seeds, and say
whether the proxy's ranking and front hold (see `shapenas.search.verify.jobs` and `shapenas.search.verify.verified`)."""

from __future__ import annotations

import argparse
import sys

from shapenas.commands.base import Command
from shapenas.commands.common import add_run_arguments, checked_data, open_study_and_storage, study_context
from shapenas.errors import UserError
from shapenas.search.verify import MIN_PAIRS as MIN_SEEDS
from shapenas.text import count

# verify's --trials names trials; search/resume/worker's --trials N is a count: every message says which
NOT_A_COUNT = "not a count as in search's --trials N; --top K picks the K best"


def _trial_numbers(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--trials: expected trial numbers such as 3,7,9, got {text!r} ({NOT_A_COUNT})") from None
    return list(dict.fromkeys(numbers))


def _check_counts(args: argparse.Namespace) -> None:
    for option, value in (("--seeds", args.seeds), ("--top", args.top), ("--epochs", args.epochs)):
        if value is not None and value < 1:
            raise UserError(f"{option}: expected an integer >= 1, got {value}")


def _warn_few_seeds(seeds: int) -> None:
    """Fewer seeds are allowed (a quick look), but they cannot tell better from worse."""
    if seeds < MIN_SEEDS:
        print(
            f"shapenas verify: --seeds {seeds}: the paired test needs {MIN_SEEDS} seeds, so every comparison with "
            f"the baseline will be inconclusive",
            file=sys.stderr,
        )


class VerifyCommand(Command):
    name = "verify"
    help = "train the front (or chosen trials) and the baseline at a higher budget, with seeds; compare with the proxy"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--front", action="store_true", help="the proxy's Pareto front")
        which.add_argument("--trials", metavar="3,7,9", help=f"these trials, by trial number ({NOT_A_COUNT})")
        which.add_argument("--top", type=int, metavar="K", help="the K best trials by proxy mAP50-95")
        parser.add_argument("--epochs", type=int, required=True, metavar="E", help="epochs of each training")
        parser.add_argument(
            "--seeds",
            type=int,
            default=MIN_SEEDS,
            metavar="K",
            help=f"trainings per trial, seeds proxy.seed .. +K-1, paired with the baseline's (default {MIN_SEEDS}: "
            f"fewer leave every comparison inconclusive)",
        )
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="proxy.KEY=VALUE",
            help="change a proxy setting for the verification (e.g. proxy.imgsz=640, proxy.init=scratch)",
        )
        add_run_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.verify import Verification, choose, report, verify_config

        _check_counts(args)
        numbers = _trial_numbers(args.trials)
        study, config, storage = open_study_and_storage(args)
        config = verify_config(config, args.epochs, args.set)
        data = checked_data(config)
        trials = choose(study, args.front, numbers, args.top)
        seeds = [config.proxy.seed + k for k in range(args.seeds)]
        verification = Verification(study_context(args, study, config, storage, data), seeds)
        _warn_few_seeds(args.seeds)
        jobs = f"{count(len(trials), 'trial')} x {count(len(seeds), 'seed')}"
        print(f"verifying {jobs} at budget {verification.budget.key}")
        trained = verification.run(trials)
        print(report(study, verification.budget.key))
        print(f"{trained} of {count(len(trials) * len(seeds), 'training')} ran in this process")
        return 0
