"""`shapenas space CONFIG`: show a search space (slots, choices, size); `--sample K` renders random candidates."""

from __future__ import annotations

import argparse
from pathlib import Path

from shapenas.commands.base import Command
from shapenas.text import count


def _slot_table(space) -> list[str]:
    lines = [f"{'layer':>5}  {'section':<8}  {'kind':<8}  {'channels':>11}  {'stride':>6}  choices"]
    for slot in space.slots:
        choices = " | ".join(option.describe() for option in space.choices[slot.index].options)
        channels = f"{slot.c1} -> {slot.c2}"
        lines.append(f"{slot.index:>5}  {slot.section:<8}  {slot.kind:<8}  {channels:>11}  {slot.stride:>6}  {choices}")
    return lines


def _dropped_lines(space) -> list[str]:
    """The configured module values a slot cannot take, each with the module's reason."""
    dropped = [d for slot in space.slots for d in space.choices[slot.index].dropped]
    if not dropped:
        return []
    lines = ["not offered (the module refuses these values at that slot):"]
    return lines + [f"  {d.slot} {d.module} {d.value}: {d.reason}" for d in dropped]


def _size_text(size: int) -> str:
    return f"{size}" if size < 10**6 else f"{size:.3e} ({size})"


def _shape_grids(grids: dict[str, str]) -> list[str]:
    lines = []
    for layer, grid in grids.items():
        lines.append(f"  {layer} AKConv shape:")
        lines.extend(f"    {row}" for row in grid.splitlines())
    return lines


def _write_sample(space, proposal, path: Path) -> None:
    from shapenas.files import write_text_atomic
    from shapenas.spaces.yaml_text import model_yaml_text

    candidate = proposal.candidate
    header = (
        f"shapenas candidate {candidate.key()}: {candidate.summary()}\n"
        f"base {space.config.base}, scale {space.config.scale}; build with `import shapenas` first"
    )
    write_text_atomic(path, model_yaml_text(proposal.model_yaml, header), "--out")
    print(f"  wrote {path}")


def _latency_text(latency) -> str:
    if latency is None:
        return ""
    return f"  latency {latency.latency_ms:.1f} ms ({latency.latency_ratio:.3f} x base, {latency.latency_backend})"


def _classes(space) -> tuple[int | None, str]:
    """The class count candidates are costed with, and where it comes from: the dataset's, as in a search trial,
    when the config's data is readable here (read as YAML only: nothing is checked or downloaded), else the base's."""
    import yaml

    from shapenas.config import require_data
    from shapenas.errors import UserError

    try:
        data = require_data(space.config)
        info = yaml.safe_load(Path(data).read_text())
        classes = int(info["nc"]) if "nc" in info else len(info["names"])
        return classes, f"{count(classes, 'class', 'classes')}, from data {data}, as a search trial is costed"
    except (UserError, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        why = error if isinstance(error, UserError) else f"data: {space.config.data!r} unreadable here"
        base = space.render(space.baseline()).get("nc")
        return None, f"{base} classes, the base's ({why}); a search costs with its dataset's"


def _sample(space, count: int, seed: int, out_dir: Path | None) -> None:
    """Random candidates, proposed and costed exactly as a search trial would be (with the dataset's `nc` when the
    data is here): GFLOPs at `cost.imgsz`, and latency against the base when latency is an objective or a
    constraint."""
    import optuna

    from shapenas.evaluators import CostEvaluator, Job
    from shapenas.search.loop import akconv_grids, latency_evaluator, propose

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    imgsz, (classes, source) = space.config.cost.imgsz, _classes(space)
    print(f"costed with {source}")
    timer = latency_evaluator(space.config, space, classes=classes)
    for k in range(1, count + 1):
        trial = study.ask()
        proposal = propose(space, trial, classes)
        key = proposal.candidate.key()
        job = Job(proposal.model_yaml, out_dir or Path("."))
        cost = CostEvaluator(imgsz).evaluate(job)
        latency = _latency_text(None if timer is None else timer.evaluate(job))
        print(f"\nsample {k}/{count}  key {key}  {cost.gflops:.3f} GFLOPs @{imgsz}  {cost.params:,} params{latency}")
        print(f"  {proposal.candidate.summary()}")
        print("  params: " + (" ".join(f"{name}={value}" for name, value in trial.params.items()) or "(none)"))
        for line in _shape_grids(akconv_grids(proposal.candidate)):
            print(line)
        if out_dir is not None:
            _write_sample(space, proposal, out_dir / f"sample_{k:02d}_{key}.yaml")


class SpaceCommand(Command):
    name = "space"
    help = "Show a search space: its slots, the choices per slot and its size; --sample renders random candidates."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", metavar="CONFIG", help="search config YAML (see configs/)")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            dest="overrides",
            help="override a config key, e.g. --set space.slots=downsample (repeatable; values read as YAML)",
        )
        parser.add_argument("--sample", type=int, default=0, metavar="K", help="render K random candidates")
        parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="write the sampled YAMLs here")
        parser.add_argument("--seed", type=int, default=None, metavar="S", help="sampling seed (default search.seed)")

    def run(self, args: argparse.Namespace) -> int:
        from shapenas.config import load_config
        from shapenas.errors import UserError
        from shapenas.spaces import SearchSpace

        if args.sample < 0:
            raise UserError(f"--sample: expected a count >= 0, got {args.sample}")
        if args.out is not None and args.sample == 0:
            raise UserError(f"--out: needs --sample K to have candidates to write, got --out {str(args.out)!r}")
        config = load_config(args.config, args.overrides)
        space = SearchSpace(config)  # checks the slot-dependent keys: all checks pass before anything is written
        scale = f", scale {config.scale}" if config.scale else ""
        print(f"base {config.base}{scale}: {len(space.rows)} layers, {count(len(space.slots), 'slot')} selected")
        print("\n".join(_slot_table(space) + _dropped_lines(space)))
        print(f"space size: {_size_text(space.size())} distinct candidates")
        print(f"presets enqueued first: {', '.join(config.search.presets) or '(none)'}")
        if args.sample:
            if args.out is not None:
                args.out.mkdir(parents=True, exist_ok=True)
            seed = args.seed if args.seed is not None else (config.search.seed or 0)
            _sample(space, args.sample, seed, args.out)
        return 0
