"""`shapenas export`: write a trial's model YAML (and its trained weights) for full-scale training."""

from __future__ import annotations

import argparse

from shapenas.commands.base import Command
from shapenas.commands.common import add_artifacts_argument, add_study_arguments, artifact_store, open_existing_study
from shapenas.errors import UserError
from shapenas.files import check_writable, write_atomic, write_text_atomic

# `export --max-gflops X --max-latency-ms Y`: the budget options, the front row field each limits, and its unit
_BUDGETS = {"max_gflops": ("gflops", "GFLOPs"), "max_latency_ms": ("latency_ms", "ms")}


def _check_one_way(args: argparse.Namespace) -> None:
    """Exactly one way of picking: --trial, --knee, or the budgets (--max-gflops and/or --max-latency-ms)."""
    ways = [args.trial is not None, args.knee is not None, any(getattr(args, b) is not None for b in _BUDGETS)]
    if sum(ways) != 1:
        raise UserError(
            "export: pick the trial one way: --trial N, --knee [gflops|latency], or --max-gflops X and/or "
            f"--max-latency-ms X (got {sum(ways)} ways)"
        )


def _within_budgets(rows, args: argparse.Namespace):
    """The front rows within every budget given; `UserError` naming the budget that nothing meets."""
    for option, (field, unit) in _BUDGETS.items():
        limit = getattr(args, option)
        if limit is None:
            continue
        flag = "--" + option.replace("_", "-")
        measured = [getattr(r, field) for r in rows if getattr(r, field) is not None]
        if not measured:
            raise UserError(f"{flag} {limit:g}: the study measured no latency (see cost and search.objectives)")
        fitting = [r for r in rows if getattr(r, field) is not None and getattr(r, field) <= limit]
        if not fitting:
            raise UserError(f"{flag} {limit:g}: no front trial fits (the smallest has {min(measured):.3f} {unit})")
        rows = fitting
    return rows


def _pick(study, objectives, args: argparse.Namespace):
    from shapenas.search.results import pareto, record

    if args.trial is not None:
        matches = [t for t in record.trained(study) if t.number == args.trial]
        if not matches:
            raise UserError(f"--trial {args.trial}: {record.why_untrained(study, args.trial)}")
        return matches[0]
    rows = pareto.front(study)
    if not rows:
        raise UserError(f"study {study.study_name!r} has an empty Pareto front: nothing to export")
    if args.knee is not None:
        cost = args.knee or objectives.costs[0]
        if cost not in objectives.costs:
            raise UserError(
                f"--knee {cost}: not an objective of study {study.study_name!r} ({', '.join(objectives.costs)})"
            )
        return study.trials[pareto.knee(rows, cost).trial]
    return study.trials[max(_within_budgets(rows, args), key=lambda r: (r.map50_95, -r.trial)).trial]


def _check_recorded_cost(trial, model_yaml: dict, imgsz: int) -> None:
    """Build the exported YAML and make sure it is the model that was measured."""
    from shapenas.cost import yaml_cost
    from shapenas.search.results import record

    cost, stored = yaml_cost(model_yaml, imgsz), record.read(trial)
    recorded = (stored.params, stored.gflops)
    if cost.params != stored.params or abs(cost.gflops - stored.gflops) > 1e-6 * max(1.0, stored.gflops):
        raise UserError(f"trial {trial.number}: the YAML builds to {cost} but {recorded} was recorded")


class ExportCommand(Command):
    name = "export"
    help = "write the model YAML of a trial (by number, by GFLOPs / latency budget, or the front's knee)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--trial", type=int, metavar="N", help="this trial")
        parser.add_argument(
            "--max-gflops", type=float, metavar="X", help="the best front trial with GFLOPs (at cost.imgsz) <= X"
        )
        parser.add_argument(
            "--max-latency-ms", type=float, metavar="X", help="the best front trial with latency <= X ms (as measured)"
        )
        parser.add_argument(
            "--knee",
            nargs="?",
            const="",
            choices=["", "gflops", "latency"],
            metavar="gflops|latency",
            help="the knee (best trade-off) of mAP50-95 against this cost (default: the study's first cost)",
        )
        parser.add_argument("-o", "--out", required=True, metavar="OUT.yaml", help="model YAML to write")
        parser.add_argument(
            "--weights", metavar="OUT.pt", help="also write the trial's trained weights here (from the artifact store)"
        )
        add_study_arguments(parser)
        add_artifacts_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.results import Objectives, fetch_weights, has_weights, model_yaml_of, record
        from shapenas.spaces.yaml_text import model_yaml_text

        _check_one_way(args)
        check_writable(args.out, "-o")
        if args.weights:
            check_writable(args.weights, "--weights")
        study, config = open_existing_study(args)
        objectives = Objectives.of(config)
        trial = _pick(study, objectives, args)
        model_yaml = model_yaml_of(trial)  # checked: the study may be shared, so its YAML is not trusted
        _check_recorded_cost(trial, model_yaml, config.cost.imgsz)
        if args.weights and not has_weights(trial):
            raise UserError(f"--weights: trial {trial.number} kept no weights")
        if args.weights:  # first: it is the part that can fail (an unreachable or wrong artifact location)
            store = artifact_store(study, args)
            write_atomic(args.weights, lambda path: fetch_weights(store, trial, path), "--weights")
        header = f"shapenas study {study.study_name!r} trial {trial.number}: {record.read(trial).summary}"
        write_text_atomic(args.out, model_yaml_text(model_yaml, header), "-o")
        costs = objectives.costs_text(trial.values[1:])
        print(f"trial {trial.number}: mAP50-95 {trial.values[0]:.4f}, {costs} -> {args.out}")
        return 0
