"""The command table: one class per subcommand, in the order `shapenas --help` lists them."""

from shapenas.commands.base import Command

COMMANDS: list[type[Command]] = []
