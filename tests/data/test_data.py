"""arrayneedle.data: datasets, DataLoader (batching, shuffling, prefetching, exact resume)."""
import gc
import threading
import time

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle.data import (ArrayDataset, Compose, DataLoader, Dataset, Lambda,
                              RandomCrop, RandomHorizontalFlip, ToArray)


def _loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("arrayneedle-DataLoader")]


def _wait_no_threads(timeout=5.0):
    end = time.time() + timeout
    while _loader_threads() and time.time() < end:
        time.sleep(0.01)
    return not _loader_threads()


def _values(batch):
    return [b.numpy() for b in batch] if isinstance(batch, list) else batch.numpy()


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
    assert all(type(b) is list for b in batches)     # tuple samples -> a list, as PyTorch
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
