"""The path one search takes through shapenas before its first trial: which modules it enters, in order, between
`bench/common.py:one_search` and the first call of the trial's objective (`Objective.__call__`).

A reader following a config to its first trial reads these modules; issue 19 asked for fewer. Counted with a profile
hook on a real `one_search` (in-memory storage, tiny synthetic data, one trial): every call into a `shapenas` module
is noted until the objective is entered; there the path is complete and the search is stopped.

    python bench/call_path.py                      # the quickstart config from scratch, its noise runs included
    python bench/call_path.py --set proxy.noise_seeds=0   # without them
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import bench_parser, one_search, quiet

SCOPE = "shapenas."
FIRST_TRIAL = ("shapenas.search.loop.objective", "__call__")  # today's home of the objective
OLD_FIRST_TRIAL = ("shapenas.search.objective", "__call__")  # the flat layout's, to measure the "before"
PLUMBING = {"shapenas.search.faces", "shapenas.search.loop", "shapenas.search.fleet", "shapenas.search.results"}


def import_everything() -> None:
    """Every shapenas module imported before the path is traced, so imports do not count as steps of the path."""
    import importlib
    import pkgutil

    import shapenas

    for module in pkgutil.walk_packages(shapenas.__path__, "shapenas."):
        importlib.import_module(module.name)


class CallPath:
    """Profile hook: each shapenas function called, in order, until the first trial's objective is entered."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(SCOPE) or module in PLUMBING or frame.f_code.co_name == "<module>":
            return
        call = (module, frame.f_code.co_name)
        if call in (FIRST_TRIAL, OLD_FIRST_TRIAL):
            sys.setprofile(None)
            raise SystemExit  # the first trial starts: the path is complete, the trial need not run
        self.calls.append(call)

    def modules(self, prefix: str = SCOPE) -> list[str]:
        """Distinct modules under `prefix`, in the order first entered."""
        return list(dict.fromkeys(module for module, _ in self.calls if module.startswith(prefix)))

    def hops(self, prefix: str) -> int:
        """How often the path moves from one module under `prefix` to another (bouncing counts each time)."""
        path = [module for module, _ in self.calls if module.startswith(prefix)]
        return sum(1 for a, b in zip(path, path[1:], strict=False) if a != b)


def main() -> None:
    parser = bench_parser(__doc__)
    args = parser.parse_args()
    quiet()
    from shapenas.config import load_config
    from shapenas.data.synth import write_synthetic_dataset

    folder = Path(tempfile.mkdtemp(prefix="call_path_"))
    data = write_synthetic_dataset(folder / "data", n_train=16, n_val=8, imgsz=64)
    overrides = ["proxy.init=scratch", "proxy.epochs=1", "search.trials=1", f"data={data}", *args.set]
    config = load_config(args.config, overrides)
    import_everything()
    path = CallPath()
    sys.setprofile(path)
    try:
        one_search(config, folder / "run")
    except SystemExit:
        pass
    finally:
        sys.setprofile(None)
    search_modules = path.modules("shapenas.search")
    print(f"config {args.config} with {' '.join(overrides)}")
    print(
        f"{len(path.modules())} shapenas modules, {len(search_modules)} of them in shapenas.search; "
        f"{path.hops('shapenas.search')} moves between search modules; {len(path.calls)} shapenas calls"
    )
    order = " -> ".join(module.removeprefix("shapenas.search.") for module in search_modules)
    print(f"search modules in the order first entered: {order}")


if __name__ == "__main__":
    main()
