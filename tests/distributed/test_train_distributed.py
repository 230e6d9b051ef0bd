"""scripts/train.py under ``mpiexec -n 2``: rank 0 alone writes, the run equals a 1-process
run, checkpoints resume across world sizes, bad flags end every rank with exit code 2.
Every job runs with a timeout (tests/test_distributed_mpi.py's helpers)."""
import json
import re
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.distributed as dist
from diffusion import parallel
from diffusion.training import UsageError, train

pytestmark = pytest.mark.slow  # starts subprocesses

try:  # the multi-rank jobs need mpi4py and mpiexec; the in-process tests run without them
    from test_distributed_mpi import MPIEXEC, ROOT, _finish, _left_over
    NO_MPI = None
except pytest.skip.Exception as e:
    NO_MPI = str(e)
needs_mpi = pytest.mark.skipif(NO_MPI is not None, reason=str(NO_MPI))

TINY = ["--image-size", "8", "--channels", "4,8", "--batch-size", "4", "--dataset-size", "16",
        "--timesteps", "25", "--samples", "4", "--sample-steps", "5", "--no-progress"]
# runs scripts/train.py's main() and reports each rank's exit code on stdout
RUNNER = ("import os, sys\n"
          "sys.path.insert(0, os.path.join(sys.argv.pop(1), 'scripts'))\n"
          "import train\n"
          "try:\n"
          "    rc = train.main(sys.argv[2:])\n"
          "except SystemExit as e:\n"
          "    rc = e.code\n"
          "print(f'EXIT {os.environ.get(\"PMI_RANK\", \"-\")} {rc}', flush=True)\n"
          "sys.exit(rc)\n")


def _start(ranks, *argv, module=False):
    """``mpiexec -n ranks`` (``ranks=0``: plain python) on train.py with ``argv``. With
    ``module`` the script itself runs as ``python -m mpi4py scripts/train.py``."""
    token = uuid.uuid4().hex
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.pop("OMP_NUM_THREADS", None)
    if module:
        py = [sys.executable, "-m", "mpi4py", str(ROOT / "scripts" / "train.py"), *argv]
    else:
        py = [sys.executable, "-c", RUNNER, str(ROOT), token, *argv]
    cmd = ([str(MPIEXEC), "-n", str(ranks)] if ranks else []) + py
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    return proc, token, time.monotonic()


def _exits(out):
    # the ranks' lines reach mpiexec's stdout interleaved (a line's text and its newline may be
    # two writes), so find the markers anywhere
    return sorted([r, c] for r, c in re.findall(r"EXIT (\S+?) (-?\d+)", out))


def _log(folder):
    return [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]


def test_one_process_joins_and_leaves_its_own_group_only(tmp_path, monkeypatch):
    cfg = {"image_size": 8, "widths": "4,8", "batch_size": 2, "dataset_size": 4, "timesteps": 25,
           "samples": 1, "sample_steps": 2, "progress": False, "steps": 1}
    assert not dist.is_initialized()
    train({**cfg, "out": str(tmp_path / "a")}, log=lambda *a: None)
    assert not dist.is_initialized()  # the group train() made is gone
    dist.init_process_group()
    try:
        train({**cfg, "out": str(tmp_path / "b")}, log=lambda *a: None)
        assert dist.is_initialized() and dist.get_world_size() == 1  # the caller's is kept
    finally:
        dist.destroy_process_group()
    with pytest.raises(UsageError, match="--dist-backend must be one of mpi, nccl, got 'gloo'"):
        train({**cfg, "out": str(tmp_path / "c"), "dist_backend": "gloo"})
    assert not (tmp_path / "c").exists() and not dist.is_initialized()


def test_launcher_rank_reads_the_launchers_variables(monkeypatch):
    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert parallel.launcher_rank() == 0
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    assert parallel.launcher_rank() == 3
    monkeypatch.setenv("PMI_RANK", "1")
    assert parallel.launcher_rank() == 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """All jobs of a phase at once (they mostly wait on each other's cores anyway)."""
    tmp = tmp_path_factory.mktemp("ddp")
    d = {name: tmp / name for name in ("two", "straight", "two_then_one", "one_then_two",
                                       "existing")}
    d["existing"].mkdir()
    (d["existing"] / "keep.txt").write_text("mine")
    first = {
        "two": _start(2, *TINY, "--out", str(d["two"]), "--steps", "4", module=True),
        "straight": _start(0, *TINY, "--out", str(d["straight"]), "--steps", "6"),
        "two_then_one": _start(2, *TINY, "--out", str(d["two_then_one"]), "--steps", "3"),
        "one_then_two": _start(0, *TINY, "--out", str(d["one_then_two"]), "--steps", "3"),
        "odd_batch": _start(2, *TINY, "--out", str(tmp / "odd"), "--batch-size", "5"),
        "bad_choice": _start(2, *TINY, "--out", str(tmp / "bad"), "--model", "transformer"),
        "bad_backend": _start(2, *TINY, "--out", str(tmp / "bad"), "--dist-backend", "gloo"),
        "existing": _start(2, *TINY, "--out", str(d["existing"]), "--steps", "2"),
        "diverges": _start(2, *TINY, "--out", str(tmp / "nan"), "--steps", "5",
                           "--lr", "1e30"),
    }
    done = {name: _finish(job) for name, job in first.items()}
    second = {
        "two_then_one": _start(0, *TINY, "--out", str(d["two_then_one"]), "--steps", "6",
                               "--resume", "auto"),
        "one_then_two": _start(2, *TINY, "--out", str(d["one_then_two"]), "--steps", "6",
                               "--resume", "auto"),
    }
    done.update({f"{name}_resumed": _finish(job) for name, job in second.items()})
    return done, d, tmp


@needs_mpi
def test_two_ranks_write_one_checkpoint_log_and_grid(runs):
    done, d, _ = runs
    rc, out, err, _, token = done["two"]
    assert rc == 0, out + err
    assert sorted(p.name for p in d["two"].iterdir()) == [".train.lock", "checkpoint.npz",
                                                          "log.jsonl", "samples.png"]
    assert [r["step"] for r in _log(d["two"])] == [1, 2, 3, 4]  # rank 0 alone logs
    assert out.count("done: 4 steps") == 1, out
    ck = an.load(d["two"] / "checkpoint.npz")
    assert ck["step"] == 4
    assert not any(k.startswith("module.") for k in ck["model"])  # the bare model's keys
    assert _left_over(token) == []


@needs_mpi
def test_two_ranks_match_one_rank(runs):
    """2 ranks x B/2 make the same run as 1 process x B, float32 rounding apart (the
    parameters are compared after resuming, below)."""
    done, d, _ = runs
    assert done["straight"][0] == 0, done["straight"][1] + done["straight"][2]
    la, lb = _log(d["straight"]), _log(d["two"])
    np.testing.assert_allclose([r["loss"] for r in lb], [r["loss"] for r in la[:4]], rtol=1e-5)


def _compare(resumed, straight):
    a, b = an.load(straight / "checkpoint.npz"), an.load(resumed / "checkpoint.npz")
    assert a["step"] == b["step"] == 6
    assert b["loader"] == a["loader"]
    for part in ("model", "ema"):
        sa, sb = a[part], b[part]
        sa, sb = (sa.get("ema_model", sa), sb.get("ema_model", sb))
        assert sa.keys() == sb.keys()
        for k, v in sa.items():
            if hasattr(v, "numpy"):
                np.testing.assert_allclose(sb[k].numpy(), v.numpy(), rtol=1e-4, atol=1e-5,
                                           err_msg=f"{part}.{k}")
    la, lb = _log(straight), _log(resumed)
    assert [r["step"] for r in lb] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([r["loss"] for r in lb], [r["loss"] for r in la], rtol=1e-5)


@needs_mpi
@pytest.mark.parametrize("name", ["two_then_one", "one_then_two"])
def test_resume_across_world_sizes_continues_the_run(runs, name):
    done, d, _ = runs
    rc, out, err, _, _ = done[f"{name}_resumed"]
    assert rc == 0, out + err
    assert out.count("resumed from") == 1, out
    _compare(d[name], d["straight"])


@needs_mpi
@pytest.mark.parametrize("name, message", [
    ("odd_batch", "--batch-size 5 does not divide evenly over 2 ranks"),
    ("bad_choice", "invalid choice: 'transformer'"),
    ("bad_backend", "--dist-backend must be one of mpi, nccl, got 'gloo'"),
    ("existing", "already exists"),
])
def test_bad_flags_exit_2_on_every_rank_and_write_nothing(runs, name, message):
    done, d, tmp = runs
    rc, out, err, seconds, token = done[name]
    assert rc == 2 and _exits(out) == [["0", "2"], ["1", "2"]], out + err
    assert err.count(message) == 1, err  # said once, by rank 0
    assert not (tmp / "odd").exists() and not (tmp / "bad").exists()
    assert sorted(p.name for p in d["existing"].iterdir()) == ["keep.txt"]
    assert _left_over(token) == []


@needs_mpi
def test_divergence_stops_every_rank_at_the_same_step(runs):
    done, _, tmp = runs
    rc, out, err, _, _ = done["diverges"]
    assert rc == 1 and _exits(out) == [["0", "1"], ["1", "1"]], out + err
    assert err.count("loss became nan") + err.count("loss became inf") == 1, err
    # it diverged before its first checkpoint: nothing was published, and the message says so
    assert "no checkpoint exists yet" in err, err
    assert not (tmp / "nan").exists() and not list(tmp.glob(".nan.new-*"))


@pytest.mark.gpu
def test_train_on_cuda_with_nccl_and_two_ranks_sharing_a_gpu(tmp_path):
    """For the GPU session (scripts/gpu_check.sh runs ``-m gpu``): NCCL with world size 1 in
    this process, then 2 ranks sharing cuda:0 over MPI, matching a 1-process CUDA run."""
    if not an.backend.cuda_available():
        pytest.skip("CuPy or a CUDA GPU is not available")
    pytest.importorskip("cupy.cuda.nccl", reason="CuPy was built without NCCL")
    if dist.launched_by_mpi():
        pytest.skip("needs a process without an MPI launcher")
    cfg = {"image_size": 8, "widths": "4,8", "batch_size": 4, "dataset_size": 16,
           "timesteps": 25, "samples": 4, "sample_steps": 5, "progress": False, "steps": 3,
           "device": "cuda", "dist_backend": "nccl", "out": str(tmp_path / "nccl")}
    train(cfg, log=lambda *a: None)
    assert [r["step"] for r in _log(tmp_path / "nccl")] == [1, 2, 3]
    assert not dist.is_initialized()
    if NO_MPI:
        pytest.skip(NO_MPI)
    rc, out, err, _, token = _finish(_start(2, *TINY, "--steps", "3", "--device", "cuda:0",
                                            "--dist-backend", "mpi",
                                            "--out", str(tmp_path / "shared")))
    assert rc == 0 and _exits(out) == [["0", "0"], ["1", "0"]], out + err
    la, lb = _log(tmp_path / "nccl"), _log(tmp_path / "shared")
    np.testing.assert_allclose([r["loss"] for r in lb], [r["loss"] for r in la], rtol=1e-4)
    assert _left_over(token) == []
