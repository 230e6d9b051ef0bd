"""arrayneedle.utils.data: PyTorch's datasets, samplers, DataLoader and collation.

Each behaviour is checked against hand-computed values; where PyTorch is installed, also against
torch.utils.data on the same inputs (orders drawn from random generators differ by design, so
those comparisons use deterministic samplers)."""
import collections
import inspect
import threading
import time

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                    IterableDataset, RandomSampler, SequentialSampler, Subset,
                                    SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                                    default_collate, get_worker_info, random_split)


def _np(x):
    """Batch structure with Tensors as NumPy arrays (lists/dicts/tuples kept)."""
    if isinstance(x, an.Tensor):
        return x.numpy()
    if isinstance(x, dict):
        return {k: _np(v) for k, v in x.items()}
    if hasattr(x, "_fields"):
        return type(x)(*(_np(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_np(v) for v in x)
    return x


def _torch_np(x):
    import torch
    if isinstance(x, torch.Tensor):
        return x.numpy()
    if isinstance(x, dict):
        return {k: _torch_np(v) for k, v in x.items()}
    if hasattr(x, "_fields"):
        return type(x)(*(_torch_np(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_torch_np(v) for v in x)
    return x


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


Point = collections.namedtuple("Point", "x y")

COLLATE_CASES = {
    "ints": [1, 2, 3],
    "floats": [1.5, 2.0],
    "bools": [True, False],
    "np_scalars": [np.float32(1), np.float32(2)],
    "arrays": [np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)],
    "uint8": [np.array([1, 2], np.uint8), np.array([3, 4], np.uint8)],
    "tuples": [(np.array([1.0, 2.0]), 0), (np.array([3.0, 4.0]), 1)],
    "one_tuple": [(np.array([1, 2]),), (np.array([3, 4]),)],
    "lists": [[1, 2.5], [3, 4.5]],
    "dicts": [{"a": 1, "b": np.zeros(2, np.float32)}, {"a": 2, "b": np.ones(2, np.float32)}],
    "nested": [{"p": (1, {"q": 0.5})}, {"p": (2, {"q": 1.5})}],
    "strings": ["a", "bc"],
    "namedtuple": [Point(1, 2.0), Point(3, 4.0)],
}

COLLATE_EXPECTED = {
    "ints": np.array([1, 2, 3], np.int64),
    "floats": np.array([1.5, 2.0], np.float64),
    "bools": np.array([True, False]),
    "np_scalars": np.array([1, 2], np.float32),
    "arrays": np.stack([np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)]),
    "uint8": np.array([[1, 2], [3, 4]], np.uint8),
    "tuples": [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0, 1], np.int64)],
    "one_tuple": [np.array([[1, 2], [3, 4]])],
    "lists": [np.array([1, 3], np.int64), np.array([2.5, 4.5])],
    "dicts": {"a": np.array([1, 2], np.int64), "b": np.array([[0, 0], [1, 1]], np.float32)},
    "nested": {"p": [np.array([1, 2], np.int64), {"q": np.array([0.5, 1.5])}]},
    "strings": ["a", "bc"],
    "namedtuple": Point(np.array([1, 3], np.int64), np.array([2.0, 4.0])),
}


@pytest.mark.parametrize("case", sorted(COLLATE_CASES))
def test_default_collate_hand_computed(case):
    out = default_collate(COLLATE_CASES[case])
    _same(_np(out), COLLATE_EXPECTED[case])
    if isinstance(out, an.Tensor):
        assert not out.requires_grad


@pytest.mark.parametrize("case", sorted(COLLATE_CASES))
def test_default_collate_matches_pytorch(case):
    tud = pytest.importorskip("torch.utils.data")
    _same(_np(default_collate(COLLATE_CASES[case])),
          _torch_np(tud.default_collate(COLLATE_CASES[case])))


def test_default_collate_errors():
    with pytest.raises(TypeError, match="found <class 'NoneType'>"):
        default_collate([None, None])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(TypeError, match="found"):
        default_collate([np.array(["a"]), np.array(["b"])])
    # Tensors stack, on their device
    t = default_collate([an.tensor([1.0, 2.0]), an.tensor([3.0, 4.0])])
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])
    assert t.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------
def test_tensor_dataset_items_and_one_tuples():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = TensorDataset(an.tensor(x))
    assert len(ds) == 6
    (item,) = ds[4]
    assert isinstance(item, an.Tensor)
    np.testing.assert_array_equal(item.numpy(), [8, 9])
    batches = list(DataLoader(ds, batch_size=4))
    assert [type(b) for b in batches] == [list, list] and [len(b) for b in batches] == [1, 1]
    np.testing.assert_array_equal(batches[1][0].numpy(), x[4:])
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(an.zeros((3, 2)), an.zeros(4))


def test_tensor_dataset_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ours = [_np(b) for b in DataLoader(TensorDataset(an.tensor(x), an.tensor(y)), 3, False)]
    theirs = [_torch_np(b) for b in torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), 3, False)]
    _same(ours, theirs)


class Counting(Dataset):
    """TensorDataset-like with counters for the per-item and the vectorised path."""

    def __init__(self, a):
        self.a, self.items, self.batches = a, 0, 0

    def __len__(self):
        return len(self.a)

    def __getitem__(self, i):
        self.items += 1
        return self.a[i], int(i)

    def get_batch(self, idx):
        self.batches += 1
        idx = np.asarray(idx)
        return self.a[idx], idx.astype(np.int64)


def test_subset_and_concat_keep_the_vectorised_path():
    a = Counting(np.arange(10, dtype=np.float32) * 10)
    b = Counting(np.arange(5, dtype=np.float32) * -1)
    sub = Subset(a, [9, 0, 3, 3])
    assert len(sub) == 4 and sub[0] == (90.0, 9) and sub[3] == (30.0, 3)
    cat = ConcatDataset([sub, b])
    assert len(cat) == 9 and cat.cumulative_sizes == [4, 9]
    assert cat[4] == (-0.0, 0) and cat[-1] == (-4.0, 4) and (a + b)[12] == (-2.0, 2)
    with pytest.raises(ValueError, match="exceed"):
        cat[-10]
    a.items = b.items = 0
    order = [8, 0, 5, 1, 4, 2, 7, 3, 6]
    out = [_np(x) for x in DataLoader(cat, batch_size=4, sampler=order)]
    assert a.items == b.items == 0 and a.batches == 2 and b.batches == 3
    per_item = [cat[i] for i in order]
    np.testing.assert_array_equal(np.concatenate([o[0] for o in out]),
                                  [p[0] for p in per_item])
    np.testing.assert_array_equal(np.concatenate([o[1] for o in out]),
                                  [p[1] for p in per_item])
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


def test_subset_getitems_used_with_a_custom_collate_fn():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return samples

    ds = Subset(TensorDataset(an.arange(6)), [5, 4, 3])
    out = list(DataLoader(ds, batch_size=2, collate_fn=collate))
    assert seen == [2, 1]
    assert [[int(s[0].item()) for s in b] for b in out] == [[5, 4], [3]]


def test_random_split_lengths_and_disjointness():
    gen = np.random.default_rng(0)
    parts = random_split(range(11), [0.5, 0.5], generator=gen)
    assert [len(p) for p in parts] == [6, 5]                  # remainder to the first part
    assert [len(p) for p in random_split(range(10), [0.3, 0.3, 0.4])] == [3, 3, 4]
    assert [len(p) for p in random_split(range(7), [0.1, 0.2, 0.7])] == [1, 2, 4]
    parts = random_split(range(10), [3, 7], generator=np.random.default_rng(1))
    idx = [p[i] for p in parts for i in range(len(p))]
    assert sorted(idx) == list(range(10))
    again = random_split(range(10), [3, 7], generator=np.random.default_rng(1))
    assert list(again[0].indices) == list(parts[0].indices)
    an.manual_seed(5)
    s1 = random_split(range(10), [5, 5])[0].indices
    an.manual_seed(5)
    assert random_split(range(10), [5, 5])[0].indices == s1   # global generator by default
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(5), [2, 2])
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(range(2), [0.9, 0.1])


def test_random_split_lengths_match_pytorch():
    tud = pytest.importorskip("torch.utils.data")
    for n, fr in [(11, [0.5, 0.5]), (10, [0.3, 0.3, 0.4]), (7, [0.1, 0.2, 0.7]), (9, [2, 7])]:
        assert [len(p) for p in random_split(range(n), fr)] == \
            [len(p) for p in tud.random_split(range(n), fr)]


# ---------------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------------
def test_samplers_hand_computed():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = np.random.default_rng(3)
    rs = RandomSampler(range(6), generator=g)
    first, second = list(rs), list(rs)
    assert sorted(first) == list(range(6)) and first != second and len(rs) == 6
    assert list(RandomSampler(range(6), generator=np.random.default_rng(3))) == first
    long = list(RandomSampler(range(3), num_samples=7, generator=g))
    assert len(long) == 7 and sorted(long[:3]) == sorted(long[3:6]) == [0, 1, 2]
    rep = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=g))
    assert len(rep) == 50 and set(rep) <= {0, 1, 2}
    assert all(type(i) is int for i in rep)
    sub = list(SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(sub) == [10, 20, 30]
    w = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 400, generator=g))
    assert set(w) == {1, 3} and 0.65 < w.count(3) / 400 < 0.85
    nr = list(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, generator=g))
    assert sorted(nr) == [0, 1, 2]
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = BatchSampler([5, 4, 3, 2, 1], 2, drop_last=True)
    assert list(bs) == [[5, 4], [3, 2]] and len(bs) == 2


SAMPLER_ERRORS = [
    (lambda m: m.BatchSampler(range(3), 0, False), ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
    (lambda m: m.BatchSampler(range(3), 2, 1), ValueError,
     "drop_last should be a boolean value, but got drop_last=1"),
    (lambda m: m.RandomSampler(range(3), num_samples=0), ValueError,
     "num_samples should be a positive integer value, but got num_samples=0"),
    (lambda m: m.RandomSampler(range(3), replacement=1), TypeError,
     "replacement should be a boolean value, but got replacement=1"),
    (lambda m: m.WeightedRandomSampler([[1.0]], 2), ValueError,
     r"weights should be a 1d sequence but given weights have shape \(1, 1\)"),
]


@pytest.mark.parametrize("i", range(len(SAMPLER_ERRORS)))
def test_sampler_errors_as_pytorch(i):
    import arrayneedle.utils.data as ours
    make, exc, msg = SAMPLER_ERRORS[i]
    with pytest.raises(exc, match=msg):
        make(ours)
    try:
        import torch.utils.data as theirs
    except ImportError:
        return
    with pytest.raises(exc, match=msg):
        make(theirs)


def test_batch_sampler_matches_pytorch():
    tud = pytest.importorskip("torch.utils.data")
    for drop in (False, True):
        src = [9, 3, 7, 1, 0, 2, 8]
        assert list(BatchSampler(src, 3, drop)) == list(tud.BatchSampler(src, 3, drop))
        assert len(BatchSampler(src, 3, drop)) == len(tud.BatchSampler(src, 3, drop))


# ---------------------------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------------------------
TORCH_ORDER = ["dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers",
               "collate_fn", "pin_memory", "drop_last", "timeout", "worker_init_fn",
               "multiprocessing_context", "generator"]


def test_signature_positional_order_and_defaults():
    params = inspect.signature(DataLoader).parameters
    positional = [n for n, p in params.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == TORCH_ORDER
    defaults = {n: params[n].default for n in TORCH_ORDER[1:]}
    assert defaults == {"batch_size": 1, "shuffle": None, "sampler": None, "batch_sampler": None,
                        "num_workers": 0, "collate_fn": None, "pin_memory": False,
                        "drop_last": False, "timeout": 0, "worker_init_fn": None,
                        "multiprocessing_context": None, "generator": None}
    assert params["prefetch_factor"].default is None
    assert params["persistent_workers"].default is False
    try:
        import torch.utils.data as tud
    except ImportError:
        return
    tparams = inspect.signature(tud.DataLoader).parameters
    assert [n for n, p in tparams.items() if p.kind == p.POSITIONAL_OR_KEYWORD] == TORCH_ORDER
    for n in TORCH_ORDER[1:]:
        assert tparams[n].default == defaults[n]


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


LOADER_ERRORS = [
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(batch_size=0), "batch_size should be a positive integer value"),
]


@pytest.mark.parametrize("i", range(len(LOADER_ERRORS)))
def test_argument_conflicts_as_pytorch(i):
    kwargs, msg = LOADER_ERRORS[i]
    with pytest.raises(ValueError, match=msg):
        DataLoader(list(range(4)), **kwargs)
    try:
        import torch.utils.data as tud
    except ImportError:
        return
    with pytest.raises(ValueError, match=msg):
        tud.DataLoader(list(range(4)), **kwargs)


@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]),
                                    dict(batch_sampler=[[0]])])
def test_iterable_dataset_rejects_ordering_options(kwargs):
    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified"):
        DataLoader(Stream(3), **kwargs)


def test_attributes_frozen_after_init():
    dl = DataLoader(list(range(4)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        dl.batch_size = 3
    dl.num_workers = 0                                        # not frozen in PyTorch either


def test_loader_over_plain_lists_dicts_and_batch_size_none():
    out = list(DataLoader([(1, 2.0), (3, 4.0), (5, 6.0)], batch_size=2))
    _same(_np(out), [[np.array([1, 3]), np.array([2.0, 4.0])],
                     [np.array([5]), np.array([6.0])]])
    recs = [{"x": np.full(2, i, np.float32), "y": i} for i in range(3)]
    (b,) = DataLoader(recs, batch_size=3)
    assert set(b) == {"x", "y"} and b["x"].shape == (3, 2) and b["y"].dtype == np.int64
    single = list(DataLoader([np.float32(1.5), np.float32(2.5)], batch_size=None))
    assert [s.shape for s in single] == [(), ()] and single[1].item() == 2.5
    nob = list(DataLoader([(np.ones(2), 7)], batch_size=None))
    assert isinstance(nob[0], list) and nob[0][1] == 7 and isinstance(nob[0][0], an.Tensor)


def test_loader_matches_pytorch_on_deterministic_orders():
    tud = pytest.importorskip("torch.utils.data")
    data = [(np.arange(3, dtype=np.float32) + i, i, float(i) / 2) for i in range(7)]
    for kw in (dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
               dict(batch_sampler=[[6, 0], [3, 3, 1]]), dict(sampler=[4, 2, 5], batch_size=2)):
        _same([_np(b) for b in DataLoader(data, **kw)],
              [_torch_np(b) for b in tud.DataLoader(data, **kw)])
        assert len(DataLoader(data, **kw)) == len(tud.DataLoader(data, **kw))


def test_iterable_dataset_batches_len_and_resume():
    dl = DataLoader(Stream(7), batch_size=3)
    out = [b.numpy().tolist() for b in dl]
    assert out == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.numpy().tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] \
        == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError):
        len(dl)                                                # no __len__ on the dataset
    assert dl.epoch == 1
    it = iter(dl)
    next(it)
    state = dl.state_dict()
    assert state["batch"] == 1 and state["epoch"] == 1
    dl2 = DataLoader(Stream(7), batch_size=3, num_workers=2)   # one thread reads a stream
    dl2.load_state_dict(state)
    assert [b.numpy().tolist() for b in dl2] == [[3, 4, 5], [6]]
    assert dl2.epoch == 2


def test_num_workers_threads_same_batches_and_worker_init():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)

    class PerItem(Dataset):
        def __len__(self):
            return 20

        def __getitem__(self, i):
            time.sleep(0.001)
            return x[i], i

    ids = []
    lock = threading.Lock()

    def init(i):
        with lock:
            ids.append(i)
            assert get_worker_info() is None

    ref = [_np(b) for b in DataLoader(PerItem(), batch_size=3, shuffle=True, seed=1)]
    dl = DataLoader(PerItem(), batch_size=3, shuffle=True, seed=1, num_workers=3,
                    worker_init_fn=init, prefetch_factor=2, persistent_workers=True)
    _same([_np(b) for b in dl], ref)
    assert sorted(ids) == [0, 1, 2]
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(PerItem(), num_workers=2, prefetch=3)


def test_timeout_raises():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.5)
            return i

    with pytest.raises(RuntimeError, match="timed out after 0.05"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.05))


def test_shuffle_follows_manual_seed_and_generator():
    ds = list(range(30))
    an.manual_seed(7)
    a = [b.numpy().tolist() for b in DataLoader(ds, batch_size=30, shuffle=True)]
    an.manual_seed(7)
    b = [b.numpy().tolist() for b in DataLoader(ds, batch_size=30, shuffle=True)]
    assert a == b and sorted(a[0]) == ds and a[0] != ds
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    assert [b.numpy().tolist() for b in DataLoader(ds, 10, True, generator=g1)] == \
        [b.numpy().tolist() for b in DataLoader(ds, 10, True, generator=g2)]
    with pytest.raises(ValueError, match="either generator or seed"):
        DataLoader(ds, generator=g1, seed=3)


def test_exact_resume_with_a_sampler_owning_its_generator():
    ds = TensorDataset(an.arange(12))

    def make():
        return DataLoader(ds, sampler=SubsetRandomSampler(list(range(12)),
                                                          generator=np.random.default_rng(9)),
                          batch_size=4)

    ref = make()
    full = [b[0].numpy().tolist() for _ in range(2) for b in ref]
    run = make()
    it = iter(run)
    got = [next(it)[0].numpy().tolist()]
    state = run.state_dict()
    assert len(state["sampler_rng_states"]) == 1
    resumed = make()
    resumed.load_state_dict(state)
    got += [b[0].numpy().tolist() for b in resumed]
    got += [b[0].numpy().tolist() for b in resumed]
    assert len(full) == 6 and got == full
    assert full[:3] != full[3:]                               # the sampler reshuffles
    with pytest.raises(ValueError, match="generator states"):
        DataLoader(ds, batch_size=4).load_state_dict(state)


def test_names_shared_with_arrayneedle_data():
    import arrayneedle.data as d
    import arrayneedle.utils.data as u
    assert d.DataLoader is u.DataLoader and d.default_collate is u.default_collate
    assert an.utils.data.TensorDataset is u.TensorDataset


def test_endless_random_sampler_draws_on_demand_and_resumes_exactly():
    # minGPT's trainer: RandomSampler(replacement=True, num_samples=int(1e10)); drawing 10**10
    # indices up front would need 75 GiB
    ds = TensorDataset(an.arange(10), an.arange(10) * 2)
    g = np.random.default_rng(3)
    dl = DataLoader(ds, sampler=RandomSampler(ds, replacement=True, num_samples=int(1e10),
                                              generator=g), batch_size=4)
    assert len(dl) == 2_500_000_000
    it = iter(dl)
    first = next(it)
    assert first[0].shape == (4,) and (first[1].numpy() == 2 * first[0].numpy()).all()
    assert 0 <= first[0].numpy().min() and first[0].numpy().max() < 10
    state = dl.state_dict()
    second = next(it)[0].tolist()
    dl.load_state_dict(state)
    assert next(iter(dl))[0].tolist() == second


def test_drawn_indices_slices_and_items_agree():
    from arrayneedle.data.sampler import DrawnIndices
    d = DrawnIndices(7, 200_000, seed=5)
    whole = d[0:200_000]
    assert len(whole) == 200_000 and whole.min() >= 0 and whole.max() < 7
    assert d[65_530:65_545].tolist() == whole[65_530:65_545].tolist()  # across a block edge
    assert d[70_000] == whole[70_000] and d[-1] == whole[-1]
    assert list(iter(d))[:5] == whole[:5].tolist()
