"""Sparse COO tensors against torch: construction, coalesce, to_dense, products, sums, and the
gradients to the values and to the dense operand (float64, plus finite differences)."""
import warnings

import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle.testing import gradcheck

warnings.filterwarnings("ignore", "Sparse invariant checks", UserWarning)

IDX = [[0, 1, 1, 0, 3, 1], [2, 0, 2, 2, 1, 2]]  # duplicates at (0,2) and (1,2)
VAL = [3.0, 4.0, 5.0, 1.0, -2.0, 0.5]


def _pair(requires_grad=False, dtype="float64"):
    v = np.array(VAL)
    ours = an.sparse_coo_tensor(IDX, an.tensor(v, dtype=dtype, requires_grad=requires_grad),
                                (4, 3))
    theirs = torch.sparse_coo_tensor(IDX, torch.tensor(v, dtype=getattr(torch, dtype),
                                                       requires_grad=requires_grad), (4, 3))
    return ours, theirs


def test_construction_coalesce_and_dense_as_torch():
    s, t = _pair()
    np.testing.assert_array_equal(s.to_dense().numpy(), t.to_dense().numpy())
    assert tuple(s.shape) == tuple(t.shape) and s._nnz() == t._nnz() == 6
    assert s.is_sparse and t.is_sparse and not s.is_coalesced()
    with pytest.raises(RuntimeError, match="coalesce"):
        s.indices()
    c, tc = s.coalesce(), t.coalesce()
    np.testing.assert_array_equal(c.indices().numpy(), tc.indices().numpy())
    np.testing.assert_array_equal(c.values().numpy(), tc.values().detach().numpy())
    assert c.is_coalesced() and c._nnz() == tc._nnz() == 4
    # size inferred as torch
    assert tuple(an.sparse_coo_tensor(IDX, VAL).shape) == tuple(
        torch.sparse_coo_tensor(IDX, VAL).shape) == (4, 3)
    # hybrid: a dense trailing dimension
    hv = np.arange(12.0).reshape(6, 2)
    h = an.sparse_coo_tensor(IDX, hv, (4, 3, 2))
    th = torch.sparse_coo_tensor(IDX, torch.tensor(hv), (4, 3, 2))
    np.testing.assert_array_equal(h.to_dense().numpy(), th.to_dense().numpy())


def test_to_sparse_round_trip_as_torch():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    s, t = an.tensor(x).to_sparse(), torch.tensor(x).to_sparse()
    np.testing.assert_array_equal(s.indices().numpy(), t.indices().numpy())
    np.testing.assert_array_equal(s.values().numpy(), t.values().numpy())
    np.testing.assert_array_equal(s.to_dense().numpy(), x)
    # gradients flow back through to_sparse
    a = an.tensor(x, requires_grad=True)
    (a.to_sparse().to_dense() * 3).sum().backward()
    ta = torch.tensor(x, requires_grad=True)
    (ta.to_sparse().to_dense() * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


@pytest.mark.parametrize("how", ["matmul", "sparse.mm", "spmm", "mm", "vector", "rmatmul"])
def test_products_and_gradients_as_torch(how):
    rng = np.random.default_rng(0)
    s, t = _pair(requires_grad=True)
    dshape = (3,) if how == "vector" else ((5, 4) if how == "rmatmul" else (3, 2))
    dv = rng.standard_normal(dshape)
    d, td = an.tensor(dv, requires_grad=True), torch.tensor(dv, requires_grad=True)
    if how in ("matmul", "vector"):
        out, tout = s @ d, t @ td
    elif how == "sparse.mm":
        out, tout = an.sparse.mm(s, d), torch.sparse.mm(t, td)
    elif how == "spmm":
        out, tout = an.spmm(s, d), torch.spmm(t, td)
    elif how == "mm":
        out, tout = an.mm(s, d), torch.mm(t, td)
    else:  # dense @ sparse: an.matmul (a Tensor's @ takes dense operands only)
        out, tout = an.matmul(d, s), td @ t
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    w = rng.standard_normal(tuple(out.shape))
    (out * an.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(d.grad.numpy(), td.grad.numpy(), rtol=1e-12)
    # the values' gradient: compare with torch's through a leaf values tensor
    tv = torch.tensor(np.array(VAL), requires_grad=True)
    tt = torch.sparse_coo_tensor(IDX, tv, (4, 3))
    to2 = (td.detach() @ tt) if how == "rmatmul" else torch.sparse.mm(
        tt, td.detach() if how != "vector" else td.detach()[:, None])
    to2 = to2[:, 0] if how == "vector" else to2
    (to2 * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(s._values.grad.numpy(), tv.grad.numpy(), rtol=1e-12)


def test_sparse_plus_dense_and_sparse_as_torch():
    s, t = _pair(requires_grad=True)
    dv = np.ones((4, 3))
    d, td = an.tensor(dv, requires_grad=True), torch.tensor(dv, requires_grad=True)
    # torch takes dense + sparse and refuses sparse + dense; here the sparse operand leads
    # (a Tensor's + takes dense operands only), and an.add is not offered either way
    out, tout = s + d, td + t
    assert not isinstance(out, an.sparse.SparseTensor) and not tout.is_sparse
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    out.sum().backward()
    np.testing.assert_array_equal(d.grad.numpy(), np.ones((4, 3)))
    np.testing.assert_array_equal(s._values.grad.numpy(), np.ones(6))
    s2, t2 = _pair()
    np.testing.assert_array_equal((s2 + s2).to_dense().numpy(), (t2 + t2).to_dense().numpy())
    np.testing.assert_array_equal((s2 * 2.5).to_dense().numpy(),
                                  (t2 * 2.5).to_dense().numpy())
    np.testing.assert_array_equal(s2.t().to_dense().numpy(), t2.t().to_dense().numpy())
    assert an.sparse.sum(s2).item() == torch.sparse.sum(t2).item()


def test_gcn_layer_gradcheck():
    """A graph convolution (adj @ (x @ W)) in float64 against finite differences, in x, W and
    the adjacency values."""
    rng = np.random.default_rng(1)
    x, w, vals = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), np.array(VAL)

    def f(x, w, vals):
        return an.sparse.mm(an.sparse_coo_tensor(IDX, vals, (4, 4)), x @ w)
    gradcheck(f, x, w, vals)  # raises on a mismatch


def test_legacy_and_errors():
    s = an.sparse.FloatTensor(an.tensor(IDX), an.tensor(VAL), an.Size([4, 3]))
    t = torch.sparse.FloatTensor(torch.tensor(IDX), torch.tensor(VAL), torch.Size([4, 3]))
    assert str(s.dtype) == "float32"
    np.testing.assert_array_equal(s.to_dense().numpy(), t.to_dense().numpy())
    with pytest.raises(ValueError, match="out of range"):
        an.sparse_coo_tensor(IDX, VAL, (2, 3))
    with pytest.raises(ValueError, match="nnz"):
        an.sparse_coo_tensor(IDX, VAL[:2], (4, 3))
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        s @ an.ones(4, 2)
