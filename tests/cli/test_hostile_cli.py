"""Hostile command lines of scripts/train.py and scripts/sample.py (the ``CLI_ROWS`` table of
``hostile_cases.py``): every bad flag, folder or checkpoint exits with code 2 and one stderr
line, no traceback, in bounded memory, before anything is written (every file that was there
stays byte-identical). Then the faults and resumes that must keep a user's run: a torn log
line, disk full during a save, divergence before the first checkpoint, --overwrite keeping the
old run until the new one has a checkpoint, optimizer flags on resume, a changed --data
folder, a checkpoint from another device kind, weights-only .safetensors files, and kill -9
while the log is trimmed.

Scripts run in-process through ``main(argv)``; a subprocess only where the exit status of the
real interpreter or an address-space limit is what is tested."""
import errno
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hostile_cases import (CLI_ROWS, FILE_ROWS, HELD_FDS, MB, TINY, kill_at_random_moments,
                           start_ready)

import arrayneedle as an

pytestmark = pytest.mark.slow  # starts subprocesses

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _script(name):
    spec = importlib.util.spec_from_file_location(f"_cli_{name}",
                                                  os.path.join(ROOT, "scripts", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SCRIPTS = {"train": _script("train"), "sample": _script("sample"), "export": _script("export")}


def _snapshot(folder):
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, folder)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[rel] = f.read()
            else:
                out[rel] = None
    return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny finished run (2 steps), copied into each test's folder."""
    d = tmp_path_factory.mktemp("cli") / "run"
    assert SCRIPTS["train"].main(TINY + ["--out", str(d), "--steps", "2"]) == 0
    return d


@pytest.fixture
def tmp(tmp_path, finished_run):
    shutil.copytree(finished_run, tmp_path / "run")
    return tmp_path


def _run(script, argv, capsys):
    capsys.readouterr()
    try:
        rc = SCRIPTS[script].main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("row", CLI_ROWS, ids=[r.id for r in CLI_ROWS])
def test_hostile_command_line(row, tmp, monkeypatch, capsys):
    argv = row.argv(tmp, monkeypatch)
    before = _snapshot(tmp)
    tracemalloc.start()
    try:
        rc, err = _run(row.script, argv, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        monkeypatch.undo()
        while HELD_FDS:
            os.close(HELD_FDS.pop())
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.search(row.match, lines[0]), err
    assert lines[0].startswith(f"{row.script}.py: error: ") and "Traceback" not in err
    assert peak < row.peak_mb * MB, f"peak {peak / MB:.1f} MiB"
    after = _snapshot(tmp)
    after.pop(os.path.join("run", ".train.lock"), None)  # the lock a refused run may hold
    before.pop(os.path.join("run", ".train.lock"), None)
    assert after == before


_AS_FILES = [r for r in FILE_ROWS if r.id != "no-read-permission"]  # root reads anything


@pytest.mark.parametrize("row", _AS_FILES, ids=[r.id for r in _AS_FILES])
def test_every_hostile_file_is_one_line_in_both_scripts(row, tmp_path, capsys):
    """Each malformed file of test_hostile.py, given to sample.py --checkpoint and to
    train.py --resume: exit 2, one line naming the file, nothing written."""
    path = str(row.make(tmp_path))
    before = _snapshot(tmp_path)
    for script, argv in (("sample", ["--checkpoint", path, "--out", str(tmp_path / "g.png")]),
                         ("train", TINY + ["--resume", path, "--out", str(tmp_path / "o")])):
        rc, err = _run(script, argv, capsys)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"{script}.py: error: "), err
        assert path in lines[0] and "Traceback" not in err
    assert _snapshot(tmp_path) == before


_LIMITED = r"""
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_real_interpreter_exit_code_under_address_space_limit(tmp):
    """The real command line, limited to 3 GiB of address space: a checkpoint asking for 10^8
    timesteps (gigabytes of schedule) and an impossible --n fail with exit 2 and one line."""
    ck = an.load(tmp / "run" / "checkpoint.npz")
    ck["config"]["timesteps"] = 10 ** 8
    an.save(ck, tmp / "huge.npz")
    sample = os.path.join(ROOT, "scripts", "sample.py")
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    for argv, match in (([str(tmp / "huge.npz")], "config timesteps must be at most"),
                        ([str(tmp / "run" / "checkpoint.npz"), "--n", "1000000000"],
                         "needs about")):
        r = subprocess.run([sys.executable, "-c", _LIMITED, sample, "--checkpoint", *argv,
                            "--out", str(tmp / "g.png")], capture_output=True, text=True,
                           timeout=120, env=env, check=False)
        assert r.returncode == 2 and match in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp / "g.png").exists()


# ---------------------------------------------------------------------------------------------
# faults and resumes that keep the run
# ---------------------------------------------------------------------------------------------
def _train(out, *extra):
    return SCRIPTS["train"].main(TINY + ["--out", str(out)] + list(extra))


def _log(folder):
    return [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]


def test_torn_last_log_line_is_dropped_on_resume(tmp):
    run = tmp / "run"
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 0.')  # the write a full disk cut short
    assert _train(run, "--steps", "4", "--resume", "auto") == 0
    assert [r["step"] for r in _log(run)] == [1, 2, 3, 4]


def test_disk_full_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real, calls = os.fsync, {"n": 0}

    def full_on_second_checkpoint(fd):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("checkpoint.npz"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)
    monkeypatch.setattr(os, "fsync", full_on_second_checkpoint)
    capsys.readouterr()
    assert _train(out, "--steps", "6", "--checkpoint-every", "2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [(f"train.py: cannot write checkpoint at step 4: No space left on device; "
                    f"the previous checkpoint {out / 'checkpoint.npz'} is kept")]
    assert an.load(out / "checkpoint.npz")["step"] == 2
    assert sorted(p.name for p in out.iterdir()) == [".train.lock", "checkpoint.npz",
                                                    "log.jsonl"]


def test_divergence_before_first_checkpoint_keeps_old_run(tmp, monkeypatch, capsys):
    """--overwrite writes the new run beside the old one: a run that fails before its first
    checkpoint says so and leaves the old folder byte-identical, and no temporary folder."""
    from diffusion import gaussian
    before = _snapshot(tmp)
    real = gaussian.GaussianDiffusion.p_losses
    monkeypatch.setattr(gaussian.GaussianDiffusion, "p_losses",
                        lambda self, x0, *a, **k: real(self, x0, *a, **k) * float("nan"))
    capsys.readouterr()
    assert _train(tmp / "run", "--steps", "3", "--overwrite") == 1
    err = capsys.readouterr().err
    assert "loss became nan at step 1" in err and "no checkpoint exists yet" in err
    assert _snapshot(tmp) == before


def test_overwrite_replaces_only_after_first_checkpoint(tmp, monkeypatch):
    """The old run stays complete while the new one trains (seen from the save itself), and is
    gone once the new run's first checkpoint exists."""
    import diffusion.runfolder as rf
    old = _snapshot(tmp / "run")
    seen = []
    real = rf.an.save

    def watch(obj, path):
        seen.append((os.path.dirname(path) != str(tmp / "run"), _snapshot(tmp / "run") == old))
        return real(obj, path)
    monkeypatch.setattr(rf.an, "save", watch)
    assert _train(tmp / "run", "--steps", "1", "--overwrite", "--seed", "3") == 0
    assert seen == [(True, True)]
    assert an.load(tmp / "run" / "checkpoint.npz")["config"]["seed"] == 3
    assert sorted(p.name for p in tmp.iterdir()) == ["run"]


def test_folders_of_killed_runs_are_removed_unless_live(tmp):
    """Beside --out: an unpublished new-run folder whose process is gone is removed at the next
    start; one whose lock is held (a live run) stays."""
    import fcntl
    dead, live = tmp / ".run.new-aaaaaaaa", tmp / ".run.new-bbbbbbbb"
    for d in (dead, live):
        d.mkdir()
        (d / "log.jsonl").write_text('{"step": 1}\n')
        (d / ".train.lock").write_text("1")
    fd = os.open(live / ".train.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert _train(tmp / "run", "--steps", "1", "--overwrite") == 0
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp.iterdir()) == [".run.new-bbbbbbbb", "run"]


def test_lr_given_on_resume_takes_effect_and_is_recorded(tmp):
    run = tmp / "run"
    assert _train(run, "--steps", "3", "--resume", "auto", "--lr", "0.0005") == 0
    assert _train(run, "--steps", "4", "--resume", "auto") == 0  # no --lr: the checkpoint's
    assert [r["lr"] for r in _log(run)] == [1e-3, 1e-3, 5e-4, 5e-4]
    ck = an.load(run / "checkpoint.npz")
    assert ck["config"]["lr"] == 5e-4
    assert [g["lr"] for g in ck["optimizer"]["param_groups"]] == [5e-4]


def test_changed_data_folder_is_reported(tmp_path, capsys):
    from PIL import Image
    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(5):
        Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(data / f"{i}.png")
    assert _train(tmp_path / "run", "--steps", "1", "--data", str(data)) == 0
    assert _train(tmp_path / "run", "--steps", "2", "--data", str(data), "--resume",
                  "auto") == 0
    assert "changed since" not in capsys.readouterr().out
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(data / "new.png")
    assert _train(tmp_path / "run", "--steps", "3", "--data", str(data), "--resume",
                  "auto") == 0
    out = capsys.readouterr().out
    assert re.search(r"warning: --data .* changed since the checkpoint \(5 files, \w+ then, "
                     r"6 files, \w+ now\)", out), out


def test_checkpoint_from_cuda_resumes_on_cpu_deterministically(tmp, capsys):
    """A CUDA generator state (a seed) cannot continue on the CPU: the run reseeds from the
    run's seed and step, says so in one line, and two such resumes agree."""
    ck = an.load(tmp / "run" / "checkpoint.npz")
    ck["rng"] = {"device": "cuda", "seed": 11}
    ck["config"]["device"] = "cuda"
    losses = []
    for name in ("a", "b"):
        (tmp / name).mkdir()
        an.save(ck, tmp / name / "checkpoint.npz")
        shutil.copy(tmp / "run" / "log.jsonl", tmp / name / "log.jsonl")
        capsys.readouterr()
        assert _train(tmp / name, "--steps", "4", "--resume", "auto") == 0
        out = capsys.readouterr().out
        assert "from another device kind than cpu: continuing from seed 0 and step 2" in out
        losses.append([r["loss"] for r in _log(tmp / name)])
        assert an.load(tmp / name / "checkpoint.npz")["config"]["device"] == "cpu"
    assert losses[0] == losses[1] and len(losses[0]) == 4


def test_cpu_checkpoint_on_cuda_reseeds_from_seed_and_step():
    """On CUDA (a stand-in device here) the stream restarts from seed and step; a CPU state
    is named in one line, a CUDA one is silent; a malformed state on the CPU is a UsageError."""
    from diffusion.runfolder import restore_rng
    from diffusion.validate import UsageError

    class CudaStandIn:
        kind = "cuda"

        def seed(self, s):
            self.seeded = s

        def __str__(self):
            return "cuda:0"
    dev, said = CudaStandIn(), []
    host_state = an.device("cpu").get_rng_state()
    assert restore_rng(dev, host_state, 5, 7, said.append) == "reseeded"
    assert dev.seeded == 5 * 1_000_003 + 7
    assert len(said) == 1 and "from the CPU: continuing on cuda:0 from seed 5 and step 7" in said[0]
    assert restore_rng(dev, {"device": "cuda", "seed": 1}, 5, 8, said.append) == "reseeded"
    assert dev.seeded == 5 * 1_000_003 + 8 and len(said) == 1
    with pytest.raises(UsageError, match="checkpoint x holds a malformed random-generator"):
        restore_rng(an.device("cpu"), "junk", 0, 1, said.append, "checkpoint x")


def test_safetensors_export_samples_like_the_checkpoint(tmp, capsys):
    """export.py writes the EMA weights and config; sample.py from that file (or from bare
    weights plus --config) gives the same grid as from checkpoint.npz."""
    run = tmp / "run"
    st = tmp / "model.safetensors"
    assert SCRIPTS["export"].main([str(run / "checkpoint.npz"), str(st)]) == 0
    grids = []
    for i, argv in enumerate((["--checkpoint", str(run / "checkpoint.npz")],
                              ["--checkpoint", str(st)])):
        out = tmp / f"g{i}.png"
        assert SCRIPTS["sample"].main(argv + ["--n", "2", "--out", str(out),
                                              "--no-progress"]) == 0
        grids.append(out.read_bytes())
    assert grids[0] == grids[1]
    ck = an.load(run / "checkpoint.npz")
    an.save_file(ck["ema"]["ema_model"], tmp / "bare.safetensors")
    (tmp / "config.json").write_text(json.dumps(ck["config"]))
    assert SCRIPTS["sample"].main(["--checkpoint", str(tmp / "bare.safetensors"), "--config",
                                   str(tmp / "config.json"), "--n", "2", "--out",
                                   str(tmp / "g2.png"), "--no-progress"]) == 0
    assert (tmp / "g2.png").read_bytes() == grids[0]
    assert "using the EMA weights of step 2" in capsys.readouterr().out


_TRIMMER = r"""
import sys
from diffusion.runfolder import trim_log
path, keep, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
extra = "".join('{"step": %d, "loss": 0.5}\n' % s for s in range(keep + 1, total + 1))
print("ready", flush=True)
while True:
    with open(path, "a") as f:
        f.write(extra)
    trim_log(path, keep)
"""


def test_kill_during_log_trimming_loses_nothing(tmp_path):
    """kill -9 at random moments while a process appends to a log and trims it back: every
    record up to the trimmed step is always there, in order (a torn appended line at most)."""
    from diffusion.runfolder import read_log
    keep, total = 3000, 6000
    paths = [tmp_path / f"log{i}.jsonl" for i in range(3)]
    for p in paths:
        p.write_text("".join(f'{{"step": {s}, "loss": 0.5}}\n' for s in range(1, keep + 1)))
    procs = start_ready([(_TRIMMER, str(p), str(keep), str(total)) for p in paths], ROOT)
    kill_at_random_moments(procs, seed=17, latest=0.5)
    for proc, p in zip(procs, paths):
        proc.wait(timeout=10)
        proc.stdout.close()
        steps = [rec["step"] for rec, _ in read_log(p)]
        assert steps[:keep] == list(range(1, keep + 1))
        assert steps == list(range(1, len(steps) + 1)) and len(steps) <= total


def test_lock_released_when_the_run_ends(tmp):
    """The lock is the process's flock: after a run (or a killed one) the folder is free."""
    assert _train(tmp / "run", "--steps", "3", "--resume", "auto") == 0
    assert _train(tmp / "run", "--steps", "4", "--resume", "auto") == 0
    assert an.load(tmp / "run" / "checkpoint.npz")["step"] == 4
