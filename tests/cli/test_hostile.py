"""Hostile inputs, generated in a temporary folder: every malformed checkpoint, hostile image
and out-of-range argument gets one clear exception naming the problem, in bounded memory, and
leaves every file that was there before byte-identical.

Each case is one row of the table in ``hostile_cases.py`` (``FILE_ROWS``: what to create, what
to call, the exception and the message expected), so new classes of input are new rows, not new
tests."""
import hashlib
import io
import os
import re
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from hostile_cases import FILE_ROWS, MB, kill_at_random_moments, start_ready
from PIL import Image

import arrayneedle as an
import arrayneedle.serialization as ser
from arrayneedle import nn, ops

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


@pytest.mark.slow
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
    for p in paths:  # three savers at once, each on its own file, each killed at its moment
        an.save({"step": 0, "w": np.zeros(1 << 21, np.float32)}, p)
    procs = start_ready([(_SAVER, str(p)) for p in paths], ROOT)
    kill_at_random_moments(procs, seed=15, latest=0.4)
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
