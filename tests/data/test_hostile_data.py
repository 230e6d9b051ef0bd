"""Hostile input, round 3: image folders (issue 25's damaging item 8 and the data-folder weak
spots).

A 330 KB PNG claiming 13000 x 13000 gray+alpha pixels cost 2.7 GB to load at image size 16:
each image's decoded bytes are bounded before a pixel is decoded (refused, with the file named
and why), big-but-allowed images decode one at a time and shrink before any mode conversion."""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # starts train.py runs and subprocesses

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def uniform_png(path, width, height, gray=100, alpha=255):
    """A gray+alpha PNG of ``width`` x ``height`` written row by row (the file is tiny, the
    canvas huge): what a hostile upload looks like."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + bytes([gray, alpha]) * width
    z = zlib.compressobj(9)
    parts = [z.compress(row) for _ in range(height)] + [z.flush()]
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0)))
        f.write(chunk(b"IDAT", b"".join(parts)))
        f.write(chunk(b"IEND", b""))


_LOAD = r"""
import resource, sys, warnings
resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))  # 1.5 GiB: main's 2.7 GB fails
from diffusion.datasets import ImageFolder
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    ds = ImageFolder(sys.argv[1], image_size=16, workers=4)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(grown // 1024)
print(sorted(__import__("os").path.basename(p) for p in ds.paths))
print(int(ds.data.min()), int(ds.data.max()))
for p, e in ds.skipped:
    print(__import__("os").path.basename(p), e)
"""


def test_huge_canvas_png_is_refused_before_decoding(tmp_path):
    for name in ("bomb1.png", "bomb2.png"):
        uniform_png(tmp_path / name, 13000, 13000)
    assert (tmp_path / "bomb1.png").stat().st_size < 600_000
    uniform_png(tmp_path / "big_ok.png", 4000, 4000)  # 64 MB decoded: allowed, shrunk at once
    Image.fromarray(np.full((20, 20, 3), 100, np.uint8)).save(tmp_path / "small.png")
    res = subprocess.run([sys.executable, "-c", _LOAD, str(tmp_path)], capture_output=True,
                         text=True, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    grown, paths, values, *skipped = res.stdout.strip().splitlines()
    assert paths == "['big_ok.png', 'small.png']" and values == "100 100", res.stdout
    assert len(skipped) == 2 and all(
        "ValueError: 13000x13000 LA decodes to 644 MiB, above the 256 MiB allowed per image"
        in s for s in skipped), res.stdout
    assert int(grown) < 200, f"loading grew the process by {grown} MB"
