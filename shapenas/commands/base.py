"""The small base class every CLI command implements (one command per file in this package)."""

from __future__ import annotations

import argparse


class Command:
    """A subcommand: a name, a one-line help, its arguments, and `run` returning the exit code."""

    name: str = ""
    help: str = ""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's arguments on its own subparser."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work; raise `shapenas.errors.UserError` for bad input (exit code 2)."""
        raise NotImplementedError
