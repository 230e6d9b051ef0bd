"""The hostile inputs of tests/test_hostile.py: how to craft each malformed file, and the table
of rows (what to create, what to call, the exception and message expected). A new class of
hostile input is a new row here."""
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import arrayneedle as an
import arrayneedle.serialization as ser

MB = 1 << 20


# ---------------------------------------------------------------------------------------------
# crafting checkpoints by hand
# ---------------------------------------------------------------------------------------------
def _npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _meta(tree=None, **fields):
    meta = {"format": "arrayneedle.save", "version": 1,
            "tree": {"t": "tensor", "key": "a0"} if tree is None else tree}
    meta.update(fields)
    return _npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _ckpt(arr=None, **meta_kw):
    """A maker: a checkpoint whose single array member holds ``arr`` (npy bytes or array)."""
    def make(tmp):
        data = arr if isinstance(arr, bytes) else _npy(np.arange(4.0) if arr is None else arr,
                                                       allow_pickle=True)
        return _zip(tmp / "ck.npz", {"a0.npy": data, "__arrayneedle__.npy": _meta(**meta_kw)})
    return make


def _raw_meta(text):
    def make(tmp):
        raw = _npy(np.frombuffer(text.encode(), dtype=np.uint8))
        return _zip(tmp / "ck.npz", {"a0.npy": _npy(np.arange(4.0)),
                                     "__arrayneedle__.npy": raw})
    return make


def _zip_bomb(tmp):
    """A deflated member that would inflate to 24 MiB of float32 zeros (about 24 KiB on disk)."""
    path = tmp / "bomb.npz"
    n = 6 * MB
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (n,)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("__arrayneedle__.npy", _meta(), compress_type=zipfile.ZIP_STORED)
        with z.open("a0.npy", "w", force_zip64=True) as m:
            m.write(header.getvalue())
            chunk = bytes(MB)
            for _ in range(4 * n // MB):
                m.write(chunk)
    assert path.stat().st_size < MB
    return path


def _huge_header(tmp):
    """An .npy header claiming 10^12 float64 elements over 32 stored bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10 ** 12,)})
    return _ckpt(header.getvalue() + bytes(32))(tmp)


def _declared_size_lie(tmp):
    """A stored member whose zip directory entry claims 10^12 bytes."""
    path = _ckpt()(tmp)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a0.npy")
    cd = data.find(b"PK\x01\x02")  # central directory entry of the first member
    assert data[cd + 46:cd + 46 + len(info.filename)] == info.filename.encode()
    data[cd + 24:cd + 28] = (0xFFFFFFFE).to_bytes(4, "little")  # uncompressed size
    path.write_bytes(bytes(data))
    return path


def _extra_member(tmp):
    return _zip(tmp / "ck.npz", {"a0.npy": _npy(np.arange(4.0)), "a1.npy": _npy(np.ones(2)),
                                 "__arrayneedle__.npy": _meta()})


def _unknown_member(tmp):
    return _zip(tmp / "ck.npz", {"a0.npy": _npy(np.arange(4.0)), "../evil.sh": b"rm -rf /",
                                 "__arrayneedle__.npy": _meta()})


def _corrupt_crc(tmp):
    path = tmp / "ck.npz"
    an.save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[600] ^= 0xFF  # inside the array's data
    path.write_bytes(bytes(data))
    return path


def _truncated(tmp):
    path = tmp / "ck.npz"
    an.save({"w": np.arange(1000.0)}, path)
    path.write_bytes(path.read_bytes()[:3000])
    return path


def _write(name, data):
    def make(tmp):
        p = tmp / name
        p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)
        return p
    return make


def _plain_npy(tmp):
    p = tmp / "weights.npy"
    np.save(p, np.ones((3, 3)))
    return p


def _directory(tmp):
    (tmp / "ck.npz").mkdir()
    return tmp / "ck.npz"


def _fifo(tmp):
    os.mkfifo(tmp / "ck.npz")
    return tmp / "ck.npz"


def _unreadable(tmp):
    p = tmp / "ck.npz"
    an.save({"w": np.ones(3)}, p)
    p.chmod(0)
    return p


def _deep(depth):
    tree = {"t": "list", "v": []}
    for _ in range(depth):
        tree = {"t": "list", "v": [tree]}
    return tree


def _load(path, monkeypatch):
    return an.load(path)


def _load_as_non_root(path, monkeypatch):
    """Root reads any file whatever its mode, so as root the refusal the kernel would give an
    ordinary user is reproduced at the open() call an.load makes."""
    if os.geteuid() == 0:
        real = os.open

        def refusing(p, *a, **k):
            if os.fspath(p) == str(path):
                raise PermissionError(13, "Permission denied", os.fspath(p))
            return real(p, *a, **k)
        monkeypatch.setattr(ser.os, "open", refusing)
    return an.load(path)


@dataclass
class Row:
    id: str
    make: Callable          # tmp folder -> the hostile path
    call: Callable          # (path, monkeypatch) -> must raise
    exc: type
    match: str              # regex the one-line message must contain
    peak_mb: float = 8.0    # Python-traced peak allocation while calling
    names_path: bool = True


_BAD = r"is not a valid arrayneedle file: "
FILE_ROWS = [
    Row("zip-bomb", _zip_bomb, _load, ValueError, _BAD + r"member 'a0.npy' is compressed"),
    Row("compressed-savez", lambda t: _zip(t / "ck.npz", {
        "a0.npy": _npy(np.arange(4.0)), "__arrayneedle__.npy": _meta()}, zipfile.ZIP_DEFLATED),
        _load, ValueError, r"is compressed"),
    Row("size-lie", _declared_size_lie, _load, ValueError, r"more than the file holds"),
    Row("header-1e12-elements", _huge_header, _load, ValueError,
        r"declares shape \(1000000000000,\) of float64 \(8000000000000 bytes\) but stores 32"),
    Row("dtype-complex", _ckpt(np.ones(3, np.complex64)), _load, ValueError, r"complex dtype"),
    Row("dtype-string", _ckpt(np.array(["ab", "c"])), _load, ValueError, r"string dtype"),
    Row("dtype-bytes", _ckpt(np.array([b"ab"])), _load, ValueError, r"bytes dtype"),
    Row("dtype-object", _ckpt(np.array([{"x": 1}], dtype=object)), _load, ValueError,
        r"object dtype"),
    Row("dtype-structured", _ckpt(np.zeros(2, [("a", "<f4"), ("b", "<i4")])), _load,
        ValueError, r"structured dtype"),
    Row("dtype-datetime", _ckpt(np.array(["2020-01-01"], "datetime64[D]")), _load, ValueError,
        r"datetime dtype"),
    Row("raw-bytes-member", _ckpt(b"\x00\x01 raw weights, no npy header"), _load, ValueError,
        r"member 'a0.npy' has no valid \.npy header"),
    Row("unknown-member", _unknown_member, _load, ValueError,
        r"unexpected member '\.\./evil\.sh'"),
    Row("extra-member", _extra_member, _load, ValueError, r"a1\.npy is not referenced"),
    Row("missing-array", _ckpt(tree={"t": "tensor", "key": "a7"}), _load, ValueError,
        r"missing array 'a7'"),
    Row("meta-list", _raw_meta("[1, 2, 3]"), _load, ValueError, r"not an object with"),
    Row("meta-not-json", _raw_meta("{'format': exec('x')}"), _load, ValueError,
        r"metadata is not valid JSON"),
    Row("meta-nan", _raw_meta('{"format": NaN, "version": 1, "tree": 1}'), _load, ValueError,
        r"non-JSON constant NaN"),
    Row("meta-not-utf8", lambda t: _zip(t / "ck.npz", {
        "__arrayneedle__.npy": _npy(np.frombuffer(b"\xff\xfe{", np.uint8))}),
        _load, ValueError, r"not UTF-8"),
    Row("meta-float-dtype", lambda t: _zip(t / "ck.npz", {
        "__arrayneedle__.npy": _npy(np.ones(3))}), _load, ValueError, r"expected uint8 bytes"),
    Row("meta-wrong-format", _ckpt(format="pickle"), _load, ValueError,
        r"format is 'pickle', expected 'arrayneedle\.save'"),
    Row("meta-version-string", _ckpt(version="1"), _load, ValueError,
        r"format version '1' is not a positive integer"),
    Row("meta-version-newer", _ckpt(version=99), _load, ValueError, r"newer arrayneedle"),
    Row("meta-unknown-node", _ckpt(tree={"t": "exec", "v": "import os"}), _load, ValueError,
        r"unknown metadata node type 'exec'"),
    Row("meta-bare-list", _ckpt(tree=[1, 2]), _load, ValueError, r"bare list"),
    Row("meta-dict-mismatch", _ckpt(tree={"t": "dict", "k": ["a", "b"], "v": [1]}), _load,
        ValueError, r"mismatched or non-str/int keys"),
    Row("meta-float-node", _ckpt(tree={"t": "float", "v": "1e308*10"}), _load, ValueError,
        r"float node holds '1e308\*10'"),
    Row("meta-grad-on-int", lambda t: _zip(t / "ck.npz", {
        "a0.npy": _npy(np.arange(3)), "__arrayneedle__.npy": _meta(
            {"t": "tensor", "key": "a0", "requires_grad": True})}), _load, ValueError,
        r"requires_grad"),
    Row("json-nested-1e5", _raw_meta("[" * 100_000 + "]" * 100_000), _load, ValueError,
        r"nested too deeply"),
    Row("tree-nested-200", _ckpt(tree=_deep(200)), _load, ValueError,
        r"nested deeper than 100 levels"),
    Row("corrupt-crc", _corrupt_crc, _load, ValueError, r"corrupted, truncated or unreadable"),
    Row("truncated", _truncated, _load, ValueError, r"not a zip archive \(corrupted, truncated"),
    Row("plain-npy", _plain_npy, _load, ValueError, r"plain \.npy array"),
    Row("random-bytes", _write("ck.npz", bytes(random.Random(0).randbytes(4096))), _load,
        ValueError, r"not a zip archive"),
    Row("text-file", _write("ck.npz", "step,loss\n1,0.5\n"), _load, ValueError,
        r"not a zip archive"),
    Row("empty-file", _write("ck.npz", b""), _load, ValueError, r"not a zip archive"),
    Row("directory", _directory, _load, ValueError, r"is a directory, not a checkpoint file"),
    Row("fifo", _fifo, _load, ValueError, r"is not a regular file, not a checkpoint file"),
    Row("no-read-permission", _unreadable, _load_as_non_root, PermissionError,
        r"^load: permission denied: cannot read "),
    Row("missing", lambda t: t / "nope.npz", _load, FileNotFoundError, r"^load: no such file: "),
]


# ---------------------------------------------------------------------------------------------
# command lines (tests/test_hostile_cli.py): each row makes its files in the test's folder,
# where ``run/`` is a finished tiny run, and gives scripts/train.py or scripts/sample.py argv
# ---------------------------------------------------------------------------------------------
TINY = ["--image-size", "8", "--channels", "4,8", "--batch-size", "4", "--dataset-size", "16",
        "--timesteps", "25", "--samples", "4", "--sample-steps", "5", "--no-progress"]


@dataclass
class CliRow:
    id: str
    script: str             # "train" or "sample"
    argv: Callable          # (tmp folder, monkeypatch) -> argv
    match: str              # regex the one stderr line must contain
    peak_mb: float = 48.0   # Python-traced peak allocation while running


def _t(*extra, out="new"):
    """train.py argv with the tiny settings, --out under the test folder."""
    return lambda t, mp: TINY + ["--out", str(t / out) if out else out] + [
        x(t) if callable(x) else x for x in extra]


def _s(*extra, ck="run/checkpoint.npz"):
    """sample.py argv on a checkpoint under the test folder."""
    return lambda t, mp: ["--checkpoint", str(t / ck), "--n", "2", "--no-progress",
                          "--out", str(t / "grid.png")] + [x(t) if callable(x) else x
                                                           for x in extra]


def _edited_checkpoint(edit, name="edited.npz"):
    """A copy of run/checkpoint.npz with ``edit(ck)`` applied; returns a maker of its path."""
    def make(t):
        ck = an.load(t / "run" / "checkpoint.npz")
        edit(ck)
        an.save(ck, t / name)
        return str(t / name)
    return make


def _cfg(**kw):
    return _edited_checkpoint(lambda ck: ck["config"].update(kw))


def _set(key, value):
    return _edited_checkpoint(lambda ck: ck.__setitem__(key, value))


def _file(name, data=b"x"):
    def make(t):
        (t / name).write_bytes(data)
        return str(t / name)
    return make


def _folder(name):
    def make(t):
        (t / name).mkdir(exist_ok=True)
        return str(t / name)
    return make


def _fifo_at(name):
    def make(t):
        os.mkfifo(t / name)
        return str(t / name)
    return make


def _weights_only(t):
    ck = an.load(t / "run" / "checkpoint.npz")
    an.save_file(ck["model"], t / "model.safetensors")
    return str(t / "model.safetensors")


def _files_no_checkpoint(t):
    (t / "half").mkdir()
    (t / "half" / "samples.png").write_bytes(b"user's grid")
    (t / "half" / "log.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    return str(t / "half")


def _other_run(t):
    import shutil
    shutil.copytree(t / "run", t / "other")
    return str(t / "run" / "checkpoint.npz")


def _few_images(t):
    from PIL import Image
    (t / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(t / "imgs" / f"{i}.png")
    return str(t / "imgs")


def _unwritable_parent(t, mp):
    """A folder the user cannot write into (root writes anywhere, so for root the check's
    os.access answer is what a user would get)."""
    ro = t / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.geteuid() == 0:
        import diffusion.validate as v
        real = v.os.access
        mp.setattr(v.os, "access", lambda p, m, **k: False if os.fspath(p) == str(ro)
                   else real(p, m, **k))
    return TINY + ["--out", str(ro / "run")]


HELD_FDS = []


def _locked(t, mp):
    """Another process's train.py holds the run's lock (a second open file description holds
    an flock exactly as another process would)."""
    import fcntl
    fd = os.open(t / "run" / ".train.lock", os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, 0)
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    HELD_FDS.append(fd)  # the test closes it
    return TINY + ["--out", str(t / "run"), "--resume", "auto", "--steps", "4"]


def _interrupted_swap(t, mp):
    """A --overwrite killed between its two renames: the old run moved aside, ``run`` gone."""
    (t / ".run.old-abcdefgh").mkdir()
    os.rename(t / "run", t / ".run.old-abcdefgh" / "run")
    return TINY + ["--out", str(t / "run"), "--resume", "auto"]


CLI_ROWS = [
    # flags of train.py
    CliRow("train-lr-inf", "train", _t("--lr", "inf"), r"--lr must be a finite number"),
    CliRow("train-lr-nan", "train", _t("--lr", "nan"), r"--lr must be a finite number"),
    CliRow("train-ema-nan", "train", _t("--ema-decay", "nan"), r"--ema-decay must be a finite"),
    CliRow("train-seed-negative", "train", _t("--seed", "-1"), r"--seed must be at least 0"),
    CliRow("train-out-empty", "train", _t(out=""), r"--out must name a folder, got ''"),
    CliRow("train-out-file", "train", lambda t, mp: TINY + ["--out", _file("f.txt")(t)],
           r"--out .*f\.txt exists and is not a folder"),
    CliRow("train-out-unwritable", "train", _unwritable_parent, r"--out .* is not writable"),
    CliRow("train-widths-not-multiples", "train", _t("--channels", "4,6"),
           r"must be multiples of the first width"),
    CliRow("train-widths-zero", "train", _t("--channels", "0,8"), r"at least two positive"),
    CliRow("train-memory", "train", _t("--image-size", "4096", "--channels", "64,128"),
           r"needs about [\d,]+ MiB .* but [\d,]+ MiB are available"),
    CliRow("train-timesteps-1e8", "train", _t("--timesteps", "100000000"),
           r"--timesteps must be at most 100000"),
    CliRow("train-sample-every-negative", "train", _t("--sample-every", "-1"),
           r"--sample-every must be at least 0"),
    CliRow("train-too-few-images", "train", _t("--data", _few_images),
           r"has 2 images, fewer than one batch of 4"),
    CliRow("train-overwrite-huge-batch", "train",
           _t("--overwrite", "--batch-size", "100000", out="run"),
           r"fewer than one batch|needs about"),
    CliRow("train-locked", "train", _locked, r"run is in use by another train\.py \(pid 4242\)"),
    # run-folder policy
    CliRow("train-resume-auto-no-checkpoint", "train",
           lambda t, mp: TINY + ["--out", _files_no_checkpoint(t), "--resume", "auto"],
           r"has files but no checkpoint\.npz"),
    CliRow("train-resume-into-other-run", "train", _t("--resume", _other_run, out="other"),
           r"holds another run"),
    CliRow("train-interrupted-overwrite", "train", _interrupted_swap,
           r"run is missing but .*\.run\.old-abcdefgh/run holds the run a killed --overwrite"),
    CliRow("train-resume-safetensors", "train", _t("--resume", _weights_only),
           r"holds model weights only; resuming needs a full training checkpoint"),
    CliRow("train-resume-fifo", "train", _t("--resume", _fifo_at("ck.npz")),
           r"is not a regular file"),
    CliRow("train-resume-folder", "train", _t("--resume", _folder("somerun")), r"is a folder"),
    # hostile checkpoints on resume
    CliRow("train-ckpt-timesteps-1e8", "train", _t("--resume", _cfg(timesteps=10 ** 8)),
           r"config timesteps must be at most 100000"),
    CliRow("train-ckpt-model-exec", "train", _t("--resume", _cfg(model="exec")),
           r"config model must be one of simple, unet, diffusers, got 'exec'"),
    CliRow("train-ckpt-bogus-optimizer", "train",
           _t("--resume", _set("optimizer", {"x": 1}), "--steps", "4"),
           r"its optimizer state is malformed or does not fit its config "
           r"\(missing 'param_groups'\)"),
    CliRow("train-ckpt-bogus-loader", "train",
           _t("--resume", _set("loader", {"epoch": "x"}), "--steps", "4"),
           r"its loader state is malformed"),
    CliRow("train-ckpt-bogus-rng", "train", _t("--resume", _set("rng", [1, 2]), "--steps", "4"),
           r"checkpoint .*edited\.npz holds a malformed random-generator state"),
    CliRow("train-ckpt-random-bytes", "train", _t("--resume", _file("r.npz", bytes(range(256)))),
           r"cannot read checkpoint .*not a zip archive"),
    # flags of sample.py
    CliRow("sample-eta-nan", "sample", _s("--eta", "nan"), r"--eta must be a finite number"),
    CliRow("sample-eta-inf", "sample", _s("--eta", "inf"), r"--eta must be a finite number"),
    CliRow("sample-eta-negative", "sample", _s("--eta", "-0.5"), r"--eta must be >= 0"),
    CliRow("sample-seed-negative", "sample", _s("--seed", "-3"), r"--seed must be at least 0"),
    CliRow("sample-frames-0", "sample", _s("--gif", "a.gif", "--frames", "0"), r"--frames"),
    CliRow("sample-out-folder", "sample", _s("--out", _folder("grids")),
           r"--out .*grids is a folder"),
    CliRow("sample-gif-folder", "sample", _s("--gif", _folder("anim")),
           r"--gif .*anim is a folder"),
    CliRow("sample-steps-above-timesteps", "sample", _s("--steps", "26"), r"steps must be an integer in \[1, 25\], got 26"),
    CliRow("sample-n-memory", "sample", _s("--n", "100000000"),
           r"needs about [\d,]+ MiB \(sampling 100000000 images"),
    # hostile checkpoints in sample.py
    CliRow("sample-ckpt-timesteps-1e8", "sample",
           lambda t, mp: ["--checkpoint", _cfg(timesteps=10 ** 8)(t), "--no-progress"],
           r"config timesteps must be at most 100000"),
    CliRow("sample-ckpt-timesteps-float", "sample",
           lambda t, mp: ["--checkpoint", _cfg(timesteps=1e8)(t), "--no-progress"],
           r"config timesteps must be an integer, got 100000000\.0"),
    CliRow("sample-ckpt-image-size-huge", "sample",
           lambda t, mp: ["--checkpoint", _cfg(image_size=1 << 20)(t), "--no-progress"],
           r"config image_size must be at most 4096"),
    CliRow("sample-ckpt-width-huge", "sample",
           lambda t, mp: ["--checkpoint", _cfg(widths=[4, 1 << 20])(t), "--no-progress"],
           r"config widths must be at most 8192"),
    CliRow("sample-ckpt-model-exec", "sample",
           lambda t, mp: ["--checkpoint", _cfg(model="exec")(t), "--no-progress"],
           r"config model must be one of"),
    CliRow("sample-ckpt-config-not-fitting", "sample",
           lambda t, mp: ["--checkpoint", _cfg(widths=[8, 16])(t), "--no-progress"],
           r"the weights do not fit the model of its config"),
    CliRow("sample-ckpt-config-not-dict", "sample",
           lambda t, mp: ["--checkpoint", _set("config", [1, 2])(t), "--no-progress"],
           r"the config is a list, not a dict"),
    CliRow("sample-ckpt-fifo", "sample",
           lambda t, mp: ["--checkpoint", _fifo_at("p.npz")(t)], r"is not a regular file"),
    CliRow("sample-ckpt-folder", "sample",
           lambda t, mp: ["--checkpoint", _folder("d.npz")(t)], r"is a folder"),
    CliRow("sample-safetensors-no-config", "sample",
           lambda t, mp: ["--checkpoint", _weights_only(t)], r"holds weights without a model "
                                                             r"config; give --config"),
]


def start_ready(args, root):
    """Start ``python -c ...`` children (``args``: one argv tail each) that print "ready" once
    set up, and wait for all of them."""
    procs = [subprocess.Popen([sys.executable, "-c", *a], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": root}) for a in args]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    return procs


def kill_at_random_moments(procs, seed, latest):
    """``kill -9`` each process at its own random moment within ``latest`` seconds."""
    rng = random.Random(seed)
    start = time.monotonic()
    for proc, at in zip(procs, sorted(rng.uniform(0.05, latest) for _ in procs)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
