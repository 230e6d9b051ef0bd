"""PyTorch's meaning for the names we share: split/chunk, max/min and their named tuples,
argmax/topk/sort, var/std, dim=/keepdim= on every reduction, and the top-level functions.
Each test asserts hand-computed values; where PyTorch is installed it also compares with it."""
import math

import numpy as np
import pytest

import arrayneedle as an


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


X = np.array([[3.0, 1.0, 4.0, 1.0, 5.0], [9.0, 2.0, 6.0, 5.0, 3.0]])


# ---- 1. split and chunk ----
def test_split_is_pieces_of_a_size_and_chunk_is_a_count():
    x = an.arange(10)
    assert [p.tolist() for p in an.split(x, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [p.tolist() for p in x.split([3, 7])] == [list(range(3)), list(range(3, 10))]
    assert [p.tolist() for p in an.chunk(x, 3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(p) for p in an.chunk(an.arange(6), 4)] == [2, 2, 2]  # fewer pieces, as torch
    assert [len(p) for p in an.tensor_split(an.arange(10), 3)] == [4, 3, 3]
    torch = _torch()
    if torch is not None:
        for n, c in [(10, 3), (6, 4), (5, 5), (7, 2)]:
            assert [len(p) for p in an.chunk(an.arange(n), c)] == \
                [len(p) for p in torch.chunk(torch.arange(n), c)]
            assert [len(p) for p in an.split(an.arange(n), c)] == \
                [len(p) for p in torch.split(torch.arange(n), c)]


# ---- 2. max / min / argmax / topk / sort ----
def test_max_forms_match_pytorch():
    x = an.tensor(X)
    m = an.max(x)
    assert m.shape == () and m.item() == 9.0
    r = an.max(x, 1)
    assert type(r).__name__ == "max" and r._fields == ("values", "indices")
    assert r.values.tolist() == [5.0, 9.0] and r.indices.tolist() == [4, 0]
    values, indices = x.min(dim=1, keepdim=True)
    assert values.tolist() == [[1.0], [2.0]] and indices.tolist() == [[1], [1]]  # first minimum
    assert indices.dtype == np.int64
    assert an.max(x, an.tensor(4.0)).tolist() == np.maximum(X, 4).tolist()
    assert x.max(axis=0).values.tolist() == [9.0, 2.0, 6.0, 5.0, 5.0]
    assert an.argmax(x).item() == 5 and an.argmin(x, dim=1).tolist() == [1, 1]
    assert an.argmax(x, 1, keepdim=True).shape == (2, 1)
    torch = _torch()
    if torch is not None:
        t = torch.tensor(X)
        tv, ti = torch.max(t, 1)
        np.testing.assert_array_equal(r.values.detach().numpy(), tv.detach().numpy())
        np.testing.assert_array_equal(r.indices.detach().numpy(), ti.detach().numpy())
        tv, ti = torch.min(t, 1, keepdim=True)
        np.testing.assert_array_equal(indices.detach().numpy(), ti.detach().numpy())
        assert an.argmax(x).item() == torch.argmax(t).item()


def test_topk_and_sort_values_indices_and_gradients():
    x = an.tensor(X, requires_grad=True)
    v, i = an.topk(x, 2)
    assert v.tolist() == [[5.0, 4.0], [9.0, 6.0]] and i.tolist() == [[4, 2], [0, 2]]
    (v * an.tensor([[1.0, 10.0], [100.0, 1000.0]], dtype="float64")).sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), [[0, 0, 10, 0, 1], [100, 0, 1000, 0, 0]])
    s = an.sort(an.tensor([3.0, 1.0, 2.0, 1.0]))
    assert s.values.tolist() == [1.0, 1.0, 2.0, 3.0] and s.indices.tolist() == [1, 3, 2, 0]
    d = an.tensor([3.0, 1.0, 2.0, 1.0]).sort(descending=True)
    assert d.values.tolist() == [3.0, 2.0, 1.0, 1.0] and d.indices.tolist() == [0, 2, 1, 3]
    small = an.topk(an.tensor(X), 2, dim=0, largest=False)
    assert small.values.tolist() == [[3.0, 1.0, 4.0, 1.0, 3.0], [9.0, 2.0, 6.0, 5.0, 5.0]]
    torch = _torch()
    if torch is not None:
        tv, ti = torch.topk(torch.tensor(X), 2)
        np.testing.assert_array_equal(v.detach().numpy(), tv.detach().numpy())
        np.testing.assert_array_equal(i.detach().numpy(), ti.detach().numpy())
        ts = torch.sort(torch.tensor([3.0, 1.0, 2.0, 1.0]), stable=True)
        assert s.indices.tolist() == ts.indices.tolist()


# ---- 3. var / std ----
def test_var_std_are_unbiased_by_default():
    v = [1.0, 2.0, 3.0, 4.0]
    x = an.tensor(v)
    assert math.isclose(an.var(x).item(), 5 / 3, rel_tol=1e-6)
    assert math.isclose(x.var(unbiased=False).item(), 1.25, rel_tol=1e-6)
    assert math.isclose(an.var(x, correction=0).item(), 1.25, rel_tol=1e-6)
    assert math.isclose(an.var(x, False).item(), 1.25, rel_tol=1e-6)
    assert math.isclose(x.std().item(), math.sqrt(5 / 3), rel_tol=1e-6)
    m = an.tensor(X)
    np.testing.assert_allclose(an.std(m, dim=1, keepdim=True).detach().numpy(),
                               X.std(1, ddof=1, keepdims=True))
    np.testing.assert_allclose(m.var(axis=0, keepdims=True, correction=0).detach().numpy(),
                               X.var(0, keepdims=True))
    with pytest.raises(TypeError, match="not both"):
        an.var(x, unbiased=True, correction=1)
    torch = _torch()
    if torch is not None:
        t = torch.tensor(X)
        np.testing.assert_allclose(an.var(m, 1).detach().numpy(), torch.var(t, 1).detach().numpy())
        np.testing.assert_allclose(an.std(m).item(), torch.std(t).item())
        np.testing.assert_allclose(an.var(m, 1, correction=2).detach().numpy(),
                                   torch.var(t, 1, correction=2).detach().numpy())


# ---- dim= / keepdim= everywhere ----
REDUCTIONS = [
    ("sum", lambda a, **k: a.sum(axis=k.get("axis"), keepdims=k.get("keepdims", False))),
    ("mean", lambda a, **k: a.mean(axis=k.get("axis"), keepdims=k.get("keepdims", False))),
    ("prod", lambda a, **k: a.prod(axis=k.get("axis"), keepdims=k.get("keepdims", False))),
    ("amax", lambda a, **k: a.max(axis=k.get("axis"), keepdims=k.get("keepdims", False))),
    ("logsumexp", lambda a, **k: np.log(np.exp(a).sum(axis=k.get("axis"),
                                                      keepdims=k.get("keepdims", False)))),
    ("norm", lambda a, **k: np.sqrt((a * a).sum(axis=k.get("axis"),
                                                keepdims=k.get("keepdims", False)))),
    ("all", lambda a, **k: (a > 2).all(axis=k.get("axis"), keepdims=k.get("keepdims", False))),
    ("any", lambda a, **k: (a > 8).any(axis=k.get("axis"), keepdims=k.get("keepdims", False))),
]


@pytest.mark.parametrize("name,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_every_reduction_takes_dim_keepdim_and_axis_keepdims(name, ref):
    x = an.tensor(X)
    arg = x > 2 if name == "all" else (x > 8 if name == "any" else x)
    fn = getattr(an, name)
    np.testing.assert_allclose(fn(arg, dim=1).detach().numpy(), ref(X, axis=1))
    np.testing.assert_allclose(fn(arg, dim=0, keepdim=True).detach().numpy(), ref(X, axis=0, keepdims=True))
    np.testing.assert_allclose(fn(arg, axis=1, keepdims=True).detach().numpy(),
                               ref(X, axis=1, keepdims=True))
    np.testing.assert_allclose(getattr(arg, name)(dim=-1).detach().numpy(), ref(X, axis=-1))
    with pytest.raises(TypeError, match="give one"):
        fn(arg, dim=0, axis=1)


def test_softmax_stack_cat_take_dim():
    x = an.tensor(X)
    e = np.exp(X - X.max(0))
    np.testing.assert_allclose(an.softmax(x, dim=0).detach().numpy(), e / e.sum(0))
    np.testing.assert_allclose(x.softmax(0).detach().numpy(), e / e.sum(0))
    np.testing.assert_allclose(an.log_softmax(x, axis=0).detach().numpy(), np.log(e / e.sum(0)))
    assert an.cat([x, x], dim=1).shape == (2, 10) and an.cat((x, x), axis=0).shape == (4, 5)
    assert an.stack([x, x], dim=2).shape == (2, 5, 2) and an.concat([x, x], 1).shape == (2, 10)
    with pytest.warns(UserWarning, match="implicit dimension"):
        np.testing.assert_allclose(an.softmax(x).detach().numpy(), np.exp(X) / np.exp(X).sum(1, keepdims=True))


def test_sum_of_bool_and_int_is_int64():
    assert an.sum(an.tensor([True, False, True])).item() == 2
    assert an.sum(an.tensor([True, True])).dtype == np.int64
    assert an.tensor([1, 2, 3]).prod().item() == 6


# ---- top level ----
def test_factories_follow_pytorch_dtype_rules():
    assert an.arange(5).dtype == np.int64 and an.arange(np.int64(3)).dtype == np.int64
    assert an.arange(0, 1, 0.25).dtype == np.float32
    assert an.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert an.arange(1.0, 4).tolist() == [1.0, 2.0, 3.0]
    assert an.linspace(0, 1, 5).dtype == np.float32
    assert an.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert an.full((2,), 3).dtype == np.int64 and an.full((2,), 3.0).dtype == np.float32
    assert an.full((2,), True).dtype == np.bool_
    assert an.zeros(2, 3).dtype == np.float32 and an.eye(3).detach().numpy().trace() == 3
    x = an.tensor([[1, 2]])
    assert an.zeros_like(x).dtype == np.int64 and an.ones_like(x, dtype="float32").dtype == np.float32
    assert an.full_like(x, 7).tolist() == [[7, 7]] and an.empty_like(x).shape == (1, 2)
    assert an.randn_like(an.zeros(2, 2, dtype="float64")).dtype == np.float64
    assert an.numel(an.zeros(2, 3, 4)) == 24 and an.is_tensor(x) and not an.is_tensor(X)


def test_from_numpy_shares_memory():
    a = np.zeros(3)
    t = an.from_numpy(a)
    a[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0] and t.dtype == np.float64
    with pytest.raises(TypeError, match="numpy.ndarray"):
        an.from_numpy([1, 2])


def test_randint_both_forms_randperm_multinomial():
    an.manual_seed(0)
    r = an.randint(3, 7, (1000,))
    assert r.dtype == np.int64 and set(r.tolist()) == {3, 4, 5, 6}
    h = an.randint(4, (2, 500))
    assert h.shape == (2, 500) and set(h.detach().numpy().ravel().tolist()) == {0, 1, 2, 3}
    assert an.randint(5, size=(3,)).shape == (3,)
    p = an.randperm(50)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(50))
    assert p.tolist() != list(range(50))
    w = an.tensor([0.0, 1.0, 3.0])
    draws = an.multinomial(w, 4000, replacement=True).detach().numpy()
    assert set(draws.tolist()) <= {1, 2} and abs(np.mean(draws == 2) - 0.75) < 0.03
    rows = an.multinomial(an.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 5.0, 1.0, 0.0]]), 2)
    assert rows.shape == (2, 2)
    assert len(set(rows.tolist()[0])) == 2 and 2 not in rows.tolist()[0]
    assert sorted(rows.tolist()[1]) == [1, 2]
    first = an.multinomial(an.tensor([[1.0, 3.0]] * 4000), 1).detach().numpy()
    assert abs(np.mean(first == 1) - 0.75) < 0.03  # the first pick follows the weights
    with pytest.raises(ValueError, match="without replacement"):
        an.multinomial(w, 3)


def test_gather_scatter_add_tril_cumsum_einsum_against_hand_values():
    x = an.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert an.gather(x, 1, an.tensor([[0, 0], [1, 0]])).tolist() == [[1.0, 1.0], [4.0, 3.0]]
    s = an.scatter_add(an.zeros(3), 0, an.tensor([0, 2, 0]), an.tensor([1.0, 2.0, 3.0]))
    assert s.tolist() == [4.0, 0.0, 2.0]
    assert an.tril(an.ones(3, 3)).detach().numpy().sum() == 6 and an.triu(an.ones(3, 3), 1).sum().item() == 3
    assert an.cumsum(an.tensor([1, 2, 3]), 0).tolist() == [1, 3, 6]
    assert an.cumprod(an.tensor([1.0, 2.0, 3.0]), dim=0).tolist() == [1.0, 2.0, 6.0]
    assert an.einsum("ij,jk->ik", x, x).tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert an.einsum("ij->", x).item() == 10.0
    assert an.mm(x, x).tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert an.outer(an.tensor([1.0, 2.0]), an.tensor([3.0, 4.0])).tolist() == [[3, 4], [6, 8]]
    assert an.clamp(an.tensor([-2.0, 0.5, 3.0]), min=-1, max=1).tolist() == [-1.0, 0.5, 1.0]
    assert an.clamp(an.tensor([-2.0, 3.0]), max=an.tensor([0.0, 5.0])).tolist() == [-2.0, 3.0]
    assert an.allclose(x, x + 1e-9) and not an.allclose(x, x + 1e-3)
    assert an.where(x > 2, x, 0.0).tolist() == [[0.0, 0.0], [3.0, 4.0]]
    c = an.clone(x)
    assert c.tolist() == x.tolist() and c.array is not x.array
    with pytest.raises(ValueError, match="repeated subscript"):
        an.einsum("ii->i", x)
    z = an.zeros(2, 3)
    assert an.scatter(z, 1, an.tensor([[2], [0]]), 5.0).tolist() == [[0, 0, 5], [5, 0, 0]]
    assert z.scatter(0, an.tensor([[1, 0, 1]]), value=2.0).tolist() == [[0, 2, 0], [2, 0, 2]]
    with pytest.raises(ValueError, match="more than once"):
        an.scatter(an.zeros(3), 0, an.tensor([1, 1]), an.tensor([1.0, 2.0]))
    assert an.diag(an.tensor([1, 2])).tolist() == [[1, 0], [0, 2]]
    assert an.diag(an.tensor([[1, 2], [3, 4]]), -1).tolist() == [3]


def test_einsum_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    for eq, ops in [("bij,bjk->bik", (a, b)), ("bij,bjk", (a, b)), ("...j,...jk->...k", (a[:, 0], b)),
                    ("bij->j", (a,))]:
        ours = an.einsum(eq, *[an.tensor(o) for o in ops]).detach().numpy()
        theirs = torch.einsum(eq, *[torch.tensor(o) for o in ops]).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_tensor_methods_view_family():
    x = an.arange(24).view(2, 3, 4)
    assert x.permute(2, 0, 1).shape == (4, 2, 3) and x.transpose(0, 2).shape == (4, 3, 2)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.unflatten(2, (2, 2)).shape == (2, 3, 2, 2) and x.view_as(an.zeros(6, 4)).shape == (6, 4)
    assert x[:, :1].expand(-1, 5, -1).shape == (2, 5, 4) and x.T.shape == (4, 3, 2)
    assert x.mT.shape == (2, 4, 3) and x.unsqueeze(1).squeeze(1).shape == x.shape
    assert x.narrow(2, 1, 2).tolist() == x.detach().numpy()[:, :, 1:3].tolist()
    assert an.tensor([1, 2]).repeat(2, 2).tolist() == [[1, 2, 1, 2], [1, 2, 1, 2]]
    assert x.contiguous() is x and x.reshape(4, -1).shape == (4, 6)
    assert an.zeros(1, 3, 1).squeeze(0).shape == (3, 1)
    m = an.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert m.t().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert m.masked_fill(m > 2, 0.0).tolist() == [[1.0, 2.0], [0.0, 0.0]]
    assert m.where(m > 2, -1.0).tolist() == [[-1.0, -1.0], [3.0, 4.0]]
    assert [c.shape for c in m.chunk(2, dim=1)] == [(2, 1), (2, 1)]
    torch = _torch()
    if torch is not None:
        t = torch.arange(24).view(2, 3, 4)
        assert x.T.tolist() == t.permute(2, 1, 0).tolist()
        assert an.tensor([1, 2]).repeat(2, 3).tolist() == torch.tensor([1, 2]).repeat(2, 3).tolist()


def test_bad_arguments_name_the_problem():
    x = an.zeros(2, 3)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        an.max(x, 2)
    with pytest.raises(ValueError, match="k=4 is out of range"):
        an.topk(x, 4)
    with pytest.raises(ValueError, match="index of shape"):
        an.gather(x, 1, an.tensor([[0, 1]]).expand(3, 2))
    with pytest.raises(ValueError, match="chunks must be a positive"):
        an.chunk(x, 0)
    with pytest.raises(TypeError, match="randint"):
        an.randint(3)
