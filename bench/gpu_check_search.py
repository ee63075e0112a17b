"""Parts c and d of the GPU check: a real warm search, then `shapenas worker --workers-per-device K` on its study.

Both use one study in a journal file (workers refuse SQLite) under the check's work folder, outside --out so that
weights do not travel back with the report. Part c runs `shapenas search` in this process (so the data loader's
share and torch's peak memory can be read) and stops it with SIGTERM at its deadline, as Ctrl-C would: the running
trial is closed as FAIL. Part d starts the worker command for a fixed wall time per K, start-up included.
"""

from __future__ import annotations

import datetime
import os
import signal
import statistics
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDY = "gpu_check"
STOP_MARGIN_S = 25  # part c stops its search this long before its limit: closing, reading the study, the report
GPU = {"imgsz": 640, "batch": 16, "workers": 4, "parent_epochs": 3, "epochs": 2, "trials": 1000, "synth": (128, 32)}
SMOKE = {"imgsz": 64, "batch": 8, "workers": 0, "parent_epochs": 1, "epochs": 1, "trials": 2, "synth": (16, 8)}
WORKERS = {"gpu": ((1, 2, 4), 38), "smoke": ((1, 2), 25)}  # K values, seconds of wall time each


def work_folder(ctx) -> Path:
    folder = Path(os.environ.get("GPU_CHECK_WORK", ctx.out / "work"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def storage_url(ctx) -> str:
    # shapenas reads the path after "journal:///" as is: an absolute path keeps its own leading slash
    return f"journal:///{(work_folder(ctx) / 'study.log').absolute()}"


def relocated(data_yaml: Path, folder: Path) -> Path:
    """A copy of `data_yaml` in `folder` whose `path` is absolute and exists: a dataset carried to another machine
    keeps the `path` it was made with (e.g. /work/main/datasets/bccd), which Ultralytics would look for elsewhere;
    then its own folder is the dataset's root."""
    info = yaml.safe_load(data_yaml.read_text())
    stated = Path(str(info.get("path") or "."))
    root = stated if stated.is_absolute() else data_yaml.parent / stated
    info["path"] = str((root if root.is_dir() else data_yaml.parent).resolve())
    copy = folder / "data.yaml"
    copy.write_text(yaml.safe_dump(info, sort_keys=False))
    return copy


def prepare_data(ctx) -> Path:
    """--data when given, else the project's synthetic dataset at the proxy's size (reused when already there)."""
    if ctx.data is not None:
        return relocated(ctx.data, work_folder(ctx))
    from shapenas.data.synth import write_synthetic_dataset

    settings = SMOKE if ctx.smoke else GPU
    n_train, n_val = settings["synth"]
    return write_synthetic_dataset(work_folder(ctx) / "synth", n_train, n_val, imgsz=settings["imgsz"])


def prepare_config(ctx) -> Path:
    """configs/quickstart.yaml with the check's data, sizes and budgets (smoke: three head slots, quick builds)."""
    settings = SMOKE if ctx.smoke else GPU
    config = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    config["data"] = str(prepare_data(ctx))
    keys = ("imgsz", "batch", "workers", "parent_epochs", "epochs")
    config["proxy"].update({key: settings[key] for key in keys}, device="auto")
    config["proxy"]["noise_seeds"] = 0  # trials per hour counts trials; two noise runs would fill a third of the window
    config["cost"]["imgsz"] = settings["imgsz"]
    config["search"]["trials"] = settings["trials"]
    if ctx.smoke:
        config["space"]["slots"] = [16, 19, 13]
    path = work_folder(ctx) / "gpu_check.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def shapenas_args(ctx, command: str) -> list[str]:
    return [command, "--study", STUDY, "--storage", storage_url(ctx), "--artifacts", str(work_folder(ctx) / "art")]


def load_study(ctx):
    import optuna

    from shapenas.search.fleet import open_storage

    return optuna.load_study(study_name=STUDY, storage=open_storage(storage_url(ctx), create=False))


def trained_between(study, start: datetime.datetime, end: datetime.datetime) -> list:
    """Trials trained (not rejected, not reusing a twin's result) that finished within [start, end]."""
    from shapenas.search.results.record import is_trained, read

    return [
        t
        for t in study.get_trials(deepcopy=False)
        if is_trained(t) and read(t).reused_from is None and start <= t.datetime_complete <= end
    ]


def run_search(ctx, config: Path, deadline_s: float | None) -> tuple[int, datetime.datetime]:
    """`shapenas search` in this process, stopped by SIGTERM after `deadline_s`; (exit code, stop time)."""
    from shapenas.cli import main

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stop that comes after the search is over is ignored
    # to the main thread, where the search runs: a signal for the process may land in a data-loader thread
    timer = threading.Timer(deadline_s or 1e9, signal.pthread_kill, (threading.main_thread().ident, signal.SIGTERM))
    timer.daemon = True
    timer.start()
    code = main(["search", str(config), *shapenas_args(ctx, "search")[1:]])
    timer.cancel()
    return code, datetime.datetime.now()


def search_figures(study, started: datetime.datetime, stopped: datetime.datetime) -> dict:
    from shapenas.search.results.record import read

    trials = study.get_trials(deepcopy=False)
    if not trials:
        return {"trials_trained": 0, "parent_and_startup_s": None}
    first = min(t.datetime_start for t in trials if t.datetime_start)
    done = trained_between(study, first, stopped)
    window = (stopped - first).total_seconds()
    per_epoch = [read(t).train_seconds / len(read(t).epoch_map50_95) for t in done if read(t).epoch_map50_95]
    return {
        "parent_and_startup_s": round((first - started).total_seconds(), 1),
        "trials_trained": len(done),
        "trials_other": len(trials) - len(done),
        "window_s": round(window, 1),
        "trials_per_hour": round(3600 * len(done) / window, 1) if window > 0 else None,
        "trial_s_per_epoch": round(statistics.median(per_epoch), 2) if per_epoch else None,
    }


def cuda_memory() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"peak_allocated_mib": None, "peak_reserved_mib": None}
    return {
        "peak_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20),
        "peak_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20),
    }


def cell(value) -> str:
    """A table cell: '-' for what was not measured, yes/no for AMP (a set: one value per training)."""
    if isinstance(value, list):
        return "/".join("yes" if v else "no" for v in value) or "-"
    return "-" if value is None else str(value)


def search_table(ctx, f: dict) -> str:
    s = SMOKE if ctx.smoke else GPU
    data = "synthetic" if ctx.data is None else ctx.data.parent.name
    head = (
        "| data | px | batch | parent epochs | proxy epochs | parent + start-up s | trials trained | window s "
        "| trials/hour | s/epoch (trial) | s/epoch (train loop) | data-loader share | peak allocated MiB | AMP |"
    )
    cells = [data, s["imgsz"], s["batch"], s["parent_epochs"], s["epochs"], f.get("parent_and_startup_s")]
    cells += [f.get(k) for k in ("trials_trained", "window_s", "trials_per_hour", "trial_s_per_epoch")]
    cells += [f.get("train_loop_s_per_epoch"), f.get("loader_share"), f.get("peak_allocated_mib"), f.get("amp")]
    return "\n".join([head, "|---" * len(cells) + "|", "| " + " | ".join(map(cell, cells)) + " |"])


def part_c(ctx) -> dict:
    """A warm search on the GPU for the part's time, less a margin to stop; --smoke: until its 2 trials are done."""
    from gpu_check_timing import install

    config = prepare_config(ctx)
    timing = install()
    os.chdir(work_folder(ctx))  # runs/ of the search goes to the work folder
    started = datetime.datetime.now()
    code, stopped = run_search(ctx, config, None if ctx.smoke else ctx.limit_s - STOP_MARGIN_S)
    figures = {**search_figures(load_study(ctx), started, stopped), **timing.summary(), **cuda_memory()}
    ok = code in (0, 143) and figures["trials_trained"] > 0  # 143: stopped at the deadline, as planned
    skipped = [{"step": "AMP (fp16 autocast in Ultralytics' trainer) and GPU memory", "reason": "no CUDA device"}]
    return {
        "status": "ok" if ok else "failed",
        "tables": [search_table(ctx, figures)],
        "figures": {**figures, "exit_code": code},
        "skipped": skipped if ctx.smoke else [],
        **({} if ok else {"error": f"shapenas search exit {code}, {figures['trials_trained']} trials trained"}),
    }
