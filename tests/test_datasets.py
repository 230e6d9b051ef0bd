"""diffusion.datasets: SyntheticLandscapes, ImageFolder, the MNIST / CIFAR-10 readers,
resize_images (CPU, fast)."""
import gzip
import hashlib
import pickle
import struct
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


def _sha256(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


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


# ---------------------------------------------------------------------------------------------
# pinned outputs and exports
# ---------------------------------------------------------------------------------------------
# Hashes of the images made by the single-function renderer and the matmul resize_images before
# they were split into sections / moved onto arrayneedle.data.functional.resize: the same seed
# must keep giving the same training set (NumPy 2, float32 throughout).
_LANDSCAPE_SHA256 = {
    (256, 32, 0, 3): "719d77fc47df851945d79a36c4482b522570f5deaccaa3df6b51ddc3c62138f3",
    (40, (8, 20), 2, 1): "4bf3dbf849a0e849fbf0bf1d775e54e72dcb248b9e5277ab3cf8b303fcf51299",
    (3, (256, 100), 5, 3): "8415487ba83cabeef54d3f654d15a4666690b1a63f298fe85dd5747e1a1e395c",
}
_RESIZE_SHA256 = {
    32: "bc9ae36f67e26e2b3f0ae916d1cedacaa0f32a10d8794f470fb010e833d0c140",
    (20, 40): "88278be75b3ee452a9a1bb06b0bef77ce3f4be623b10f693ce839b5d6f823d2e",
    9: "7a20154ce90bf313e07feafb2ad3ba5bd63adb11891355fda7457ddb053fdbc2",
}


@pytest.mark.parametrize("args", list(_LANDSCAPE_SHA256))
def test_synthetic_landscapes_pinned(args):
    n, size, seed, channels = args
    data = SyntheticLandscapes(n, size, seed=seed, channels=channels).data
    assert _sha256(data) == _LANDSCAPE_SHA256[args]


def test_resize_images_pinned():
    a = np.random.default_rng(0).integers(0, 256, (3, 2, 28, 28), dtype=np.uint8)
    for size, digest in _RESIZE_SHA256.items():
        assert _sha256(resize_images(a, size)) == digest


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
