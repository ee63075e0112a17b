"""`shapenas export`: write a trial's model YAML (and its trained weights) for full-scale training."""

from __future__ import annotations

import argparse

from shapenas.commands.base import Command
from shapenas.commands.common import add_artifacts_argument, add_study_arguments, artifact_store, open_existing_study
from shapenas.errors import UserError
from shapenas.files import check_writable, write_atomic, write_text_atomic


def _pick(study, args: argparse.Namespace):
    from shapenas.search import pareto, record

    if args.trial is not None:
        matches = [t for t in record.trained(study) if t.number == args.trial]
        if not matches:
            raise UserError(f"--trial {args.trial}: no trained trial with that number in study {study.study_name!r}")
        return matches[0]
    rows = pareto.front(study)
    if not rows:
        raise UserError(f"study {study.study_name!r} has an empty Pareto front: nothing to export")
    if args.knee:
        return study.trials[pareto.knee(rows).trial]
    fitting = [r for r in rows if r.gflops <= args.max_gflops]
    if not fitting:
        raise UserError(
            f"--max-gflops {args.max_gflops:g}: no front trial fits (the smallest has {rows[0].gflops:.3f})"
        )
    return study.trials[max(fitting, key=lambda r: r.map50_95).trial]


def _check_recorded_cost(trial, model_yaml: dict, imgsz: int) -> None:
    """Build the exported YAML and make sure it is the model that was measured."""
    from shapenas.cost import yaml_cost
    from shapenas.search.record import read

    cost, stored = yaml_cost(model_yaml, imgsz), read(trial)
    recorded = (stored.params, stored.gflops)
    if cost.params != stored.params or abs(cost.gflops - stored.gflops) > 1e-6 * max(1.0, stored.gflops):
        raise UserError(f"trial {trial.number}: the YAML builds to {cost} but {recorded} was recorded")


class ExportCommand(Command):
    name = "export"
    help = "write the model YAML of a trial (by number, by GFLOPs budget, or the front's knee)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--trial", type=int, metavar="N", help="this trial")
        which.add_argument("--max-gflops", type=float, metavar="X", help="the best front trial with GFLOPs <= X")
        which.add_argument("--knee", action="store_true", help="the front's knee (best trade-off)")
        parser.add_argument("-o", "--out", required=True, metavar="OUT.yaml", help="model YAML to write")
        parser.add_argument(
            "--weights", metavar="OUT.pt", help="also write the trial's trained weights here (from the artifact store)"
        )
        add_study_arguments(parser)
        add_artifacts_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.search.record import read
        from shapenas.search.trial_files import fetch_weights, has_weights, model_yaml_of
        from shapenas.spaces.yaml_text import model_yaml_text

        check_writable(args.out, "-o")
        if args.weights:
            check_writable(args.weights, "--weights")
        study, config = open_existing_study(args)
        trial = _pick(study, args)
        model_yaml = model_yaml_of(trial)  # checked: the study may be shared, so its YAML is not trusted
        _check_recorded_cost(trial, model_yaml, config.proxy.imgsz)
        if args.weights and not has_weights(trial):
            raise UserError(f"--weights: trial {trial.number} kept no weights")
        if args.weights:  # first: it is the part that can fail (an unreachable or wrong artifact location)
            store = artifact_store(study, args)
            write_atomic(args.weights, lambda path: fetch_weights(store, trial, path), "--weights")
        header = f"shapenas study {study.study_name!r} trial {trial.number}: {read(trial).summary}"
        write_text_atomic(args.out, model_yaml_text(model_yaml, header), "-o")
        print(f"trial {trial.number}: mAP50-95 {trial.values[0]:.4f}, {trial.values[1]:.3f} GFLOPs -> {args.out}")
        return 0
