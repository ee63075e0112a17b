"""Pieces of `bench/scale.py`: the study's config, worker processes, growing a study with copies of real trials,
and timing `shapenas pareto` against Optuna alone."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import optuna
import sqlalchemy
import yaml
from common import ROOT
from optuna.trial import TrialState, create_trial

STUDY = "scale"
WORKER = [sys.executable, str(ROOT / "bench" / "scale_worker.py")]


def write_config(folder: Path, data: Path, budget: int) -> Path:
    """The quickstart search (every slot, NSGA-II, GFLOPs at 640 px), from scratch, no noise runs, on the CPU."""
    config = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    config["data"] = str(data)
    config["proxy"].update(init="scratch", noise_seeds=0, device="cpu")
    config["search"].update(trials=budget, presets=["baseline"])
    path = folder / "scale.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def env() -> dict:
    path = os.pathsep.join((str(ROOT), str(ROOT / "bench")))
    return {**os.environ, "YOLO_OFFLINE": "1", "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def shapenas(*args, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "shapenas.cli", *map(str, args)]
    done = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done


def spawn(command: list[str], cwd: Path, log: str, instant_cost: bool) -> subprocess.Popen:
    """`bench/scale_worker.py` running `command`; its stderr goes to `log` in `cwd`."""
    args = [*WORKER, *(["--instant-cost"] if instant_cost else []), "--", *map(str, command)]
    environment = {**env(), "SCALE_SPAWNED": repr(time.time())}
    with open(cwd / log, "w") as stderr:
        return subprocess.Popen(args, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=stderr, text=True)


def collect(process: subprocess.Popen, cwd: Path, log: str, timeout: float = 1800) -> dict:
    out, _ = process.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    if process.returncode != 0 or not lines:
        raise SystemExit(f"{log} exited {process.returncode}:\n{(cwd / log).read_text()[-3000:]}")
    return json.loads(lines[-1])


def fleet(url: str, workers: int, total: int, cwd: Path, instant_cost: bool) -> list[dict]:
    """`workers` instrumented `shapenas worker` processes, all started at once, until `total` trials are finished."""
    command = ["worker", "--storage", url, "--study", STUDY, "--trials", total, "--heartbeat", 10]
    processes = [spawn(command, cwd, f"w{i}.log", instant_cost) for i in range(workers)]
    try:
        return [collect(p, cwd, f"w{i}.log") for i, p in enumerate(processes)]
    finally:  # on any error (one worker failed, Ctrl-C), no worker outlives the benchmark
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def load(url: str) -> optuna.Study:
    """The study on Optuna's own storage for `url` (a journal file: Optuna's journal storage)."""
    if url.startswith("journal:///"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        backend = JournalFileBackend(url[len("journal:///") :])
        return optuna.load_study(study_name=STUDY, storage=JournalStorage(backend))
    return optuna.load_study(study_name=STUDY, storage=url)


def finished(url: str) -> int:
    study = load(url)
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _copy(template: optuna.trial.FrozenTrial, serial: int, rng: random.Random) -> optuna.trial.FrozenTrial:
    """A finished trial with the attributes of a real one; its own candidate key and slightly moved values."""
    user = dict(template.user_attrs, key=f"{template.user_attrs['key']}-copy{serial}")
    values = [template.values[0] * rng.uniform(0.8, 1.2), *(v * rng.uniform(0.8, 1.2) for v in template.values[1:])]
    user["map50_95"], user["gflops"] = values[0], values[1]
    return create_trial(
        state=TrialState.COMPLETE,
        values=values,
        params=template.params,
        distributions=template.distributions,
        user_attrs=user,
        system_attrs=template.system_attrs,
    )


# Copies by SQL, in Optuna's own tables (`optuna/storages/_rdb/models.py`): through the API a copy took 82 ms here
# (14 minutes for 10,000), too long for this machine. Each copy gets the next trial number, its own candidate key, and
# its objective values moved by up to 20 %; its other attributes are the template's as stored.
GROW_SQL = [
    """CREATE TEMP TABLE copies AS
    SELECT g AS serial, src.trial_id AS src_id, nextval(pg_get_serial_sequence('trials', 'trial_id')) AS new_id,
           :first + g - 1 AS number
    FROM generate_series(1, :count) AS g
    JOIN (SELECT t.trial_id, row_number() OVER (ORDER BY t.trial_id) - 1 AS i, count(*) OVER () AS n
          FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'map50_95'
          WHERE t.study_id = :study AND t.state = 'COMPLETE'
            AND NOT EXISTS (SELECT 1 FROM trial_user_attributes k
                            WHERE k.trial_id = t.trial_id AND k.key = 'key' AND k.value_json LIKE '%-copy%')) AS src
      ON src.i = g % src.n""",
    """INSERT INTO trials (trial_id, number, study_id, state, datetime_start, datetime_complete)
    SELECT c.new_id, c.number, t.study_id, t.state, t.datetime_start, t.datetime_complete
    FROM copies c JOIN trials t ON t.trial_id = c.src_id""",
    """INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json)
    SELECT c.new_id, p.param_name, p.param_value, p.distribution_json FROM copies c JOIN trial_params p
    ON p.trial_id = c.src_id""",
    """INSERT INTO trial_values (trial_id, objective, value, value_type)
    SELECT c.new_id, v.objective, v.value * (0.8 + 0.4 * random()), v.value_type FROM copies c JOIN trial_values v
    ON v.trial_id = c.src_id""",
    """INSERT INTO trial_user_attributes (trial_id, key, value_json)
    SELECT c.new_id, a.key,
           CASE WHEN a.key = 'key' THEN left(a.value_json, -1) || '-copy' || c.number || '"' ELSE a.value_json END
    FROM copies c JOIN trial_user_attributes a ON a.trial_id = c.src_id""",
    """INSERT INTO trial_system_attributes (trial_id, key, value_json)
    SELECT c.new_id, a.key, a.value_json FROM copies c JOIN trial_system_attributes a ON a.trial_id = c.src_id""",
]


def grow(url: str, to: int, seed: int = 0) -> float:
    """Add copies of the study's real trained trials until `to` are finished; returns the seconds it took."""
    if url.startswith("postgresql"):
        return _grow_sql(url, to)
    started = time.perf_counter()
    study = load(url)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    templates = [t for t in done if "map50_95" in t.user_attrs and "-copy" not in t.user_attrs["key"]]
    rng = random.Random(seed)
    study.add_trials([_copy(rng.choice(templates), n, rng) for n in range(len(done), to)])
    return time.perf_counter() - started


def _grow_sql(url: str, to: int) -> float:
    started = time.perf_counter()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        (study,) = connection.execute(
            sqlalchemy.text("SELECT study_id FROM studies WHERE study_name = :n"), {"n": STUDY}
        ).one()
        count_sql = "SELECT count(*), max(number) FROM trials WHERE study_id = :s"
        _, last = connection.execute(sqlalchemy.text(count_sql), {"s": study}).one()
        finished_now = finished(url)
        if to > finished_now:
            values = {"study": study, "count": to - finished_now, "first": last + 1}
            for statement in GROW_SQL:
                connection.execute(sqlalchemy.text(statement), values)
            connection.execute(sqlalchemy.text("DROP TABLE copies"))
    engine.dispose()
    return time.perf_counter() - started


def attr_bytes(url: str) -> dict:
    """Bytes of stored user and system attributes per finished trial (as JSON, as the RDB stores them)."""
    study = load(url)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    user = [sum(len(json.dumps(v)) + len(k) for k, v in t.user_attrs.items()) for t in trials]
    system = [sum(len(json.dumps(v)) + len(k) for k, v in t.system_attrs.items()) for t in trials]
    biggest = max(trials[-1].user_attrs, key=lambda k: len(json.dumps(trials[-1].user_attrs[k])))
    return {"user": statistics.median(user), "system": statistics.median(system), "biggest_user_attr": biggest}


PARETO_TIMER = """
import contextlib, io, json, sys, time
import optuna
from scale_parts import load
from shapenas.cli import main
url, study, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
optuna.logging.set_verbosity(optuna.logging.WARNING)
times = {"optuna": [], "pareto": []}
with contextlib.redirect_stdout(io.StringIO()):  # a first, untimed round: imports and lazy modules loaded
    load(url).best_trials, main(["pareto", "--storage", url, "--study", study])
for _ in range(repeats):  # alternated, so that neither side gets a warmer database than the other
    started = time.perf_counter()
    front = load(url).best_trials
    times["optuna"].append(time.perf_counter() - started)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["pareto", "--storage", url, "--study", study]) == 0
    times["pareto"].append(time.perf_counter() - started)
print(json.dumps(times))
"""


def time_pareto(url: str, cwd: Path, repeats: int) -> dict:
    """Seconds of `optuna.load_study(...).best_trials` and of the `shapenas pareto` command, in one process (imports
    done, each with a fresh storage), and of a whole `shapenas pareto` process."""
    command = [sys.executable, "-c", PARETO_TIMER, url, STUDY, str(repeats)]
    done = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    times = json.loads(done.stdout.strip().splitlines()[-1])
    started = time.perf_counter()
    shapenas("pareto", "--storage", url, "--study", STUDY, cwd=cwd)
    times["process"] = [time.perf_counter() - started]
    return times
