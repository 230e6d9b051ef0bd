"""Hostile input, round 3: run folders and files (issue 25's damaging items 1, 2, 5, 6, 7, 9).

Two train.py started together into one new --out (the loser exits 2 and never touches the
winner's folder); a planted .train.lock or log.jsonl symlink, FIFO or device (never written
through, never read forever); an.save / save_file onto a device node or FIFO (refused, the node
stays); .safetensors FIFOs (refused, no hang) and uint64 values past int64 (refused, named)."""
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from hostile_cases import TINY

import arrayneedle as an
from arrayneedle.serialization import atomic_write

pytestmark = pytest.mark.slow  # starts train.py runs and subprocesses

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def _train_main():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_h3_train",
                                                  os.path.join(ROOT, "scripts", "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


TRAIN = _train_main()


@pytest.fixture
def no_hang():
    """A call that would block forever (a FIFO opened for reading) fails after 20 s instead."""
    def alarm(signum, frame):
        raise TimeoutError("blocked for 20 s (waiting on a FIFO?)")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _train(out, *extra):
    return TRAIN(TINY + ["--out", str(out)] + list(extra))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    d = tmp_path_factory.mktemp("h3") / "run"
    assert _train(d, "--steps", "2") == 0
    return d


@pytest.fixture
def run(tmp_path, finished):
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def _tree(folder):
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names if n != ".train.lock"}


# ---------------------------------------------------------------------------------------------
# 1. two runs into one new --out
# ---------------------------------------------------------------------------------------------
def test_run_started_while_another_creates_the_folder_never_replaces_it(tmp_path, monkeypatch,
                                                                        capsys):
    """Run B is training toward its first checkpoint when run A, into the same new --out, runs
    from start to end. Exactly one of them exits 0, the other exits 2, and --out holds the
    winner's run, whole (today's main: both exit 0 and B's publish replaces A's finished run)."""
    import diffusion.runfolder as rf
    out = tmp_path / "out"
    real, results = rf.an.save, {}

    def save_with_a_rival(obj, path):
        if "a" not in results:
            monkeypatch.setattr(rf.an, "save", real)
            results["a"] = _train(out, "--steps", "2", "--seed", "11")
            results["a_files"] = _tree(out) if out.exists() else None
        return real(obj, path)
    monkeypatch.setattr(rf.an, "save", save_with_a_rival)
    results["b"] = _train(out, "--steps", "2", "--seed", "22")
    assert sorted([results["a"], results["b"]]) == [0, 2], capsys.readouterr().err
    winner = 11 if results["a"] == 0 else 22
    assert an.load(out / "checkpoint.npz")["config"]["seed"] == winner
    if results["a"] == 0:  # A published and finished: B must not have touched a byte of it
        assert _tree(out) == results["a_files"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no .new-/.old- folder left


def test_run_appearing_before_first_checkpoint_is_kept(tmp_path, finished, monkeypatch, capsys):
    """A run folder appears at --out (copied in by hand, no lock) while a fresh run trains: the
    fresh run exits 2 at its publish and leaves it byte-identical."""
    import diffusion.runfolder as rf
    out = tmp_path / "out"
    real = rf.an.save

    def save_after_copy(obj, path):
        if not out.exists():
            shutil.copytree(finished, out)
        return real(obj, path)
    monkeypatch.setattr(rf.an, "save", save_after_copy)
    before = None
    capsys.readouterr()
    rc = _train(out, "--steps", "2", "--seed", "5")
    before = _tree(finished)
    err = capsys.readouterr().err
    assert rc == 2 and "another train.py created a run in" in err, err
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_two_real_train_processes_into_one_new_out(tmp_path):
    """The real race: two interpreters started together. One exits 0 and owns --out; the other
    exits 2 with one line (whenever it noticed)."""
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), *TINY, "--out", str(out),
           "--steps", "3"]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd + ["--seed", str(s)], env=env, stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, text=True) for s in (1, 2)]
    rcs, errs = zip(*[(p.wait(timeout=300), p.stderr.read()) for p in procs])
    assert sorted(rcs) == [0, 2], errs
    loser_err = errs[rcs.index(2)].strip().splitlines()
    assert len(loser_err) == 1 and loser_err[0].startswith("train.py: error: "), errs
    seed = an.load(out / "checkpoint.npz")["config"]["seed"]
    assert seed == 1 + rcs.index(0)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ---------------------------------------------------------------------------------------------
# 2 and 7. planted symlinks, FIFOs and devices in a run folder
# ---------------------------------------------------------------------------------------------
USER_DATA = b"a user's file, not to be truncated or appended to\n" * 600


@pytest.mark.parametrize("name,resume", [(".train.lock", "auto"), (".train.lock", None),
                                         ("log.jsonl", "auto")])
def test_symlink_in_run_folder_is_never_written_through(run, tmp_path, name, resume, capsys):
    """The victim of a log.jsonl link is a JSONL file of the user's that a resume would keep
    whole and then append to (today's main: it grows by the new steps' records)."""
    victim = tmp_path / "victim.txt"
    data = USER_DATA if name == ".train.lock" else (run / "log.jsonl").read_bytes()
    victim.write_bytes(data)
    if (run / name).exists():
        (run / name).unlink()
    os.symlink(victim, run / name)
    argv = ["--steps", "3"] + (["--resume", "auto"] if resume else [])
    rc = _train(run, *argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert victim.read_bytes() == data
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("name", [".train.lock", "log.jsonl"])
def test_fifo_in_run_folder_is_refused_not_waited_on(run, name, capsys, no_hang):
    (run / name).unlink()
    os.mkfifo(run / name)
    rc = _train(run, "--steps", "3", "--resume", "auto")
    err = capsys.readouterr().err
    assert rc == 2 and "is not a regular file" in err, err
    assert len(err.strip().splitlines()) == 1


def test_log_pointing_at_dev_zero_is_refused(run, capsys, no_hang):
    (run / "log.jsonl").unlink()
    os.symlink("/dev/zero", run / "log.jsonl")
    assert _train(run, "--steps", "3", "--resume", "auto") == 2
    assert "symbolic link" in capsys.readouterr().err


def test_log_hard_link_to_a_users_file_is_not_appended_to(run, tmp_path, capsys):
    user = tmp_path / "notes.jsonl"
    os.replace(run / "log.jsonl", user)
    os.link(user, run / "log.jsonl")
    before = user.read_bytes()
    assert _train(run, "--steps", "3", "--resume", "auto") == 2
    assert "has other hard links" in capsys.readouterr().err
    assert user.read_bytes() == before


def test_huge_log_line_is_refused_in_bounded_memory(run, capsys, no_hang):
    """A log of one 64 MiB line (no newline): refused after reading one bounded line, not
    read whole."""
    import tracemalloc
    with open(run / "log.jsonl", "ab") as f:
        f.write(b"1" * (64 << 20))
    tracemalloc.start()
    try:
        rc = _train(run, "--steps", "3", "--resume", "auto")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rc == 2 and "longer than" in capsys.readouterr().err
    assert peak < 40 << 20


def test_trim_of_a_long_log_streams(tmp_path):
    """Trimming a 30 MB log back to step 10 keeps exactly the records up to it, in memory
    bounded by a line, not by the file."""
    import tracemalloc

    from diffusion.runfolder import read_log, trim_log
    p = tmp_path / "log.jsonl"
    rec = b'{"step": %d, "loss": 0.12345678901234, "lr": 0.001, "time": 1.234}\n'
    with open(p, "wb") as f:
        f.writelines(rec % i for i in range(1, 400_001))
    tracemalloc.start()
    try:
        assert trim_log(p, 10) == 10
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
    assert [r["step"] for r, _ in read_log(p)] == list(range(1, 11))
    assert p.read_bytes() == b"".join(rec % i for i in range(1, 11))


# ---------------------------------------------------------------------------------------------
# 5 and 6. FIFOs and device nodes as weights files or save targets
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "w.safetensors"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("call", ["load", "load_file", "read_metadata"])
def test_safetensors_fifo_is_refused_without_waiting(fifo, call, no_hang):
    from arrayneedle.safetensors_io import read_metadata
    fn = {"load": an.load, "load_file": an.load_file, "read_metadata": read_metadata}[call]
    with pytest.raises(ValueError, match=r"is not a regular file, not a safetensors file"):
        fn(fifo)


def _device_node(tmp_path):
    """A private character device (a copy of /dev/null) where mknod is allowed, else a FIFO
    (the same refusal: not a regular file)."""
    p = tmp_path / "node"
    try:
        os.mknod(p, 0o666 | 0o020000, os.makedev(1, 3))
        return p, "a character device"
    except (PermissionError, OSError):
        os.mkfifo(p)
        return p, "a FIFO"


@pytest.mark.parametrize("call", ["save_npz", "save_safetensors", "save_file", "atomic_write"])
def test_save_onto_a_device_node_or_fifo_is_refused(tmp_path, call):
    node, kind = _device_node(tmp_path)
    st = os.lstat(node)
    target = node if call == "save_npz" else tmp_path / "n.safetensors"
    if target != node:
        os.rename(node, target)
    x = {"w": an.ones(3)}
    fn = {"save_npz": lambda: an.save(x, target), "save_safetensors": lambda: an.save(x, target),
          "save_file": lambda: an.save_file(x, target),
          "atomic_write": lambda: atomic_write(target, lambda t: open(t, "wb").close())}[call]
    with pytest.raises(FileExistsError, match=rf"exists and is {kind}, not a regular file"):
        fn()
    after = os.lstat(target)
    assert (after.st_mode, after.st_rdev, after.st_ino) == (st.st_mode, st.st_rdev, st.st_ino)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left


def test_unreadable_safetensors_is_permission_error(tmp_path, monkeypatch):
    p = tmp_path / "w.safetensors"
    an.save_file({"w": an.ones(2)}, p)
    import arrayneedle.serialization as ser
    real = ser.os.open
    monkeypatch.setattr(ser.os, "open", lambda q, *a, **k: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")) if os.fspath(q) == str(p) else real(q, *a, **k))
    with pytest.raises(PermissionError, match=r"^load_file: permission denied: cannot read "):
        an.load_file(p)


# ---------------------------------------------------------------------------------------------
# 9. safetensors integers that do not fit
# ---------------------------------------------------------------------------------------------
def test_uint64_past_int64_is_refused_with_the_tensor_named(tmp_path):
    from safetensors.numpy import save_file
    p = tmp_path / "u.safetensors"
    save_file({"ok": np.array([1, 2], np.uint64),
               "big": np.array([2 ** 64 - 1, 2 ** 63], np.uint64)}, str(p))
    with pytest.raises(ValueError, match=r"tensor 'big' is uint64 with values up to "
                                         r"18446744073709551615, which do not fit int64"):
        an.load_file(p)
    save_file({"fits": np.array([0, 2 ** 63 - 1], np.uint64)}, str(p))
    assert an.load_file(p)["fits"].numpy().tolist() == [0, 2 ** 63 - 1]


def test_huge_safetensors_header_is_refused_before_parsing(tmp_path):
    import struct
    p = tmp_path / "h.safetensors"
    n = 40 << 20
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", n))
        f.write(b"{" + b" " * (n - 2) + b"}")
    with pytest.raises(ValueError, match=r"header length 41943040 exceeds arrayneedle's limit"):
        an.load_file(p)


def test_safetensors_metadata_that_is_not_strings_is_one_error(tmp_path):
    import json
    import struct
    p = tmp_path / "m.safetensors"
    head = json.dumps({"__metadata__": {"a": [1, 2]}}).encode()
    p.write_bytes(struct.pack("<Q", len(head)) + head)
    from arrayneedle.safetensors_io import read_metadata
    with pytest.raises(ValueError, match=r"__metadata__ is not a JSON object of strings"):
        read_metadata(p)
