"""GroupNorm's fused kernels (``kernels.group_norm_forward`` / ``group_norm_backward``): float32
within PyTorch's own float32 error from a float64 reference on shapes that take each path of
the CPU kernels (NumPy on small arrays, oneDNN's binary primitive on large ones where it
loads), including a group whose mean is much larger than its std; the portable kernels agree;
``no_grad`` forwards keep nothing. Also the oneDNN binary primitive itself, and the gradient of
a 2-D matmul operand against a batched one (one product over the batch)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import arrayneedle as an
from arrayneedle import kernels
from arrayneedle.kernels import onednn, portable

ON = kernels.cpu_kernels()["kernels"] == "onednn"

# (shape, groups, affine, mean, std): (32, 32, 16, 16) and (12, 32, 32, 32) are above the size
# where the CPU kernels hand the elementwise passes to oneDNN; (16, 128, 4, 4) and (8, 64, 8, 8)
# have the small planes whose input gradient takes the per-group form on oneDNN
CASES = [((2, 6, 5, 3), 3, True, 0.0, 1.0),
         ((16, 128, 4, 4), 8, True, 0.0, 1.0),
         ((8, 64, 8, 8), 8, True, 100.0, 0.01),
         ((16, 64, 4, 4), 8, False, 0.0, 1.0),
         ((3, 8, 7), 2, False, 0.0, 1.0),
         ((32, 32, 16, 16), 8, True, 0.0, 1.0),
         ((12, 32, 32, 32), 8, False, 0.0, 1.0),
         ((8, 16, 32, 32), 4, True, 100.0, 0.01),
         ((2, 16, 4, 4), 4, True, 100.0, 0.01)]


def _rel(a, ref):
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref)) / np.max(np.abs(ref)))


def _torch(x, w, b, g, groups, dtype):
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    tw, tb = ((torch.tensor(a.astype(dtype), requires_grad=True) for a in (w, b)) if w is not None
              else (None, None))
    y = F.group_norm(tx, groups, tw, tb)
    y.backward(torch.tensor(g.astype(dtype)))
    out = [y.detach().numpy(), tx.grad.numpy()]
    return out + ([tw.grad.numpy(), tb.grad.numpy()] if w is not None else [])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-g{c[1]}-m{c[3]}")
def test_group_norm_float32_within_torch_error(case):
    shape, groups, affine, mean, std = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * std + mean
    w, b = (rng.standard_normal(shape[1]), rng.standard_normal(shape[1])) if affine else (None,
                                                                                          None)
    g = np.cos(np.arange(x.size)).reshape(shape)
    ref, tor = _torch(x, w, b, g, groups, np.float64), _torch(x, w, b, g, groups, np.float32)
    ax = an.tensor(x.astype(np.float32), requires_grad=True)
    params = [an.tensor(a.astype(np.float32), requires_grad=True) for a in (w, b)] if affine \
        else []
    y = an.group_norm(ax, groups, *params)
    y.backward(an.tensor(g.astype(np.float32)))
    ours = [y.detach().numpy(), ax.grad.numpy()] + [p.grad.numpy() for p in params]
    for name, a, t, r in zip(("y", "gx", "gw", "gb"), ours, tor, ref):
        assert a.dtype == np.float32, name
        assert _rel(a, r) <= 2 * _rel(t, r) + 2e-6, (name, _rel(a, r), _rel(t, r))
    # the portable kernels (CuPy's, array-API libraries') meet the same bound
    xf = x.astype(np.float32)
    wf, bf = (w.astype(np.float32), b.astype(np.float32)) if affine else (None, None)
    yp, sp = portable.group_norm_forward(xf, groups, wf, bf, 1e-5, True)
    gp = portable.group_norm_backward(g.astype(np.float32), sp, wf, (True, True, True))
    for name, a, t, r in zip(("y", "gx", "gw", "gb"), (yp, np.reshape(gp[0], shape)) + gp[1:],
                             tor, ref):
        assert _rel(a, r) <= 2 * _rel(t, r) + 2e-6, ("portable", name, _rel(a, r), _rel(t, r))
    # under no_grad nothing is kept for backward, and the output is the same
    with an.no_grad():
        y2 = an.group_norm(an.tensor(xf), groups, *(an.tensor(a) for a in (wf, bf) if affine))
    np.testing.assert_array_equal(y2.numpy(), ours[0])
    _, saved = kernels.group_norm_forward(xf, groups, wf, bf, 1e-5, keep=False)
    assert saved is None


def test_group_norm_kernel_rejects_a_channel_count_not_divisible_by_groups():
    with pytest.raises(ValueError, match="divisible by groups=4"):
        kernels.group_norm_forward(np.zeros((2, 6, 3), np.float32), 4)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here (its NumPy fallback is tested "
                                   "through group_norm above)")
def test_onednn_binary_broadcasts_and_fuses_post_ops():
    rt = onednn.runtime()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 6, 10)).astype(np.float32)
    b = rng.standard_normal((4, 6, 1)).astype(np.float32)
    c = rng.standard_normal((1, 6, 1)).astype(np.float32)
    out = np.empty_like(a)
    np.testing.assert_allclose(onednn.binary(rt, "sub", a, b, out), a - b, rtol=1e-6)
    np.testing.assert_allclose(onednn.binary(rt, "mul", a, b, out, [("add", c)]), a * b + c,
                               rtol=1e-5, atol=1e-6)
    acc = np.full_like(a, 2.0)
    np.testing.assert_allclose(onednn.binary(rt, "mul", a, b, acc, [("sum", None)]),
                               a * b + 2.0, rtol=1e-5, atol=1e-6)
    inplace = a.copy()
    onednn.binary(rt, "add", inplace, b, inplace)
    np.testing.assert_allclose(inplace, a + b, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_gradient_of_a_weight_applied_to_a_batch(dtype):
    """W (O, C) @ x (B, C, N) and x (B, N, C) @ W (C, O): the 2-D operand's gradient sums
    over the batch (one product over batch and rows), as torch's."""
    rng = np.random.default_rng(1)
    w1, x1 = rng.standard_normal((5, 4)), rng.standard_normal((3, 4, 6))
    x2, w2 = rng.standard_normal((2, 3, 7, 4)), rng.standard_normal((4, 5))
    for left, right in ((w1, x1), (x2, w2)):
        ta, tb = (torch.tensor(v.astype(dtype), requires_grad=True) for v in (left, right))
        g = np.sin(np.arange(np.prod(np.broadcast_shapes(left.shape[:-2], right.shape[:-2]))
                             * left.shape[-2] * right.shape[-1]))
        out = torch.matmul(ta, tb)
        out.backward(torch.tensor(g.reshape(out.shape).astype(dtype)))
        a, b = (an.tensor(v.astype(dtype), requires_grad=True) for v in (left, right))
        an.matmul(a, b).backward(an.tensor(g.reshape(out.shape).astype(dtype)))
        for ours, ref in ((a, ta), (b, tb)):
            assert ours.grad.dtype == dtype and ours.grad.shape == tuple(ref.shape)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here (the NumPy kernels are tested "
                                   "through group_norm above)")
def test_group_norm_runs_on_onednn_layer_norm_and_agrees_with_the_numpy_kernels(monkeypatch):
    """Float32 arrays from ``LAYER_NORM_MIN_SIZE`` elements are normalised by oneDNN's layer
    normalisation of the (N * G, C/G * M) view; the NumPy kernels give the same results, and a
    backward whose process lost oneDNN (a forked child) recomputes with NumPy."""
    from arrayneedle.kernels import cpu_norm
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((4, 16, 12, 12)) * 3 + 5).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    assert x.size >= cpu_norm.LAYER_NORM_MIN_SIZE
    rt = onednn.runtime()
    rt.clear_cache()
    y, saved = kernels.group_norm_forward(x, 4, w, b, 1e-5, keep=True)
    grads = kernels.group_norm_backward(g, saved, w)
    assert saved[0] == "layer_norm"
    assert {"ln_fwd", "chain"} <= {k[0] for k in rt.cache}
    monkeypatch.setattr(cpu_norm, "LAYER_NORM_MIN_SIZE", 1 << 40)
    y_np, saved_np = kernels.group_norm_forward(x, 4, w, b, 1e-5, keep=True)
    assert saved_np[0] == "centered"
    np.testing.assert_allclose(y, y_np, rtol=1e-5, atol=1e-5)
    for a, r in zip(grads, kernels.group_norm_backward(g, saved_np, w)):
        np.testing.assert_allclose(np.reshape(a, np.shape(r)), r, rtol=1e-4, atol=1e-5)
    monkeypatch.setattr(onednn, "runtime", lambda: None)
    for a, r in zip(kernels.group_norm_backward(g, saved, w), grads):
        np.testing.assert_allclose(np.reshape(a, np.shape(r)), r, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here (the NumPy kernels are tested "
                                   "through group_norm above)")
@pytest.mark.parametrize("shape", [(4, 16, 12, 12), (16, 16, 4, 4)])
def test_group_norm_backward_where_a_group_has_zero_weights(shape):
    """A group whose weights are all 0 has no gradient through its statistics (beta = 0): the
    one-pass input gradient of the oneDNN path falls back to separate passes (per-channel
    and per-group forms: large and small planes) and agrees with the NumPy kernels."""
    from arrayneedle.kernels import cpu_norm
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    w, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    w[4:8] = 0.0
    assert x.size >= cpu_norm.LAYER_NORM_MIN_SIZE
    _, saved = kernels.group_norm_forward(x, 4, w, b, 1e-5, keep=True)
    assert saved[0] == "layer_norm"
    d, inv = cpu_norm._numpy_forward(x, 4, None, None, 1e-5, True)[1:]
    ref = cpu_norm._numpy_backward(g, d, inv, w, (True, True, True))
    for a, r in zip(kernels.group_norm_backward(g, saved, w), ref):
        np.testing.assert_allclose(np.reshape(a, np.shape(r)), r, rtol=1e-4, atol=1e-5)
    assert not np.any(np.reshape(ref[0], x.shape)[:, 4:8])


@pytest.mark.parametrize("shape, groups, affine", [((12, 32, 32, 32), 8, True),
                                                    ((4, 16, 12, 12), 4, False),
                                                    ((2, 6, 5, 3), 3, True)])
def test_group_norm_silu_is_silu_of_group_norm(shape, groups, affine):
    """The fused op: the values and gradients of ``silu(group_norm(...))`` (PyTorch's, within
    its float32 error from float64), and under ``no_grad`` (SiLU fused into the last pass on
    oneDNN) the values of the two ops on our kernels."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 2 + 0.5
    w, b = (rng.standard_normal(shape[1]), rng.standard_normal(shape[1])) if affine else (None,
                                                                                          None)
    g = np.cos(np.arange(x.size)).reshape(shape)
    refs = []
    for dtype in (np.float64, np.float32):
        tx = torch.tensor(x.astype(dtype), requires_grad=True)
        tp = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (w, b)] if affine else []
        ty = F.silu(F.group_norm(tx, groups, *tp))
        ty.backward(torch.tensor(g.astype(dtype)))
        refs.append([ty.detach().numpy(), tx.grad.numpy()] + [p.grad.numpy() for p in tp])
    ax = an.tensor(x.astype(np.float32), requires_grad=True)
    params = [an.tensor(a.astype(np.float32), requires_grad=True) for a in (w, b)] if affine \
        else []
    y = an.ops.group_norm_silu(ax, groups, *params)
    y.backward(an.tensor(g.astype(np.float32)))
    ours = [y.detach().numpy(), ax.grad.numpy()] + [p.grad.numpy() for p in params]
    for name, a, t, r in zip(("y", "gx", "gw", "gb"), ours, refs[1], refs[0]):
        assert a.dtype == np.float32, name
        assert _rel(a, r) <= 2 * _rel(t, r) + 2e-6, (name, _rel(a, r), _rel(t, r))
    with an.no_grad():
        xs, ps = an.tensor(x.astype(np.float32)), [p.detach() for p in params]
        fused = an.ops.group_norm_silu(xs, groups, *ps).numpy()
        two = an.silu(an.group_norm(xs, groups, *ps)).numpy()
    np.testing.assert_allclose(fused, two, rtol=1e-5, atol=1e-6)
    assert _rel(fused, refs[0][0]) <= 2 * _rel(refs[1][0], refs[0][0]) + 2e-6
