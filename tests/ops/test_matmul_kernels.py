"""The matrix-product kernels (kernels.matmul, kernels.matmul_batch_sum): float32 NumPy products
go through oneDNN's matmul primitive where it loads and the product is large enough
(kernels/cpu_matmul.py), the rest through NumPy. Each is checked against NumPy's float64 product
and PyTorch (float32 within 2x PyTorch's own float32 error from a float64 reference) on 2-D,
batched and broadcast operands, transposed views, strided slices, zero-size axes and K=1, on both
paths ("onednn": every size sent to oneDNN; "dispatch": the size threshold as shipped), and
through the MatMul op's gradients.

With ARRAYNEEDLE_KERNELS=numpy (or no oneDNN) the same tests check the NumPy path."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle import kernels
from arrayneedle.kernels import cpu_matmul, onednn

ON = kernels.cpu_kernels()["kernels"] == "onednn"


def _rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _views(rng):
    """name -> (a, b): operands of every layout the kernel takes."""
    qkv = _rand(rng, (2, 3, 3, 4, 6))  # (B, 3, heads, d, N): slices as the attention's q, k, v
    big = _rand(rng, (9, 14))
    return {
        "2-D": (_rand(rng, (5, 7)), _rand(rng, (7, 3))),
        "batched": (_rand(rng, (4, 5, 7)), _rand(rng, (4, 7, 3))),
        "2-D @ 3-D": (_rand(rng, (6, 7)), _rand(rng, (4, 7, 3))),
        "3-D @ 2-D": (_rand(rng, (4, 5, 7)), _rand(rng, (7, 3))),
        "4-D with 1s": (_rand(rng, (2, 1, 5, 7)), _rand(rng, (1, 3, 7, 4))),
        "4-D @ 2-D": (_rand(rng, (2, 3, 5, 7)), _rand(rng, (7, 4))),
        "transposed": (_rand(rng, (4, 7, 5)).mT, _rand(rng, (3, 7)).T),
        "heads q^T @ k": (qkv[:, 0].mT, qkv[:, 1]),
        "heads v @ attn^T": (qkv[:, 2], _rand(rng, (2, 3, 6, 6)).mT),
        "column slices": (big[:, ::2], big[:7, 1:5]),
        "reversed": (big[::-1, :5], big[2:7, ::-1]),
        "broadcast view": (np.broadcast_to(_rand(rng, (5, 7)), (4, 5, 7)), _rand(rng, (4, 7, 3))),
        "K=1": (_rand(rng, (3, 5, 1)), _rand(rng, (3, 1, 4))),
        "M=1, N=1": (_rand(rng, (3, 1, 7)), _rand(rng, (3, 7, 1))),
        "zero batch": (_rand(rng, (0, 5, 7)), _rand(rng, (0, 7, 3))),
        "zero M": (_rand(rng, (2, 0, 7)), _rand(rng, (2, 7, 3))),
        "zero K": (_rand(rng, (2, 5, 0)), _rand(rng, (2, 0, 3))),
    }


CASES = list(_views(np.random.default_rng(0)))


@pytest.fixture(params=["onednn", "dispatch"])
def path(request, monkeypatch):
    """"onednn": every size through oneDNN (where it loads); "dispatch": the threshold. The
    list of oneDNN products made."""
    calls = []
    if request.param == "onednn":
        monkeypatch.setattr(cpu_matmul, "MIN_WORK", 0)
        real = onednn.matmul

        def spy(rt, a, b, *strides):
            calls.append((a.shape, b.shape))
            return real(rt, a, b, *strides)
        monkeypatch.setattr(onednn, "matmul", spy)
    return calls


def _err(x, a, b):
    """Largest error of ``x`` from the float64 product, relative to ``|a| @ |b|`` (the
    scale of float32 rounding in a sum of products)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref = np.matmul(a64, b64)
    scale = np.matmul(np.abs(a64), np.abs(b64)) + 1e-30
    return float(np.max(np.abs(x - ref) / scale, initial=0.0))


def _torch32(a, b):
    return torch.matmul(torch.tensor(a.copy()), torch.tensor(b.copy())).numpy()


@pytest.mark.parametrize("case", CASES)
def test_matmul_float32_within_torchs_error_from_float64(case, path):
    a, b = _views(np.random.default_rng(1))[case]
    out = kernels.matmul(a, b)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert out.shape == ref.shape and out.dtype == np.float32 and out.flags.c_contiguous
    assert _err(out, a, b) <= 2 * _err(_torch32(a, b), a, b) + 1e-6
    assert len(path) == (ON and a.size > 0 and b.size > 0 and cpu_matmul.MIN_WORK == 0)


@pytest.mark.parametrize("case", CASES)
def test_matmul_float64_stays_on_numpy_and_matches_it(case, path, monkeypatch):
    monkeypatch.setattr(onednn, "matmul", _refuse)
    a, b = (x.astype(np.float64) for x in _views(np.random.default_rng(2))[case])
    out = kernels.matmul(a, b)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-12, atol=1e-12)


def _refuse(*args):
    raise AssertionError("oneDNN was called")


@pytest.mark.skipif(not ON, reason="oneDNN does not load here: NumPy computed")
def test_float32_products_go_to_onednn_without_copying_views(monkeypatch):
    monkeypatch.setattr(cpu_matmul, "MIN_WORK", 0)
    calls = []
    real = onednn.matmul

    def spy(rt, a, b, *strides):
        calls.append((a, b))
        return real(rt, a, b, *strides)
    monkeypatch.setattr(onednn, "matmul", spy)
    qkv = _rand(np.random.default_rng(3), (2, 3, 3, 4, 6))
    q, k = qkv[:, 0], qkv[:, 1]
    out = kernels.matmul(q.mT, k)
    assert len(calls) == 1
    assert np.shares_memory(calls[0][0], qkv) and np.shares_memory(calls[0][1], qkv)
    assert _err(out, q.mT, k) <= 2 * _err(_torch32(q.mT, k), q.mT, k) + 1e-6


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
def test_onednn_errors_fall_back_to_numpy(monkeypatch):
    monkeypatch.setattr(cpu_matmul, "MIN_WORK", 0)

    def failing(*args):
        raise onednn.DnnlError("refused")
    monkeypatch.setattr(onednn, "matmul", failing)
    a, b = _views(np.random.default_rng(4))["heads q^T @ k"]
    np.testing.assert_allclose(kernels.matmul(a, b), np.matmul(a, b), rtol=1e-5, atol=1e-5)
    a, b = a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])
    np.testing.assert_allclose(kernels.matmul_batch_sum(a, b), np.matmul(a, b).sum(0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
def test_a_refused_primitive_is_not_cached_and_leaves_nothing_behind():
    rt = onednn.runtime()
    a, b = _rand(np.random.default_rng(9), (5, 7)), _rand(np.random.default_rng(9), (2, 7, 3))
    before = dict(rt.cache)
    with pytest.raises(onednn.DnnlError, match="matmul"):
        onednn.matmul(rt, a, b)  # ranks differ: the binding's caller must pad them
    assert dict(rt.cache) == before


def test_element_strides_of_views():
    x = np.zeros((4, 6, 8), np.float32)
    assert onednn.element_strides(x) == (48, 8, 1)
    assert onednn.element_strides(x.mT) == (48, 1, 8)
    assert onednn.element_strides(x[:, ::2, 1:5]) == (48, 16, 1)
    assert onednn.element_strides(x[:1, :, :1]) == (48, 8, 1)  # extent 1: C-contiguous stride
    assert onednn.element_strides(x[:, ::-1]) is None
    assert onednn.element_strides(np.broadcast_to(x[:1], (4, 6, 8))) is None


def _batch_sum_views(rng):
    g, y = _rand(rng, (4, 9, 6)), _rand(rng, (4, 5, 6))
    x, w = _rand(rng, (2, 3, 6, 5)), _rand(rng, (2, 3, 6, 9))
    return {
        "g @ y^T (a weight's gradient, left)": (g, y.mT),
        "x^T @ g (right)": (x.mT, w),
        "plain": (_rand(rng, (4, 9, 6)), _rand(rng, (4, 6, 5))),
        "both transposed": (_rand(rng, (4, 6, 9)).mT, _rand(rng, (4, 5, 6)).mT),
        "slices": (_rand(rng, (4, 9, 12))[:, :, ::2], _rand(rng, (5, 6, 5))[1:, :, :]),
        "K=1": (_rand(rng, (4, 9, 1)), _rand(rng, (4, 1, 5))),
        "one matrix": (_rand(rng, (1, 9, 6)), _rand(rng, (1, 6, 5))),
        "zero batch": (_rand(rng, (0, 9, 6)), _rand(rng, (0, 6, 5))),
    }


BATCH_SUM_CASES = list(_batch_sum_views(np.random.default_rng(0)))


@pytest.mark.parametrize("case", BATCH_SUM_CASES)
def test_matmul_batch_sum_within_torchs_error(case, path):
    a, b = _batch_sum_views(np.random.default_rng(5))[case]
    out = kernels.matmul_batch_sum(a, b)
    a2 = np.moveaxis(a, -2, 0).reshape(a.shape[-2], -1)       # (M, B*K)
    b2 = np.moveaxis(b, -1, 0).reshape(b.shape[-1], -1).T     # (B*K, N)
    tor = torch.matmul(torch.tensor(a), torch.tensor(b)).sum(tuple(range(a.ndim - 2))).numpy()
    assert out.shape == (a.shape[-2], b.shape[-1]) and out.dtype == np.float32
    assert out.flags.c_contiguous
    assert _err(out, a2, b2) <= 2 * _err(tor, a2, b2) + 1e-6
    assert len(path) == (ON and a.size > 0 and b.size > 0 and cpu_matmul.MIN_WORK == 0)


@pytest.mark.parametrize("shape", [(2, 384, 128, 16), (32, 6, 5, 4), (1, 6, 5, 4),
                                   (2, 3, 12, 8, 5)])
def test_weight_matmul_grads_within_torchs_error(shape, path):
    """``kernels.weight_matmul_grads``: the gradients of ``w @ x`` (a weight applied to every
    matrix of a batch; on oneDNN both from one folded copy of ``g``) against PyTorch's
    autograd of the same product, within 2x its float32 error from float64, any wanted
    subset; the MatMul op takes this path on raw arrays."""
    *batch, M, K, N = shape
    rng = np.random.default_rng(6)
    w, x, g = _rand(rng, (M, K)), _rand(rng, (*batch, K, N)), _rand(rng, (*batch, M, N))
    refs = {}
    for dt in (torch.float64, torch.float32):
        tw, tx = (torch.tensor(a, dtype=dt, requires_grad=True) for a in (w, x))
        torch.matmul(tw, tx).backward(torch.tensor(g, dtype=dt))
        refs[dt] = (tw.grad.numpy(), tx.grad.numpy())
    for need in [(True, True), (True, False), (False, True)]:
        got = kernels.weight_matmul_grads(w, x, g, *need)
        for a, r64, r32, want in zip(got, refs[torch.float64], refs[torch.float32], need):
            if not want:
                assert a is None
                continue
            assert a.shape == r64.shape and a.dtype == np.float32 and a.flags.c_contiguous
            scale = np.abs(r64).max()
            assert np.abs(a - r64).max() <= 2 * np.abs(r32 - r64).max() + 1e-6 * scale
    aw, ax = an.tensor(w, requires_grad=True), an.tensor(x, requires_grad=True)
    an.matmul(aw, ax).backward(an.tensor(g))
    np.testing.assert_allclose(aw.grad.numpy(), refs[torch.float64][0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ax.grad.numpy(), refs[torch.float64][1], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="weight_matmul_grads"):
        kernels.weight_matmul_grads(w, x, g[..., :1, :])


def test_kernel_errors_name_the_shapes():
    a, b = np.ones((2, 3, 4), np.float32), np.ones((2, 5, 6), np.float32)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) @ \(2, 5, 6\)"):
        kernels.matmul(a, b)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        kernels.matmul(np.ones(3, np.float32), b)
    with pytest.raises(ValueError, match="one batch shape"):
        kernels.matmul_batch_sum(a, np.ones((3, 4, 6), np.float32))
    with pytest.raises(ValueError):  # batch axes that do not broadcast: NumPy's error
        kernels.matmul(np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32))


def test_portable_path_matches_numpy():
    xp = pytest.importorskip("array_api_strict")
    a, b = _views(np.random.default_rng(6))["4-D with 1s"]
    out = kernels.matmul(xp.asarray(a), xp.asarray(b))
    np.testing.assert_allclose(np.asarray(out), np.matmul(a, b), rtol=1e-5, atol=1e-5)
    a, b = _batch_sum_views(np.random.default_rng(6))["x^T @ g (right)"]
    out = kernels.matmul_batch_sum(xp.asarray(np.ascontiguousarray(a)), xp.asarray(b))
    np.testing.assert_allclose(np.asarray(out), np.matmul(a, b).sum((0, 1)), rtol=1e-5,
                               atol=1e-5)


# the attention's products and a Linear layer: (a shape, b shape, a transposed view)
OP_CASES = {
    "weight @ batch": ((12, 8), (3, 8, 10)),
    "heads": ((2, 3, 10, 4), (2, 3, 4, 10)),
    "broadcast 4-D": ((2, 1, 10, 4), (1, 3, 4, 6)),
    "batch @ weight^T": ((3, 10, 8), (8, 12)),
}


@pytest.mark.parametrize("case", OP_CASES)
def test_matmul_op_float32_gradients_match_torch(case, path):
    rng = np.random.default_rng(7)
    sa, sb = OP_CASES[case]
    a_np, b_np = _rand(rng, sa), _rand(rng, sb)
    g_np = _rand(rng, np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1]))
    a, b = an.tensor(a_np, requires_grad=True), an.tensor(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    out, tout = an.matmul(a, b), torch.matmul(ta, tb)
    # without a graph (the raw-array kernels), then with one (MatMul of MatMuls)
    ga, gb = an.autograd.grad(out, (a, b), an.tensor(g_np))
    tga, tgb = torch.autograd.grad(tout, (ta, tb), torch.tensor(g_np))
    for ours, theirs in ((out.detach(), tout.detach()), (ga, tga), (gb, tgb)):
        assert ours.dtype == an.float32
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-4)
    ga2, gb2 = an.autograd.grad(an.matmul(a, b), (a, b), an.tensor(g_np), create_graph=True)
    np.testing.assert_allclose(ga2.detach().numpy(), ga.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gb2.detach().numpy(), gb.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", OP_CASES)
def test_matmul_op_gradcheck_float64(case):
    rng = np.random.default_rng(8)
    sa, sb = OP_CASES[case]
    a = an.tensor(rng.standard_normal(sa), requires_grad=True)
    b = an.tensor(rng.standard_normal(sb), requires_grad=True)
    assert an.autograd.gradcheck(an.matmul, (a, b))
