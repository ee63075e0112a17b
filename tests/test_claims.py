"""Claims (shapenas.search.fleet.claims): each job is done by exactly one of several real processes on one storage, the
others get its result; a claimant killed with SIGKILL is found dead by its silent lease and its job taken over;
a job whose work raised is done by the next claimant."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from optuna.trial import TrialState

from shapenas.search.fleet.claims import JOB_ATTR, Claims
from shapenas.search.fleet.lease import BEAT_ATTR
from shapenas.search.fleet.storage import open_storage
from tests.worker_helpers import wait_for

NAME = "s:shapenas-test"
# One claimant: does each job in argv through Claims.once; working appends "job pid" to work.log (after a pause, so
# that every process is waiting while the first works), and every process prints the results it got.
CLAIMANT = textwrap.dedent(
    """
    import os, sys, time
    from shapenas.search.fleet.claims import Claims
    from shapenas.search.fleet.storage import open_storage

    url, name, seconds, *jobs = sys.argv[1:]
    claims = Claims(open_storage(url), name, heartbeat_seconds=float(seconds), poll_seconds=0.1)

    def work(job):
        open("started", "a").close()
        time.sleep(float(os.environ.get("WORK_SECONDS", "1.5")))
        with open("work.log", "a") as log:
            log.write(f"{job} {os.getpid()}\\n")
        return {"job": job, "by": os.getpid()}

    for job in jobs:
        print(job, claims.once(job, lambda: work(job)).result["by"], flush=True)
    """
)


def claimant(folder, url, *jobs, seconds=1.0, work_seconds=1.5) -> subprocess.Popen:
    env = {**os.environ, "WORK_SECONDS": str(work_seconds)}
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMANT, url, NAME, str(seconds), *jobs],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(params=["journal", "sqlite"])
def url(request, tmp_path):
    """A storage that exists already, as a study's does when its processes start (SQLite's schema is made once)."""
    url = f"journal:///{tmp_path / 'claims.log'}" if request.param == "journal" else f"sqlite:///{tmp_path / 'c.db'}"
    open_storage(url)
    return url


def test_three_processes_do_each_job_once_and_share_its_result(tmp_path, url):
    processes = [claimant(tmp_path, url, "a", "b") for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    done = (tmp_path / "work.log").read_text().split()
    assert sorted(done[0::2]) == ["a", "b"]  # each job worked once
    workers = dict(zip(done[0::2], done[1::2], strict=True))
    for out, _ in outputs:  # every process got the result of the one that worked
        assert dict(line.split() for line in out.splitlines()) == workers
    claims = Claims(open_storage(url), NAME)
    complete = claims.study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(c.user_attrs[JOB_ATTR] for c in complete if c.value == 1.0) == ["a", "b"]
    assert len(complete) == 6 and not claims.study.get_trials(states=(TrialState.RUNNING,))


def test_a_killed_claimants_job_is_taken_over(tmp_path, url):
    dead = claimant(tmp_path, url, "a", work_seconds=600)
    try:
        assert wait_for(lambda: (tmp_path / "started").exists(), timeout=120), dead.stderr.read()
    finally:
        os.killpg(dead.pid, signal.SIGKILL)
        dead.wait(timeout=30)
    claims = Claims(open_storage(url), NAME, heartbeat_seconds=0.5, poll_seconds=0.1)
    waited = []
    outcome = claims.once("a", lambda: "mine", on_wait=waited.append)
    assert outcome.worked and outcome.result == "mine"
    first, second = claims.study.trials
    assert waited == [first.number]  # it waited for the dead claim until its lease went silent
    assert first.state == TrialState.FAIL and BEAT_ATTR in first.system_attrs and BEAT_ATTR not in first.user_attrs
    assert second.state == TrialState.COMPLETE and second.value == 1.0


def test_work_that_raises_fails_the_claim_and_the_next_claimant_works(tmp_path, url):
    claims = Claims(open_storage(url), NAME, heartbeat_seconds=0.5, poll_seconds=0.1)

    def broken():
        raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError, match="out of disk"):
        claims.once("a", broken)
    assert claims.once("a", lambda: 7) == claims.once("b", lambda: 7).__class__(7, True)
    assert claims.once("a", lambda: pytest.fail("done twice")).result == 7
    states = [(c.user_attrs[JOB_ATTR], c.state, c.value) for c in claims.study.trials]
    assert states == [
        ("a", TrialState.FAIL, None),
        ("a", TrialState.COMPLETE, 1.0),
        ("b", TrialState.COMPLETE, 1.0),
    ]  # a job already done takes no claim at all
