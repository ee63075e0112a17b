"""`shapenas` command line: a table of small command classes (see `shapenas/commands/`)."""

from __future__ import annotations

import argparse
import sys

from shapenas.errors import UserError
from shapenas.interrupts import signals_raise
from shapenas.search.fleet import StorageUnavailable


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, exit code 2, as every other bad input does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _commands() -> list:
    # Command modules import torch, Ultralytics and Optuna only inside `run` (tests/test_import.py holds them to it),
    # so building the parser, and `shapenas --help`, takes a fraction of a second.
    from shapenas.commands import COMMANDS

    return [cls() for cls in COMMANDS]


DEBUG_HELP = "on bad input, raise with the full traceback instead of one line"


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="shapenas", description="Search YOLO detectors by AKConv shapes and module placement.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Ultralytics' own training output")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    parser.command_parsers = {}  # name -> subparser: an unrecognised option is reported by its command's parser
    for command in _commands():
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(command_parser)
        # after the command too; SUPPRESS keeps a --debug given before it from being reset to False
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        command_parser.set_defaults(handler=command)
        parser.command_parsers[command.name] = command_parser
    return parser


def _unrecognised(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """argparse's message for words no option takes, with the closest option of the command for each unknown one."""
    import difflib

    options = [option for action in parser._actions for option in action.option_strings]
    close = [difflib.get_close_matches(word.split("=")[0], options, n=1) for word in extra if word.startswith("-")]
    hints = [f"did you mean {match[0]}?" for match in close if match]
    return f"unrecognized arguments: {' '.join(extra)}" + (f" ({'; '.join(hints)})" if hints else "")


def quiet_libraries(verbose: bool) -> None:
    """Our own progress lines replace Ultralytics' per-batch bars (hidden above INFO) and Optuna's per-trial logs."""
    import logging
    import warnings

    import optuna

    from shapenas.ultralytics.logs import show_ultralytics_output

    show_ultralytics_output(verbose)
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    # Our trial loop logs a failed trial's traceback at INFO; the progress line already says why it failed.
    ours = logging.getLogger("shapenas")
    ours.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose and not ours.handlers:
        ours.addHandler(logging.StreamHandler(sys.stderr))
    if not verbose:  # e.g. metric names are marked experimental; we pin Optuna 5.x
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line. A command with `takes_words` (train: MODEL, then Ultralytics' key=value words, as
    `yolo train` takes them) also gets the words that follow its options; argparse alone cannot mix them."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and (not getattr(args.handler, "takes_words", False) or any(word.startswith("-") for word in extra)):
        command_parser = parser.command_parsers[args.command]
        command_parser.error(_unrecognised(command_parser, extra))
    if extra:
        args.words = [*args.words, *extra]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    quiet_libraries(args.verbose)
    try:
        with signals_raise():
            return int(args.handler.run(args) or 0)
    except UserError as error:
        if args.debug:
            raise
        print(f"shapenas {args.command}: error: {error}", file=sys.stderr)
        return 2
    except StorageUnavailable as error:  # waited --storage-retry seconds; what was finished is saved locally
        print(f"shapenas {args.command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM raised as `Interrupted`
        print(f"shapenas {args.command}: {str(error) or 'interrupted'}", file=sys.stderr)
        return getattr(error, "exit_code", 130)


if __name__ == "__main__":
    sys.exit(main())
