"""The command table: one class per subcommand, in the order `shapenas --help` lists them."""

from shapenas.commands.base import Command
from shapenas.commands.data import DataCommand
from shapenas.commands.export import ExportCommand
from shapenas.commands.pareto import ParetoCommand
from shapenas.commands.resume import ResumeCommand
from shapenas.commands.search import SearchCommand
from shapenas.commands.space import SpaceCommand
from shapenas.commands.train import TrainCommand
from shapenas.commands.verify import VerifyCommand
from shapenas.commands.worker import WorkerCommand

COMMANDS: list[type[Command]] = [
    SearchCommand,
    ResumeCommand,
    WorkerCommand,
    ParetoCommand,
    VerifyCommand,
    ExportCommand,
    TrainCommand,
    SpaceCommand,
    DataCommand,
]
