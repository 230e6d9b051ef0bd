"""Every differentiable op: forward against NumPy, gradient against central differences."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle.testing import gradcheck
from op_table import INDEX_OPS, OPS, make_inputs
from op_table_layers import LAYER_OPS

TABLE = OPS + INDEX_OPS + LAYER_OPS


@pytest.mark.parametrize("name,fn,ref,shapes,tr", TABLE, ids=[r[0] for r in TABLE])
def test_forward_matches_numpy(name, fn, ref, shapes, tr, device):
    xs = make_inputs(shapes, tr)
    out = fn(*[an.Tensor(x, device=device) for x in xs])
    np.testing.assert_allclose(out.numpy(), ref(*xs), rtol=1e-10, atol=1e-12)
    assert out.dtype == an.Tensor(xs[0], device=device).dtype


@pytest.mark.parametrize("name,fn,ref,shapes,tr", TABLE, ids=[r[0] for r in TABLE])
def test_gradient_float64(name, fn, ref, shapes, tr, device):
    xs = make_inputs(shapes, tr, seed=1)
    gradcheck(fn, *[device.asarray(x) for x in xs], device=device)


@pytest.mark.parametrize("name,fn,ref,shapes,tr", OPS[:30], ids=[r[0] for r in OPS[:30]])
def test_float32_stays_float32(name, fn, ref, shapes, tr):
    xs = make_inputs(shapes, tr)
    ts = [an.Tensor(x.astype(np.float32), requires_grad=True) for x in xs]
    out = fn(*ts)
    assert out.dtype == np.float32
    out.sum().backward()
    for t in ts:
        assert t.grad.dtype == np.float32


def test_comparisons_are_bool_without_grad():
    a = an.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r, ref in [(a > 2, [False, False, True]), (a >= 2, [False, True, True]),
                   (a < 2, [True, False, False]), (a <= 2, [True, True, False]),
                   (a == 2, [False, True, False]), (a != 2, [True, False, True])]:
        assert r.dtype == np.bool_ and not r.requires_grad
        assert r.numpy().tolist() == ref


def test_split_pieces_of_size_n_and_gradients():
    # PyTorch's split(x, 3) gives pieces of 3 (not 3 pieces); the last piece may be smaller
    x = an.Tensor(np.arange(14.0).reshape(2, 7), requires_grad=True)
    parts = an.split(x, 3, dim=1)
    assert isinstance(parts, tuple) and [p.shape for p in parts] == [(2, 3), (2, 3), (2, 1)]
    (parts[0].sum() * 1 + parts[2].sum() * 2).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1, 1, 0, 0, 0, 2]] * 2)
    assert [p.shape for p in x.split([2, 5], 1)] == [(2, 2), (2, 5)]
    assert [p.shape for p in an.split(x, 3, axis=1)] == [(2, 3), (2, 3), (2, 1)]
    with pytest.raises(ValueError, match="add up to 7"):
        an.split(x, [2, 2], dim=1)


def test_getitem_repeated_index_accumulates():
    x = an.Tensor(np.ones((3, 2)), requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [0, 0], [1, 1]])


def test_max_ties_share_gradient():
    # full reductions (max(x), amax) share between ties; max(x, dim) routes to its index
    x = an.Tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5]])
    x.grad = None
    an.amax(x, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5]])
    x.grad = None
    x.max(dim=1).values.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 0]])


def test_logsumexp_is_stable_for_large_inputs():
    x = an.Tensor([[1000.0, 1000.0], [-1000.0, -1000.0]], dtype="float64")
    np.testing.assert_allclose(an.logsumexp(x, axis=1).numpy(),
                               [1000 + np.log(2), -1000 + np.log(2)])


def test_sigmoid_no_overflow():
    x = an.Tensor([-1000.0, 0.0, 1000.0])
    with np.errstate(all="raise"):
        np.testing.assert_allclose(an.sigmoid(x).numpy(), [0, 0.5, 1])
