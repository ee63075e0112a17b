"""The GPU check (issue 20): one command, about 7.5 minutes on one GPU, that fills BENCHMARKS.md's GPU section.

    python bench/gpu_check.py --out DIR [--data DATA_YAML]   # on a machine with a CUDA GPU
    python bench/gpu_check.py --out DIR --smoke              # the same code paths, tiny, on the CPU (the tests run it)

Parts, in order, each in its own process with its own time limit (a part that fails or runs out of time is recorded
with its error, and the next one runs):
  a. correctness on CUDA: the CUDA cases of the module conformance suite and of the AMP suite (fp32, fp16, bf16);
  b. module speed: bench/modules.py --device cuda --amp;
  c. a real warm search with AMP at 640 px on --data (else synthetic data at 640 px), parent included, until 25 s
     before its 135 s limit: trials per hour, seconds per epoch, peak GPU memory, GPU utilisation, the data
     loader's share of the time;
  d. `shapenas worker --workers-per-device K` for K = 1, 2, 4 on the study of part c, a fixed wall time each;
  e. CUDA latency repeatability: bench/latency.py --device 0 --backends torch (two processes).
Writes DIR/gpu_check.md (tables for BENCHMARKS.md, with the device, versions and date), DIR/gpu_check.json and
DIR/logs/. `--smoke` runs everything on the CPU in seconds per part; steps that need CUDA are listed as skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_check_report import write_report  # noqa: E402
from gpu_check_sampler import GpuSampler  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# part: (title, limit on a GPU, limit in --smoke), seconds; the GPU limits add up to 430 of the 480 s allowed, the
# rest for installing the wheels and reading the device (part d: 3 x 38 s, each stop, creating the study)
PARTS = {
    "a": ("Correctness on CUDA", 60, 60),
    "b": ("Module speed", 40, 120),  # smoke: room for a loaded 2-core machine (19 s alone, 61 s under load)
    "c": ("A real search on the GPU", 135, 120),
    "d": ("Workers per GPU", 145, 120),
    "e": ("CUDA latency repeatability", 50, 90),
}
TOTAL_S = {"gpu": 450, "smoke": 600}


class BadInput(Exception):
    """Bad input to the check: one line on stderr and exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise BadInput(message)


def parse_args(argv=None) -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for gpu_check.md, gpu_check.json and logs")
    parser.add_argument("--smoke", action="store_true", help="tiny, on the CPU; CUDA-only steps are skipped")
    parser.add_argument("--data", type=Path, help="data.yaml of part c's search (default: synthetic data)")
    parser.add_argument("--parts", default="".join(PARTS), help="which parts to run, e.g. ace (default: all)")
    parser.add_argument("--total-seconds", type=float, help="wall budget of the whole check (default 450)")
    parser.add_argument("--worker-seconds", type=float, help="part d's wall time per K (default 38; smoke 25)")
    parser.add_argument("--part", choices=tuple(PARTS), help=argparse.SUPPRESS)  # internal: one part's process
    args = parser.parse_args(argv)
    if args.data is not None and not args.data.is_file():
        raise BadInput(f"--data {args.data}: no such file")
    if args.data is not None:
        args.data = args.data.resolve()
    if args.worker_seconds is not None and args.worker_seconds <= 0:
        raise BadInput(f"--worker-seconds {args.worker_seconds}: expected a positive number of seconds")
    if not args.parts or set(args.parts) - set(PARTS):
        raise BadInput(f"--parts {args.parts!r}: expected letters among {''.join(PARTS)}")
    args.out = args.out.resolve()
    return args


def probe_environment() -> dict:
    """Device and versions, read in a child process so that this one never initialises CUDA."""
    code = (
        "import json, platform, torch; from importlib import metadata as m\n"
        "def v(n):\n try: return m.version(n)\n except m.PackageNotFoundError: return 'missing'\n"
        "cuda = torch.cuda.is_available()\n"
        "print(json.dumps({'python': platform.python_version(), 'torch': torch.__version__,"
        " 'cuda': cuda, 'device': torch.cuda.get_device_name(0) if cuda else 'cpu',"
        " 'cuda_version': torch.version.cuda, 'bf16': bool(cuda and torch.cuda.is_bf16_supported()),"
        " 'ultralytics': v('ultralytics'), 'optuna': v('optuna'), 'cpus': __import__('os').cpu_count()}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BadInput(f"cannot import torch: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def part_command(args, part: str) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--out", str(args.out), "--part", part]
    command += ["--worker-seconds", str(args.worker_seconds)] if args.worker_seconds else []
    return command + (["--smoke"] if args.smoke else []) + (["--data", str(args.data)] if args.data else [])


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the part's process group, SIGKILL after 10 s; then SIGKILL to any process it started that is
    still there (shapenas' worker pool starts its workers in sessions of their own, out of the group's reach)."""
    import psutil

    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    _, alive = psutil.wait_procs(descendants, timeout=5)
    for leftover in alive:
        leftover.kill()


def run_part(args, part: str, limit: float, cuda: bool) -> dict:
    """Run one part in its own process group under `limit` seconds; its result, or why there is none."""
    result_file = args.out / f"part_{part}.json"
    result_file.unlink(missing_ok=True)
    log = args.out / "logs" / f"part_{part}.log"
    env = {**os.environ, "GPU_CHECK_LIMIT_S": str(limit), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with log.open("w") as out, GpuSampler(enabled=cuda) as sampler:
        process = subprocess.Popen(
            part_command(args, part), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            process.wait(timeout=limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_group(process)
    result = json.loads(result_file.read_text()) if result_file.exists() else {}
    result.update(seconds=round(time.perf_counter() - start, 1), limit_s=round(limit), gpu=sampler.summary())
    if timed_out:
        result.update(status="timeout", error=f"ran past its limit of {limit:.0f} s; log: logs/{log.name}")
    elif process.returncode != 0 and result.get("status") in (None, "ok"):
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        result.update(status="error", error=f"exit code {process.returncode}: " + "\n".join(tail))
    return result


def fresh_work_folder(out: Path) -> Path:
    """Parts c-e share a study, data and weights in a folder outside --out (weights need not travel back); each
    check starts it empty, so a second run measures the same thing as the first."""
    folder = Path(tempfile.gettempdir()) / f"gpu_check_work_{hashlib.sha1(str(out).encode()).hexdigest()[:8]}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def run_all(args, env: dict) -> dict:
    mode = "smoke" if args.smoke else "gpu"
    os.environ["GPU_CHECK_WORK"] = str(fresh_work_folder(args.out))
    deadline = time.perf_counter() + (args.total_seconds or TOTAL_S[mode])
    results = {}
    for part in args.parts:
        title, gpu_limit, smoke_limit = PARTS[part]
        limit = min(smoke_limit if args.smoke else gpu_limit, deadline - time.perf_counter())
        if limit < 5:
            results[part] = {"status": "skipped", "error": "no time left in the check's wall budget"}
        else:
            print(f"part {part}: {title} (limit {limit:.0f} s)", flush=True)
            results[part] = run_part(args, part, limit, env["cuda"])
        results[part]["title"] = title
        print(f"part {part}: {results[part]['status']} in {results[part].get('seconds', 0)} s", flush=True)
        write_report(args.out, env, results, mode)  # after every part: a later hang still leaves a report
    return results


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        if args.part:
            from gpu_check_parts import run_in_child

            return run_in_child(args)
        if args.smoke:  # the CPU rehearsal stays on the CPU even where there is a GPU, so its skips are true
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        env = probe_environment()
        if not env["cuda"] and not args.smoke:
            raise BadInput("no CUDA device here: run with --smoke for the CPU rehearsal")
        (args.out / "logs").mkdir(parents=True, exist_ok=True)
    except (BadInput, OSError) as error:
        print(f"gpu_check: error: {error}", file=sys.stderr)
        return 2
    env["command"] = " ".join(["python bench/gpu_check.py", *(argv if argv is not None else sys.argv[1:])])
    results = run_all(args, env)
    print(f"report: {args.out / 'gpu_check.md'}")
    return 0 if all(r["status"] in ("ok", "skipped") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
