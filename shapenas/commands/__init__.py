"""The command table: one class per subcommand, in the order `shapenas --help` lists them."""

from shapenas.commands.base import Command
from shapenas.commands.space import SpaceCommand

COMMANDS: list[type[Command]] = [SpaceCommand]
