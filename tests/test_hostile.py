"""Hostile inputs, generated in a temporary folder: every malformed checkpoint, hostile image
and out-of-range argument gets one clear exception naming the problem, in bounded memory, and
leaves every file that was there before byte-identical.

Each case is one row of a table (``FILE_ROWS``: what to create, what to call, the exception
and the message expected), so new classes of input are new rows, not new tests."""
import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

import arrayneedle as an
import arrayneedle.serialization as ser
from arrayneedle import nn, ops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def _snapshot(folder):
    """{relative path: sha256 (None for what is not a regular file)} of everything under it."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, folder)
            if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.R_OK):
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[rel] = None
    return out


@pytest.mark.parametrize("row", FILE_ROWS, ids=[r.id for r in FILE_ROWS])
def test_hostile_file(row, tmp_path, monkeypatch):
    an.save({"w": an.randn(4)}, tmp_path / "bystander.npz")
    path = row.make(tmp_path)
    before = _snapshot(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(row.exc) as info:
            row.call(path, monkeypatch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    monkeypatch.undo()
    msg = str(info.value)
    assert "\n" not in msg and re.search(row.match, msg), msg
    assert "allow_pickle" not in msg and "Traceback" not in msg
    if row.names_path:
        assert str(path) in msg, msg
    err = info.value  # no chained NumPy/zipfile traceback under ours
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    assert peak < row.peak_mb * MB, f"peak {peak / MB:.1f} MiB"
    assert _snapshot(tmp_path) == before


def test_valid_checkpoints_still_load(tmp_path):
    """The strict reader accepts everything save writes, and plain .npy layouts numpy may
    produce for the same arrays (Fortran order, big-endian, empty, 0-d, int8)."""
    obj = {"i8": np.arange(-3, 3, dtype=np.int8), "empty": np.zeros((0, 3), np.float32),
           "scalar": np.array(2.5), "b": np.array([True, False]), "u": np.arange(3, dtype=">u2"),
           "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "t": an.randn(2, 2)}
    an.save(obj, tmp_path / "ok.npz")
    back = an.load(tmp_path / "ok.npz")
    for k in ("i8", "empty", "scalar", "b", "u", "f"):
        np.testing.assert_array_equal(back[k], obj[k])
        assert back[k].dtype == obj[k].dtype.newbyteorder("=")
    np.testing.assert_array_equal(back["t"].numpy(), obj["t"].numpy())


def test_save_refuses_what_load_would_refuse(tmp_path):
    with pytest.raises(ValueError, match="nested deeper than 100 levels"):
        an.save(_nested_list(150), tmp_path / "deep.npz")
    assert not (tmp_path / "deep.npz").exists()
    an.save(_nested_list(90), tmp_path / "ok.npz")
    assert an.load(tmp_path / "ok.npz") == _nested_list(90)


def _nested_list(depth):
    x = []
    for _ in range(depth):
        x = [x]
    return x


# ---------------------------------------------------------------------------------------------
# hostile images in an ImageFolder
# ---------------------------------------------------------------------------------------------
def _image_folder(root, **kw):
    from diffusion.datasets import ImageFolder
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = ImageFolder(root, workers=1, **kw)
    return ds, [str(x.message) for x in w]


def test_fifo_and_truncated_images_are_skipped_by_name(tmp_path):
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(tmp_path / "good.png")
    os.mkfifo(tmp_path / "x.png")  # opening it would block until a writer appears
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[:200])
    before = _snapshot(tmp_path)
    ds, msgs = _image_folder(tmp_path, image_size=4)
    assert ds.paths == [str(tmp_path / "good.png")] and ds.data.shape == (1, 3, 4, 4)
    assert len(msgs) == 1 and "skipped 2 unreadable" in msgs[0], msgs
    reasons = dict(ds.skipped)
    assert reasons[str(tmp_path / "x.png")] == "ValueError: not a regular file"
    assert "truncated" in reasons[str(tmp_path / "cut.png")]
    assert _snapshot(tmp_path) == before


def test_folder_of_only_bad_images_names_the_file(tmp_path):
    os.mkfifo(tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"none of the 1 image files .* could be read "
                                         r"\(first: .*a\.png: ValueError: not a regular file\)"):
        _image_folder(tmp_path, image_size=4)


def test_sixteen_bit_images_scale_by_bit_depth(tmp_path):
    """A dark 16-bit image stays dark: values scale by 255/65535, not by the image's maximum."""
    for name, v in (("dark.png", 200), ("mid.png", 128 * 257), ("full.png", 65535)):
        Image.fromarray(np.full((6, 6), v, np.uint16)).save(tmp_path / name)
    ds, msgs = _image_folder(tmp_path, image_size=4, channels=1)
    assert not msgs
    got = {os.path.basename(p): int(ds.data[i].max()) for i, p in enumerate(ds.paths)}
    assert got == {"dark.png": 1, "mid.png": 128, "full.png": 255}
    assert np.all(ds.data.min(axis=(1, 2, 3)) == ds.data.max(axis=(1, 2, 3)))


_STRIP = r"""
import resource, sys
import numpy as np
from diffusion.datasets.folder import _decode
path, size = sys.argv[1], int(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = _decode(path, (size, size), "RGB")
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(out.shape, int(out[..., 0].min()), int(out[..., 0].max()), grown // 1024)
"""


def test_extreme_strip_decodes_in_target_bounded_memory(tmp_path):
    """A tiny 1 x 60000 PNG at size 64 would cover 64 x 3840000 pixels (737 MB of RGB) if
    resized whole before cropping; only the cropped part may be resampled."""
    strip = np.zeros((1, 60000, 3), np.uint8)
    strip[:, 30000:] = 255  # the centre is the edge between black and white
    Image.fromarray(strip).save(tmp_path / "strip.png", optimize=True)
    assert (tmp_path / "strip.png").stat().st_size < 2000
    res = subprocess.run([sys.executable, "-c", _STRIP, str(tmp_path / "strip.png"), "64"],
                         capture_output=True, text=True, timeout=60, check=False,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert res.returncode == 0, res.stderr
    shape, lo, hi, grown_mb = res.stdout.split(")")[0] + ")", *res.stdout.split(")")[1].split()
    assert shape == "(64, 64, 3)" and int(lo) <= 2 and int(hi) >= 253, res.stdout
    assert int(grown_mb) < 50, f"decoding grew the process by {grown_mb} MB"


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos"])
def test_resize_box_is_crop_of_the_cover(interpolation):
    """resize(box=cover_box(...)) is exactly the centre crop of resizing to cover_size, without
    making the larger image (NumPy); with Pillow images (bilinear: no overshoot, so no clipping
    between Pillow's two passes) it agrees with Pillow's crop to within one level."""
    from arrayneedle.data.functional import cover_box, cover_size, crop, resize
    rng = np.random.default_rng(3)
    for hw in ((7, 90), (90, 7), (30, 41)):
        img = rng.integers(0, 256, hw + (3,), dtype=np.uint8)
        (nh, nw), box = cover_size(hw, (8, 8)), cover_box(hw, (8, 8))
        whole = crop(resize(img, (nh, nw), interpolation), (nh - 8) // 2, (nw - 8) // 2, 8, 8)
        np.testing.assert_array_equal(resize(img, 8, interpolation, box=box), whole)
        if interpolation == "bilinear":
            pil = Image.fromarray(img)
            ref = np.asarray(crop(resize(pil, (nh, nw), interpolation), (nh - 8) // 2,
                                  (nw - 8) // 2, 8, 8), dtype=int)
            assert np.abs(np.asarray(resize(pil, 8, interpolation, box=box)) - ref).max() <= 1
    with pytest.raises(ValueError, match=r"box must be \(left, upper, right, lower\) inside"):
        resize(img, 8, interpolation, box=(0, 0, 100, 5))


# ---------------------------------------------------------------------------------------------
# out-of-range API arguments
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, exc, match", [
    (lambda: nn.CrossEntropyLoss()(an.randn(4, 3), an.Tensor(np.array([0, 1, 7, 2]))),
     IndexError, r"target 7 is out of bounds for 3 classes"),
    (lambda: nn.CrossEntropyLoss()(an.randn(4, 3), an.Tensor(np.array([0, -1, 1, 2]))),
     IndexError, r"target -1 is out of bounds for 3 classes"),
    (lambda: nn.CrossEntropyLoss()(an.randn(2, 3), an.Tensor(np.array([0.0, 1.5]))),
     TypeError, r"targets must be integer class indices, got dtype float64"),
    (lambda: ops.conv2d(an.randn(1, 1, 5, 5), an.randn(1, 1, 3, 3), stride=1.5),
     ValueError, r"conv2d: stride must be an int or a pair of ints, got 1\.5"),
    (lambda: ops.conv2d(an.randn(1, 1, 5, 5), an.randn(1, 1, 3, 3), padding=(1, 0.5)),
     ValueError, r"padding must be an int or a pair of ints, got \(1, 0\.5\)"),
    (lambda: ops.conv2d(an.randn(1, 1, 5, 5), an.randn(1, 1, 3, 3), dilation=2.0),
     ValueError, r"dilation must be an int or a pair of ints, got 2\.0"),
    (lambda: nn.Conv2d(1, 1, kernel_size=2.5), ValueError, r"kernel_size must be an int"),
    (lambda: ops.max_pool2d(an.randn(1, 1, 4, 4), 2, stride=1.5), ValueError,
     r"stride must be an int"),
], ids=["ce-7-of-3", "ce-minus-1", "ce-float", "conv-stride-1.5", "conv-padding-half",
        "conv-dilation-2.0", "Conv2d-kernel-2.5", "maxpool-stride-1.5"])
def test_bad_api_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_cross_entropy_in_range_unchanged():
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    got = nn.CrossEntropyLoss()(an.Tensor(logits), an.Tensor(np.array([1, 2]))).item()
    lse = np.log(np.exp(logits).sum(1))
    assert got == pytest.approx(np.mean(lse - logits[[0, 1], [1, 2]]))
    assert ops.conv2d(an.randn(1, 1, 5, 5), an.randn(1, 1, 3, 3),
                      stride=np.int64(2)).shape == (1, 1, 2, 2)


# ---------------------------------------------------------------------------------------------
# kill -9 during saves
# ---------------------------------------------------------------------------------------------
_SAVER = r"""
import sys
import numpy as np
import arrayneedle as an
w = np.empty(1 << 21, np.float32)  # 8 MiB per save
print("ready", flush=True)
step = 0
while True:
    step += 1
    w.fill(step)
    an.save({"step": step, "w": w}, sys.argv[1])
"""


def test_kill_during_save_loses_nothing(tmp_path, monkeypatch):
    """kill -9 at random moments while a process saves over and over: the checkpoint is always
    a whole old or new one, and the temporary files the killed saves left are removed by the
    next save of the same file (and nothing else is)."""
    paths = [tmp_path / f"ck{i}.npz" for i in range(3)]
    procs = []
    for p in paths:  # three savers at once, each on its own file, each killed at its moment
        an.save({"step": 0, "w": np.zeros(1 << 21, np.float32)}, p)
        procs.append(subprocess.Popen([sys.executable, "-c", _SAVER, str(p)],
                                      stdout=subprocess.PIPE, text=True,
                                      env={**os.environ, "PYTHONPATH": ROOT}))
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    rng = random.Random(15)
    start = time.monotonic()
    for proc, at in zip(procs, sorted(rng.uniform(0.05, 0.4) for _ in procs)):
        time.sleep(max(0.0, start + at - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
    steps = []
    for proc, p in zip(procs, paths):
        proc.wait(timeout=10)
        proc.stdout.close()
        ck = an.load(p)
        assert ck["w"].dtype == np.float32 and ck["w"].shape == (1 << 21,)
        assert np.all(ck["w"] == ck["step"]), "a torn checkpoint"
        steps.append(ck["step"])
    assert max(steps) > 0, "no save completed before the kills"

    path = paths[0]
    other = tmp_path / ".tmp-abcdefgh-other.npz"   # another target's temporary file
    mine_old = tmp_path / ".tmp-zzzzzzzz-ck0.npz"  # ours, abandoned long ago
    lookalike = tmp_path / ".tmp-notes-ck0.npz"    # not our exact pattern
    for p in (other, mine_old, lookalike):
        p.write_bytes(b"x")
    os.utime(other, (time.time() - 3600,) * 2)
    os.utime(mine_old, (time.time() - 3600,) * 2)
    fresh = tmp_path / ".tmp-yyyyyyyy-ck0.npz"     # ours but recent: maybe a save in progress
    fresh.write_bytes(b"y")
    an.save({"step": -1}, path)
    assert not mine_old.exists() and fresh.exists() and other.exists() and lookalike.exists()
    monkeypatch.setattr(ser, "STALE_TMP_SECONDS", 0.0)
    for p in paths:
        an.save({"step": -2}, p)
        assert an.load(p) == {"step": -2}
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([".tmp-abcdefgh-other.npz", ".tmp-notes-ck0.npz", "ck0.npz",
                           "ck1.npz", "ck2.npz"]), left
