"""`shapenas pareto`: print the front and write it as CSV, JSON and plots."""

from __future__ import annotations

import argparse
from functools import partial

from shapenas.commands.base import Command
from shapenas.commands.common import add_study_arguments, open_existing_study, print_front
from shapenas.errors import UserError
from shapenas.files import check_writable, write_atomic, write_text_atomic


def _reference_point(text: str | None, objectives) -> list[float] | None:
    """`--reference-point 0,12.5`: one number per objective; None when not given."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != len(objectives.keys):
        raise UserError(
            f"--reference-point: expected {len(objectives.keys)} comma-separated numbers "
            f"({', '.join(objectives.names)}), got {text!r}"
        )
    return values


class ParetoCommand(Command):
    name = "pareto"
    help = "print the Pareto front (mAP50-95 vs GFLOPs and/or latency) and write CSV / JSON / PNG plots"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_study_arguments(parser)
        parser.add_argument("--csv", metavar="PATH", help="write the front as CSV")
        parser.add_argument("--json", metavar="PATH", help="write the front as JSON")
        parser.add_argument("--plot", metavar="PATH", help="PNG: every trial, the front, the baseline")
        parser.add_argument("--hypervolume-plot", metavar="PATH", help="PNG: hypervolume of the front over trials")
        parser.add_argument(
            "--reference-point",
            metavar="V,V[,V]",
            help="the hypervolume's reference point, one value per objective in the study's order (default: mAP50-95 "
            "0 and 1.1 x the worst trained value of each cost)",
        )
        parser.add_argument(
            "--verified",
            nargs="?",
            const="",
            metavar="BUDGET",
            help="also the verified results (shapenas verify) at BUDGET (default: the one with the most epochs); "
            "--plot then draws each verified trial's proxy and verified position and the verified front",
        )

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.results import Objectives, pareto

        outputs = {
            "--csv": args.csv,
            "--json": args.json,
            "--plot": args.plot,
            "--hypervolume-plot": args.hypervolume_plot,
        }
        for option, path in outputs.items():
            if path:
                check_writable(path, option)  # before any work: a bad path costs nothing and writes nothing
        study, config = open_existing_study(args)
        objectives = Objectives.of(config)
        reference = _reference_point(args.reference_point, objectives)
        rows = pareto.front(study)
        if not rows:
            raise UserError(f"study {study.study_name!r} has no trained trials yet")
        print_front(study, config, rows)
        budget = self._print_verified(study, args.verified)
        self._write(study, rows, args, budget, objectives, reference)
        return 0

    @staticmethod
    def _print_verified(study, wanted: str | None) -> str | None:
        if wanted is None:
            return None
        from shapenas.search.verify import pick_budget, report

        budget = pick_budget(study, wanted)
        print(report.report(study, budget))  # the face gives the module `report`, whose name it shares
        return budget

    @staticmethod
    def _write(study, rows, args: argparse.Namespace, budget: str | None, objectives, reference) -> None:
        from shapenas.search.results import pareto, plot_front, plot_hypervolume
        from shapenas.search.verify import plot_verified
        from shapenas.search.verify import rows as verified_rows

        if args.csv:
            write_text_atomic(args.csv, pareto.to_csv(rows), "--csv")
        if args.json:
            write_text_atomic(args.json, pareto.to_json(rows), "--json")
        if args.plot and budget is not None:
            drawn = verified_rows(study, budget)
            write_atomic(args.plot, lambda path: plot_verified(study, drawn, budget, path), "--plot")
        elif args.plot:
            write_atomic(args.plot, lambda path: plot_front(study, rows, objectives, path), "--plot")
        if args.hypervolume_plot:
            plot = partial(plot_hypervolume, study, reference_point=reference)
            write_atomic(args.hypervolume_plot, plot, "--hypervolume-plot")
