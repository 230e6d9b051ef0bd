"""diffusion.datasets: SyntheticLandscapes, ImageFolder, the MNIST / CIFAR-10 readers,
resize_images (CPU, fast)."""
import gzip
import pickle
import struct
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from PIL import Image

import diffusion
import diffusion.datasets as datasets
from arrayneedle.data import DataLoader
from arrayneedle.data.functional import cover_size, crop, resize
from diffusion.datasets import (CIFAR10Dataset, ImageFolder, MNISTDataset, SyntheticLandscapes,
                                load_cifar10, load_mnist, read_idx, resize_images)


# ---------------------------------------------------------------------------------------------
# ImageFolder
# ---------------------------------------------------------------------------------------------
def _write_images(root):
    rng = np.random.default_rng(0)
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (40, 24, 3), dtype=np.uint8)).save(root / "b.JPG")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(root / "sub" / "c.bmp")
    Image.fromarray(rng.integers(0, 256, (18, 18, 4), dtype=np.uint8)).save(
        root / "sub" / "deeper" / "d.webp")
    Image.fromarray(np.full((12, 12, 3), 255, np.uint8)).save(root / "sub" / "white.png")
    (root / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "notes.txt").write_text("ignored")


def test_image_folder(tmp_path):
    _write_images(tmp_path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = ImageFolder(tmp_path, image_size=8)
    msgs = [str(x.message) for x in w]
    assert len(msgs) == 1 and "1 unreadable" in msgs[0] and "broken.jpg" in msgs[0]
    assert len(ds) == 5
    assert [p.replace("\\", "/").split(str(tmp_path.name) + "/")[-1] for p in ds.paths] == \
        ["a.png", "b.JPG", "sub/c.bmp", "sub/deeper/d.webp", "sub/white.png"]
    assert ds.data.shape == (5, 3, 8, 8) and ds.data.dtype == np.uint8
    x = ds[0]
    assert x.shape == (3, 8, 8) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(ds[4], np.ones((3, 8, 8), np.float32))  # white -> exactly 1
    b = ds.get_batch([4, 0])
    assert b.shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(b[1], x)
    gray = ds.data[2]                     # a grayscale file becomes 3 equal channels
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = ImageFolder(tmp_path, image_size=(6, 10), channels=1, workers=1)
    assert g.data.shape == (5, 1, 6, 10)
    # works with the loader
    (xb,) = [b for b in DataLoader(g, batch_size=5)]
    assert xb.shape == (5, 1, 6, 10) and xb.dtype == np.float32


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        ImageFolder(tmp_path / "missing", 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"\.png"):
        ImageFolder(tmp_path / "empty", 8)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="none of the 1 image files"):
        ImageFolder(tmp_path / "bad", 8)


# ---------------------------------------------------------------------------------------------
# SyntheticLandscapes
# ---------------------------------------------------------------------------------------------
def test_synthetic_landscapes():
    a = SyntheticLandscapes(64, 16, seed=0)
    b = SyntheticLandscapes(64, 16, seed=0)
    c = SyntheticLandscapes(64, 16, seed=1)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)
    assert a.data.shape == (64, 3, 16, 16) and a.data.dtype == np.uint8
    x = a.get_batch(np.arange(64))
    assert x.dtype == np.float32 and x.shape == (64, 3, 16, 16)
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.std() > 0.2
    np.testing.assert_array_equal(a[3], x[3])
    # image i depends only on (seed, i)
    np.testing.assert_array_equal(SyntheticLandscapes(10, 16, seed=0).data, a.data[:10])
    # structure: sky on top, mountains/ground below; sky differs from the bottom and images vary
    top = x[:, :, :3].mean(axis=(1, 2, 3))
    bottom = x[:, :, -3:].mean(axis=(1, 2, 3))
    assert np.mean(np.abs(top - bottom)) > 0.1
    blue_sky = x[:, 2, :4].mean(axis=(1, 2)) > x[:, 0, :4].mean(axis=(1, 2))
    assert 0.3 < blue_sky.mean() < 1.0     # mostly blue skies, but dusk/desert skies exist
    assert x.reshape(64, -1).std(axis=0).mean() > 0.1
    # rows change smoothly in the sky (a gradient), not noise
    assert np.abs(np.diff(x[:, :, :4], axis=3)).mean() < 0.1


def test_synthetic_landscapes_sizes_and_speed():
    g = SyntheticLandscapes(3, (8, 20), seed=2, channels=1)
    assert g.data.shape == (3, 1, 8, 20)
    assert SyntheticLandscapes(2, 256).data.shape == (2, 3, 256, 256)
    t0 = time.perf_counter()
    SyntheticLandscapes(2000, 32)
    assert time.perf_counter() - t0 < 3.0
    with pytest.raises(ValueError):
        SyntheticLandscapes(4, 4)
    with pytest.raises(ValueError):
        SyntheticLandscapes(4, 16, channels=2)


# ---------------------------------------------------------------------------------------------
# MNIST and CIFAR-10 readers
# ---------------------------------------------------------------------------------------------
def _idx(array, code):
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_mnist_reader(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(images, 0x08))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels, 0x08)))
    x, y = load_mnist(tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert read_idx(tmp_path / "train-images-idx3-ubyte")[:2].tobytes() == images[:2].tobytes()
    f = np.arange(6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "f.idx").write_bytes(_idx(f, 0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), f)
    ds = MNISTDataset(tmp_path, return_labels=True)
    img, lab = ds[1]
    assert img.shape == (1, 28, 28) and img.dtype == np.float32 and lab == 1
    np.testing.assert_allclose(img[0], images[1] / 127.5 - 1, atol=1e-6)
    assert MNISTDataset(tmp_path, image_size=32).data.shape == (5, 1, 32, 32)
    with pytest.raises(ValueError, match="MNIST image"):
        load_mnist(tmp_path / "train-labels-idx1-ubyte.gz")
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 28, 28) + b"x")
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(tmp_path / "bad")
    with pytest.raises(FileNotFoundError):
        MNISTDataset(tmp_path, train=False)


def test_cifar10_readers(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3], dtype=np.uint8)
    # binary version
    binf = tmp_path / "bin" / "cifar-10-batches-bin"
    binf.mkdir(parents=True)
    for k, sl in ((1, slice(0, 3)), (2, slice(3, 4))):
        rec = np.concatenate([labels[sl, None], imgs[sl].reshape(-1, 3072)], axis=1)
        (binf / f"data_batch_{k}.bin").write_bytes(rec.astype(np.uint8).tobytes())
    x, y = load_cifar10(tmp_path / "bin")
    np.testing.assert_array_equal(x, imgs)
    np.testing.assert_array_equal(y, labels)
    # python (pickle) version
    pyf = tmp_path / "py"
    pyf.mkdir()
    with open(pyf / "test_batch", "wb") as f:
        pickle.dump({b"batch_label": b"testing batch 1 of 1", b"labels": labels.tolist(),
                     b"data": imgs.reshape(4, 3072), b"filenames": [b"a.png"] * 4}, f, protocol=2)
    x2, y2 = load_cifar10(pyf, train=False)
    np.testing.assert_array_equal(x2, imgs)
    np.testing.assert_array_equal(y2, labels)
    ds = CIFAR10Dataset(pyf, train=False, return_labels=True)
    img, lab = ds[1]
    assert img.shape == (3, 32, 32) and lab == 9
    np.testing.assert_allclose(img, imgs[1] / 127.5 - 1, atol=1e-6)
    assert CIFAR10Dataset(tmp_path / "bin", image_size=16).data.shape == (4, 3, 16, 16)
    # a pickle that would run code is refused
    evil = tmp_path / "evil"
    evil.mkdir()

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(evil / "test_batch", "wb") as f:
        pickle.dump({b"data": Boom(), b"labels": []}, f)
    with pytest.raises(ValueError, match="refusing"):
        load_cifar10(evil, train=False)
    (binf / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="3073"):
        load_cifar10(tmp_path / "bin", train=False)
    with pytest.raises(FileNotFoundError):
        load_cifar10(tmp_path / "py", train=True)


def test_resize_images():
    a = np.full((2, 1, 28, 28), 200, np.uint8)
    r = resize_images(a, 32)
    assert r.shape == (2, 1, 32, 32) and (r == 200).all()
    d = resize_images(np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4) * 10, 2)
    assert d.shape == (1, 1, 2, 2) and d[0, 0, 0, 0] < d[0, 0, 1, 1]


def test_image_folder_path_is_a_file(tmp_path):
    f = tmp_path / "one.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(f)
    with pytest.raises(ValueError, match="not a folder"):
        ImageFolder(f, 8)




# The renderer's fingerprint: per-channel mean and std over the set and the per-channel means
# of the first three images, on the 0..255 scale. Not a hash: the images are float32 arithmetic
# rounded to uint8, and NumPy takes other SIMD paths on AVX2 and AVX-512 hosts, so a handful of
# pixels may round the other way on another CPU (a shift of ~1e-4 in these means). A change to
# the renderer or the seeding moves them by far more than the tolerance.
_LANDSCAPE_FINGERPRINT = {
    (256, 32, 0, 3): ([118.356, 120.116, 136.778], [63.644, 63.979, 74.124],
                      [[12.505, 13.865, 28.064], [167.298, 203.921, 230.203],
                       [172.883, 162.011, 177.596]]),
    (40, (8, 20), 2, 1): ([113.227], [63.888], [[130.019], [119.744], [183.65]]),
    (3, (256, 100), 5, 3): ([131.122, 124.136, 134.564], [55.997, 53.71, 69.581],
                            [[166.022, 153.973, 141.315], [108.478, 139.769, 193.02],
                             [118.865, 78.667, 69.359]]),
}


@pytest.mark.parametrize("args", list(_LANDSCAPE_FINGERPRINT))
def test_synthetic_landscapes_pinned(args):
    n, size, seed, channels = args
    data = SyntheticLandscapes(n, size, seed=seed, channels=channels).data
    assert data.dtype == np.uint8 and data.shape[:2] == (n, channels)
    x = data.astype(np.float64)
    mean, std, first = _LANDSCAPE_FINGERPRINT[args]
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), mean, atol=0.01)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), std, atol=0.01)
    np.testing.assert_allclose(x[:3].mean(axis=(2, 3)), first, atol=0.05)


@pytest.mark.slow
def test_synthetic_landscapes_same_seed_same_set():
    """On one machine the same seed gives the same training set, bit for bit (in another
    process too), and another seed another set."""
    a = SyntheticLandscapes(16, 16, seed=4).data
    np.testing.assert_array_equal(a, SyntheticLandscapes(16, 16, seed=4).data)
    code = ("import sys, numpy as np; from diffusion.datasets import SyntheticLandscapes; "
            "sys.stdout.buffer.write(SyntheticLandscapes(16, 16, seed=4).data.tobytes())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert other == a.tobytes()
    assert not np.array_equal(a, SyntheticLandscapes(16, 16, seed=5).data)


def _pillow_bilinear(a, size):
    """Pillow's antialiased bilinear resize of every (N, C) plane of uint8 ``a`` in Pillow's
    float mode, rounded once at the end: an independent computation (Pillow's C code) of what
    resize_images must give."""
    h, w = (size, size) if isinstance(size, int) else size
    f = np.stack([np.stack([np.asarray(Image.fromarray(plane.astype(np.float32), "F").resize(
        (w, h), Image.Resampling.BILINEAR)) for plane in img]) for img in a])
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [32, (20, 40), 9])
def test_resize_images_matches_pillow(size):
    """resize_images (float32 NumPy, vectorised over the batch) against Pillow's own bilinear
    resize: within one level everywhere, and equal almost everywhere (a value within float32
    rounding of .5 may round either way, and float32 sums differ in the last bit between
    CPUs)."""
    a = np.random.default_rng(0).integers(0, 256, (3, 2, 28, 28), dtype=np.uint8)
    out = resize_images(a, size)
    ref = _pillow_bilinear(a, size)
    assert out.dtype == np.uint8 and out.shape == ref.shape
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1
    assert (diff == 0).mean() > 0.99


def test_image_folder_resizes_through_the_shared_functions(tmp_path):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    ds = ImageFolder(tmp_path, image_size=6, workers=1)
    assert cover_size((20, 30), (6, 6)) == (6, 9)
    pil = resize(Image.fromarray(img), (6, 9), "bicubic", reducing_gap=3.0)
    expect = np.asarray(crop(pil, 0, 1, 6, 6))          # centre offset (9 - 6) // 2, rounded down
    np.testing.assert_array_equal(ds.data[0], np.transpose(expect, (2, 0, 1)))


def test_every_public_name_is_exported():
    for name in datasets.__all__:
        assert getattr(datasets, name) is not None
    for name in ("SyntheticLandscapes", "ImageFolder", "MNISTDataset", "CIFAR10Dataset",
                 "ImageArrayDataset", "load_mnist", "load_cifar10", "read_idx", "resize_images"):
        assert getattr(diffusion, name) is getattr(datasets, name)
    assert datasets.CIFAR10_CLASSES[0] == "airplane" and ".png" in datasets.IMAGE_EXTENSIONS
