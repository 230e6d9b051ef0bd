"""Data: DataLoader, transforms, image datasets and the MNIST / CIFAR-10 readers (CPU, fast)."""
import gc
import gzip
import pickle
import struct
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image

import arrayneedle as an
from arrayneedle.data import (ArrayDataset, CenterCrop, Compose, DataLoader, Dataset, Lambda,
                              Normalize, RandomCrop, RandomHorizontalFlip, Resize, ToArray)
from diffusion.datasets import (CIFAR10Dataset, ImageFolder, MNISTDataset, SyntheticLandscapes,
                                load_cifar10, load_mnist, read_idx, resize_images)


def _loader_threads():
    return [t for t in threading.enumerate() if t.name == "arrayneedle-DataLoader"]


def _wait_no_threads(timeout=5.0):
    end = time.time() + timeout
    while _loader_threads() and time.time() < end:
        time.sleep(0.01)
    return not _loader_threads()


def _values(batch):
    return [b.numpy() for b in batch] if isinstance(batch, tuple) else batch.numpy()


def _epoch(loader):
    out = []
    for b in loader:
        out.append(_values(b))
    return out


class ItemDataset(Dataset):
    """Per-item dataset (no get_batch): (float32 vector, python int label)."""

    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"item {i} is broken")
        return np.full(3, i, dtype=np.float32), i


# ---------------------------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prefetch", [0, 2])
def test_batching_and_drop_last(prefetch):
    x = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ds = ArrayDataset(x, y)
    loader = DataLoader(ds, batch_size=4, prefetch=prefetch)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    xb, yb = batches[0]
    assert isinstance(xb, an.Tensor) and isinstance(yb, an.Tensor)
    assert xb.dtype == np.float32 and yb.dtype == np.int64
    assert xb.device is an.cpu()
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in batches]), x)
    dl = DataLoader(ds, batch_size=4, drop_last=True, prefetch=prefetch)
    assert len(dl) == 2 and [b[1].shape for b in dl] == [(4,), (4,)]


def test_single_array_dataset_gives_tensors_and_device_placement():
    ds = ArrayDataset(np.ones((5, 3), dtype=np.float64))
    (b,) = list(DataLoader(ds, batch_size=5, device="cpu"))
    assert isinstance(b, an.Tensor) and b.shape == (5, 3) and b.dtype == np.float64
    assert b.device is an.device("cpu") and not b.requires_grad


def test_item_path_collates_tuples():
    loader = DataLoader(ItemDataset(7), batch_size=3, shuffle=True, seed=0)
    seen = []
    for xb, yb in loader:
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())
        seen += yb.numpy().tolist()
    assert sorted(seen) == list(range(7))


def test_get_batch_fast_path_is_used():
    class Counting(ArrayDataset):
        items = batches = 0

        def __getitem__(self, i):
            Counting.items += 1
            return super().__getitem__(i)

        def get_batch(self, idx):
            Counting.batches += 1
            return super().get_batch(idx)

    list(DataLoader(Counting(np.zeros((9, 2), np.float32)), batch_size=4))
    assert Counting.batches == 3 and Counting.items == 0


def test_shuffle_reproducible_and_new_each_epoch():
    ds = ArrayDataset(np.arange(50))
    a = DataLoader(ds, batch_size=50, shuffle=True, seed=3)
    b = DataLoader(ds, batch_size=50, shuffle=True, seed=3)
    a1, a2 = _epoch(a), _epoch(a)
    b1, b2 = _epoch(b), _epoch(b)
    np.testing.assert_array_equal(a1[0], b1[0])
    np.testing.assert_array_equal(a2[0], b2[0])
    assert not np.array_equal(a1[0], a2[0])
    assert sorted(a1[0].tolist()) == list(range(50))
    c1 = _epoch(DataLoader(ds, batch_size=50, shuffle=True, seed=4))
    assert not np.array_equal(a1[0], c1[0])
    assert a.epoch == 2
    # no shuffle: dataset order
    np.testing.assert_array_equal(_epoch(DataLoader(ds, batch_size=50))[0], np.arange(50))


@pytest.mark.parametrize("prefetch", [0, 3])
def test_state_dict_resumes_exactly(prefetch, tmp_path):
    ds = ArrayDataset(np.arange(23), np.arange(23) * 10)
    flip = Lambda(lambda v: v)  # a transform is allowed on the fast path too

    def make():
        return DataLoader(ds, batch_size=5, shuffle=True, seed=11, prefetch=prefetch,
                          transform=flip)

    ref = make()
    straight = [_values(b) for _ in range(3) for b in ref]   # 3 epochs x 5 batches

    run = make()
    got = []
    it = iter(run)
    for _ in range(7):  # epoch 0 (5 batches) + 2 batches of epoch 1
        try:
            b = next(it)
        except StopIteration:
            it = iter(run)
            b = next(it)
        got.append(_values(b))
    state = run.state_dict()
    assert state["epoch"] == 1 and state["batch"] == 2
    an.save({"loader": state}, tmp_path / "ckpt")              # storable with the safe format
    state = an.load(tmp_path / "ckpt")["loader"]
    del it, run

    resumed = make()
    resumed.load_state_dict(state)
    for _ in range(2):
        got += [_values(b) for b in resumed]                  # rest of epoch 1, then epoch 2
    assert len(got) == len(straight)
    for g, s in zip(got, straight):
        for gi, si in zip(g, s):
            np.testing.assert_array_equal(gi, si)


def test_state_at_epoch_end_rolls_over():
    ds = ArrayDataset(np.arange(8))
    dl = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    first = _epoch(dl)
    st = dl.state_dict()
    assert st["epoch"] == 1 and st["batch"] == 0
    nxt = _epoch(dl)
    dl2 = DataLoader(ds, batch_size=4, shuffle=True, seed=123)
    dl2.load_state_dict(st)
    np.testing.assert_array_equal(np.concatenate(_epoch(dl2)), np.concatenate(nxt))
    assert not np.array_equal(np.concatenate(first), np.concatenate(nxt))
    with pytest.raises(ValueError):
        dl2.load_state_dict({"epoch": 0})


def test_random_transforms_reproducible_through_loader():
    imgs = np.random.default_rng(0).integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    ds = ArrayDataset(imgs)

    def make(prefetch):
        t = Compose([RandomHorizontalFlip(0.5), RandomCrop(4, padding=1), ToArray()])
        return DataLoader(ds, batch_size=4, seed=5, prefetch=prefetch, transform=t)

    a, b = _epoch(make(0)), _epoch(make(2))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape == (4, 3, 4, 4) and a[0].dtype == np.float32


def test_worker_exception_propagates_and_thread_stops():
    loader = DataLoader(ItemDataset(20, fail_at=9), batch_size=4, prefetch=2)
    it = iter(loader)
    next(it), next(it)                   # items 0..7 fine
    with pytest.raises(KeyError, match="item 9 is broken"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert _wait_no_threads()
    with pytest.raises(KeyError):         # synchronous mode raises too
        list(DataLoader(ItemDataset(20, fail_at=2), batch_size=4, prefetch=0))


def test_abandoned_iterator_does_not_leak_thread():
    ds = ArrayDataset(np.zeros((100, 4), np.float32))
    loader = DataLoader(ds, batch_size=2, prefetch=2)
    it = iter(loader)
    next(it)
    assert len(_loader_threads()) == 1
    del it
    gc.collect()
    assert _wait_no_threads()
    for i, _ in enumerate(loader):        # break out of a loop: the thread ends as well
        if i == 1:
            break
    gc.collect()
    assert _wait_no_threads()
    it = iter(loader)
    next(it)
    it.close()
    assert _wait_no_threads()
    assert loader.epoch == 2              # two abandoned passes done, the third in progress


def test_prefetch_overlaps_loading():
    class Slow(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            time.sleep(0.03)
            return np.float32(i)

    loader = DataLoader(Slow(), batch_size=1, prefetch=2)
    t0 = time.perf_counter()
    for _ in loader:
        time.sleep(0.03)                  # "compute" while the worker loads the next batch
    overlapped = time.perf_counter() - t0
    assert overlapped < 6 * 0.06 * 0.9, overlapped


def test_loader_argument_errors():
    ds = ArrayDataset(np.zeros(3))
    with pytest.raises(ValueError):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError):
        DataLoader(ds, prefetch=-1)
    with pytest.raises(ValueError):
        ArrayDataset(np.zeros(3), np.zeros(4))


# ---------------------------------------------------------------------------------------------
# transforms
# ---------------------------------------------------------------------------------------------
def test_transforms_numpy_and_pil():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    pil = Image.fromarray(img)
    r = Resize(10)(img)
    assert r.shape == (10, 15, 3) and r.dtype == np.uint8
    assert Resize(10)(pil).size == (15, 10)
    assert Resize((8, 9))(img.astype(np.float32)).shape == (8, 9, 3)
    c = CenterCrop(10)(img)
    np.testing.assert_array_equal(c, img[5:15, 10:20])
    np.testing.assert_array_equal(np.asarray(CenterCrop(10)(pil)), c)
    assert CenterCrop(24)(img).shape == (24, 24, 3)        # larger than the image: zero-padded
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(np.asarray(RandomHorizontalFlip(p=1.0)(pil)), img[:, ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(img), img)
    chw = np.transpose(img, (2, 0, 1))
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0, data_format="CHW")(chw), chw[:, :, ::-1])
    # RandomCrop: reproducible by seed, stays inside the padded image
    a = [RandomCrop(8, padding=2, seed=1)(img) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    crops = RandomCrop(8, padding=2, seed=2)
    outs = [crops(img) for _ in range(10)]
    assert all(o.shape == (8, 8, 3) for o in outs)
    assert len({o.tobytes() for o in outs}) > 1
    assert RandomCrop(8, padding=2, seed=3)(pil).size == (8, 8)
    full = RandomCrop((20, 30))(img)
    np.testing.assert_array_equal(full, img)
    # ToArray + Normalize
    t = Compose([CenterCrop(16), ToArray(), Normalize(0.5, 0.5)])
    out = t(pil)
    assert out.shape == (3, 16, 16) and out.dtype == np.float32
    assert -1.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out, np.transpose(img[2:18, 7:23], (2, 0, 1)) / 127.5 - 1,
                               atol=1e-6)
    g = ToArray()(np.full((4, 5), 255, np.uint8))
    assert g.shape == (1, 4, 5) and g.max() == 1.0
    n = Normalize([0.0, 1.0, 2.0], [1.0, 2.0, 4.0])(np.ones((3, 2, 2), np.float32))
    np.testing.assert_allclose(n[:, 0, 0], [1.0, 0.0, -0.25])
    with pytest.raises(ValueError):
        Normalize([0, 0], [1, 1])(np.ones((3, 2, 2), np.float32))


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
