"""Multi-rank tests: each launches ``mpiexec -n 2`` (found next to the interpreter) on
tests/distributed_worker.py with a timeout, killing the whole process group if it hangs."""
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts subprocesses

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install -e '.[mpi]')")
MPIEXEC = Path(sys.executable).with_name("mpiexec")
if not MPIEXEC.exists():
    pytest.skip(f"no mpiexec next to {sys.executable} (pip install mpich)",
                allow_module_level=True)

WORKER = Path(__file__).resolve().parents[1] / "distributed_worker.py"
ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60


def _start(*args):
    token = uuid.uuid4().hex
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, str(WORKER), *args, token]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    return proc, token, time.monotonic()


def _finish(job):
    proc, token, t0 = job
    try:
        out, err = proc.communicate(timeout=LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpiexec job hung for {LIMIT} s (killed)\n{out}\n{err}")
    return proc.returncode, out, err, time.monotonic() - t0, token


def _left_over(token, grace=3.0):
    """Processes whose command line carries the job's token, still there ``grace`` seconds
    after the launcher returned (a rank it has just signalled may take a moment to go)."""
    deadline = time.monotonic() + grace
    while True:
        found = _processes_with(token)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _processes_with(token):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline:
                found.append(int(pid))
    return found


FAULTS = {"raise": "ValueError", "exit": "exited after 1 collectives",
          "kill": "signal 9", "stall": "all_reduce (collective #2 on rank 0) timed out after 1 s",
          "disagree": "timed out after 1 s", "early": "signal 14"}


@pytest.fixture(scope="module")
def jobs():
    """Every job at once: the fault jobs mostly wait, so together they cost about one job."""
    started = {"all": _start("all", "60")}
    started.update({mode: _start(mode, "1") for mode in FAULTS})
    return {mode: _finish(job) for mode, job in started.items()}


def test_two_ranks_match_one_rank_and_collectives(jobs):
    rc, out, err, _, _ = jobs["all"]
    assert rc == 0, out + err
    oks = [line[3:] for line in out.splitlines() if line.startswith("OK ")]
    for expected in ("all_reduce sum", "all_reduce avg", "all_reduce max", "all_reduce min",
                     "broadcast", "broadcast_object_list", "all_gather", "local rank",
                     "sampler: equal counts", "sampler: every index once, padded from the start",
                     "sampler: set_epoch changes the order", "destroy_process_group"):
        assert expected in oks, out + err
    assert any(o.startswith("waiting costs little CPU") for o in oks), out + err
    for bn in ("False", "True"):
        assert sum(f"DDP broadcasts rank 0's parameters (bn={bn})" == o for o in oks) == 2
        for cap in ("25", "0.0005"):
            assert any(o.startswith(f"2 ranks x B/2 == 1 rank x B (bn={bn}, "
                                    f"bucket_cap_mb={cap},") for o in oks), out + err
            assert f"replicas bitwise identical (bn={bn}, bucket_cap_mb={cap})" in oks


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_a_failing_rank_ends_the_job(jobs, mode):
    rc, out, err, seconds, token = jobs[mode]
    assert rc != 0, out + err
    assert seconds < 30
    assert "UNREACHABLE" not in out
    assert FAULTS[mode] in out + err, out + err
    if mode == "disagree":
        # rank 0 broadcasts while rank 1 waits at a barrier: MPI may pair the two, then the
        # next collective is the one that times out; either way one is named
        assert re.search(r"(broadcast|barrier|all_reduce) \(collective #\d+ on rank \d\) "
                         r"timed out", err), err
    assert _left_over(token) == []
