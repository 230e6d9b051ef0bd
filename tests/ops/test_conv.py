"""conv2d, conv_transpose2d, max_pool2d, dilate and undilate: gradients, adjointness,
argument errors, the nn layers, array-api-strict arrays and (where installed) PyTorch."""
import math

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn, ops
from arrayneedle.testing import gradcheck

try:
    import array_api_strict as xps
except ImportError:  # pragma: no cover
    xps = None


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# name, function of Tensors, input shapes. Together the rows reach every code path: the
# im2col/col2im convolution, its stride-1 'full convolution' input gradient (O < 2C), the
# few-output-channel adjoint form (2*O <= C), the 1x1 batched-matmul path, and both
# transposed-convolution forwards.
GRAD_CASES = [
    ("conv2d_same", lambda x, w, b: ops.conv2d(x, w, b, padding=1),
     [(2, 3, 5, 4), (2, 3, 3, 3), (2,)]),
    ("conv2d_col2im", lambda x, w, b: ops.conv2d(x, w, b, padding=(1, 0)),
     [(2, 2, 5, 4), (5, 2, 3, 2), (5,)]),
    ("conv2d_strided", lambda x, w: ops.conv2d(x, w, stride=(2, 3), padding=(1, 2)),
     [(2, 2, 6, 7), (3, 2, 3, 3)]),
    ("conv2d_dilated", lambda x, w: ops.conv2d(x, w, dilation=(2, 1), padding=1),
     [(1, 2, 7, 5), (2, 2, 3, 2)]),
    ("conv2d_1x1", lambda x, w, b: ops.conv2d(x, w, b), [(2, 3, 3, 4), (4, 3, 1, 1), (4,)]),
    ("conv2d_few_outputs", lambda x, w, b: ops.conv2d(x, w, b, padding=1),
     [(2, 5, 5, 4), (2, 5, 3, 3), (2,)]),
    ("conv2d_few_outputs_dilated", lambda x, w: ops.conv2d(x, w, padding=(1, 0), dilation=(2, 1)),
     [(1, 4, 7, 5), (1, 4, 3, 2)]),
    ("conv_transpose2d_stride1", lambda x, w, b: ops.conv_transpose2d(x, w, b, padding=1),
     [(2, 2, 4, 3), (2, 3, 3, 3), (3,)]),
    ("conv_transpose2d_k4s2p1", lambda x, w, b: ops.conv_transpose2d(x, w, b, 2, 1),
     [(1, 2, 3, 3), (2, 2, 4, 4), (2,)]),
    ("conv_transpose2d_outpad", lambda x, w: ops.conv_transpose2d(
        x, w, stride=(3, 2), padding=(1, 0), output_padding=(2, 1)),
     [(2, 2, 3, 2), (2, 1, 3, 2)]),
    ("conv_transpose2d_dilated", lambda x, w: ops.conv_transpose2d(x, w, dilation=2),
     [(1, 3, 3, 3), (3, 1, 2, 3)]),
    ("max_pool2d", lambda x: ops.max_pool2d(x, 2), [(2, 2, 4, 5)]),
    ("max_pool2d_overlap_pad", lambda x: ops.max_pool2d(x, 3, stride=(2, 1), padding=1),
     [(2, 2, 5, 4)]),
    ("dilate", lambda x: ops.dilate(x, (1, 2), 2), [(2, 3, 2)]),
    ("undilate", lambda x: ops.undilate(x, (0, 2), 1), [(5, 2, 4)]),
]


@pytest.mark.parametrize("name,fn,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_float64(name, fn, shapes):
    arrays = [_rand(*s, seed=i) for i, s in enumerate(shapes)]
    gradcheck(fn, *arrays)


@pytest.mark.parametrize("k,s,p,d,shape", [
    (3, 1, 1, 1, (7, 6)), ((3, 2), (2, 1), (1, 0), 1, (7, 6)), (4, 2, 1, 1, (8, 8)),
    (3, 3, 2, 1, (10, 7)), (2, (2, 3), (0, 1), (2, 1), (9, 8)), (5, 2, 2, 1, (9, 9)),
])
def test_conv_transpose_is_the_adjoint_of_conv(k, s, p, d, shape):
    x = _rand(2, 3, *shape, seed=1)
    kh, kw = (k, k) if isinstance(k, int) else k
    w = _rand(4, 3, kh, kw, seed=2)
    y = ops.conv2d(x, w, stride=s, padding=p, dilation=d)
    yv = _rand(*y.shape, seed=3)
    st, pd, dl = (np.broadcast_to(v, 2) for v in (s, p, d))
    op = tuple(int(v) for v in (np.array(shape) + 2 * pd - dl * (np.array((kh, kw)) - 1) - 1)
               % st)
    xt = ops.conv_transpose2d(yv, w, stride=s, padding=p, output_padding=op, dilation=d)
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.sum(y.numpy() * yv), np.sum(x * xt.numpy()), rtol=1e-10)


def naive_conv2d(x, w, b, stride, padding, dilation):
    """conv2d as a sum over kernel taps of einsums on strided slices of the padded input."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    OH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((N, O, OH, OW)) + (0 if b is None else b[:, None, None])
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y


@pytest.mark.parametrize("xs,ws,s,p,d", [
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1)),   # im2col, full-conv input gradient
    ((2, 2, 7, 6), (5, 2, 3, 2), (1, 1), (1, 0), (1, 1)),   # im2col, col2im input gradient
    ((2, 6, 7, 6), (3, 6, 3, 3), (1, 1), (1, 1), (1, 1)),   # few outputs: the adjoint form
    ((1, 8, 9, 7), (2, 8, 3, 2), (1, 1), (2, 0), (2, 1)),   # adjoint form, dilated
    ((2, 6, 7, 6), (2, 6, 3, 3), (2, 1), (1, 1), (1, 1)),   # few outputs but strided: im2col
    ((2, 6, 5, 4), (2, 6, 1, 1), (1, 1), (0, 0), (1, 1)),   # 1x1
])
def test_conv2d_matches_naive_loops(xs, ws, s, p, d):
    x, w, b = _rand(*xs, seed=1), _rand(*ws, seed=2), _rand(ws[0], seed=3)
    y = ops.conv2d(x, w, b, stride=s, padding=p, dilation=d)
    ref = naive_conv2d(x, w, b, s, p, d)
    assert y.shape == ref.shape and y.array.flags.c_contiguous
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_dilate_and_undilate_are_adjoint():
    x, y = _rand(3, 4, seed=1), _rand(6, 12, seed=2)
    dx = ops.dilate(x, (0, 1), 2).numpy()
    assert dx.shape == (9, 12)
    dx = ops.dilate(x, (0, 1), 1).numpy()
    assert dx.shape == (6, 8)
    np.testing.assert_allclose(np.sum(dx * y[:, :8]), np.sum(x * ops.undilate(
        an.Tensor(y[:, :8]), (0, 1), 1).numpy()))
    np.testing.assert_array_equal(ops.undilate(ops.dilate(x, 1, 3), 1, 3).numpy(), x)


def test_float32_stays_float32_and_output_is_contiguous():
    x = an.Tensor(_rand(2, 3, 6, 6).astype(np.float32), requires_grad=True)
    w = an.Tensor(_rand(4, 3, 3, 3).astype(np.float32), requires_grad=True)
    b = an.Tensor(np.zeros(4, np.float32), requires_grad=True)
    y = ops.conv2d(x, w, b, padding=1)
    assert y.dtype == np.float32 and y.array.flags.c_contiguous
    z = ops.max_pool2d(ops.conv_transpose2d(y, w, stride=2), 2)
    assert z.dtype == np.float32
    ops.sum(z).backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    # the few-output-channel (adjoint) form too, with contiguous gradients
    x = an.Tensor(_rand(2, 6, 5, 5).astype(np.float32), requires_grad=True)
    w = an.Tensor(_rand(2, 6, 3, 3).astype(np.float32), requires_grad=True)
    y = ops.conv2d(x, w, b[:2], padding=1)
    assert y.dtype == np.float32 and y.array.flags.c_contiguous
    ops.sum(y * y).backward()
    for grad in (x.grad, w.grad):
        assert grad.dtype == np.float32 and grad.array.flags.c_contiguous


def test_no_grad_keeps_nothing_for_backward():
    x = an.Tensor(_rand(1, 2, 5, 5))
    w = an.Tensor(_rand(3, 2, 3, 3), requires_grad=True)
    with an.no_grad():
        y = ops.conv2d(x, w, padding=1)
    assert not y.requires_grad and y.is_leaf


def test_only_the_needed_gradients_are_computed():
    x = an.Tensor(_rand(1, 2, 5, 5), requires_grad=True)
    w = an.Tensor(_rand(3, 2, 3, 3))
    ops.sum(ops.conv2d(x, w, padding=1)).backward()
    assert x.grad is not None and w.grad is None


# ---- errors ----
@pytest.mark.parametrize("call,match", [
    (lambda: ops.conv2d(_rand(5, 5), _rand(2, 3, 3, 3)), r"input must be 4-D"),
    (lambda: ops.conv2d(_rand(1, 3, 5, 5), _rand(2, 3, 3)), r"weight must be 4-D"),
    (lambda: ops.conv2d(_rand(1, 4, 5, 5), _rand(2, 3, 3, 3)), r"expected input\[1, 4, 5, 5\] to have 3 channels, but got 4"),
    (lambda: ops.conv2d(_rand(1, 3, 2, 5), _rand(2, 3, 3, 3)), r"larger than the padded input"),
    (lambda: ops.conv2d(_rand(1, 3, 5, 5), _rand(2, 3, 3, 3), _rand(3)), r"bias must have"),
    (lambda: ops.conv2d(_rand(1, 3, 5, 5), _rand(2, 3, 3, 3), stride=0), r"non-positive stride is not supported"),
    (lambda: ops.conv2d(_rand(1, 3, 5, 5), _rand(2, 3, 3, 3), padding=-1),
     r"negative padding is not supported"),
    (lambda: ops.conv2d(_rand(1, 3, 5, 5), _rand(2, 3, 3, 3), stride=(1, 2, 3)),
     r"stride must be an int or a pair"),
    (lambda: ops.conv_transpose2d(_rand(1, 3, 4, 4), _rand(2, 3, 3, 3)),
     r"to have 2 channels, but got 3 channels instead"),
    (lambda: ops.conv_transpose2d(_rand(1, 2, 4, 4), _rand(2, 3, 3, 3), stride=2,
                                  output_padding=2), r"output padding must be smaller than either stride or dilation"),
    (lambda: ops.conv_transpose2d(_rand(1, 2, 1, 1), _rand(2, 3, 1, 1), padding=1),
     r"output would be empty"),
    (lambda: ops.max_pool2d(_rand(5, 5), 2), r"input must be 4-D"),
    (lambda: ops.max_pool2d(_rand(1, 1, 5, 5), 6), r"larger than the padded input"),
    (lambda: ops.max_pool2d(_rand(1, 1, 5, 5), 2, padding=2), r"at most half the kernel"),
    (lambda: ops.dilate(_rand(2, 3), 2, 1), r"axis 2 is out of range"),
    (lambda: ops.dilate(_rand(2, 3), 0, -1), r"dilation must be >= 0"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match="same dtype"):
        ops.conv2d(an.Tensor(_rand(1, 1, 3, 3)), an.Tensor(_rand(1, 1, 2, 2).astype(np.float32)))


@pytest.mark.skipif(xps is None, reason="array-api-strict is not installed")
def test_device_mismatch_names_both_devices():
    x = an.Tensor(xps.asarray(_rand(1, 2, 4, 4)))
    w = an.Tensor(_rand(3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"different devices \(array_api_strict and cpu\)"):
        ops.conv2d(x, w)


# ---- array-api-strict arrays (the portable kernels inside the ops) ----
@pytest.mark.skipif(xps is None, reason="array-api-strict is not installed")
@pytest.mark.parametrize("name,fn,shapes", [c for c in GRAD_CASES if c[0] in (
    "conv2d_same", "conv2d_col2im", "conv2d_strided", "conv2d_1x1", "conv_transpose2d_stride1",
    "conv_transpose2d_k4s2p1", "max_pool2d_overlap_pad", "dilate", "undilate")],
    ids=lambda v: v if isinstance(v, str) else "")
def test_strict_arrays_match_numpy(name, fn, shapes):
    arrays = [_rand(*s, seed=i) for i, s in enumerate(shapes)]
    ref_in = [an.Tensor(a, requires_grad=True) for a in arrays]
    st_in = [an.Tensor(xps.asarray(a), requires_grad=True) for a in arrays]
    ref, out = fn(*ref_in), fn(*st_in)
    assert type(out.array).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = _rand(*ref.shape, seed=9)
    ref.backward(an.Tensor(g))
    out.backward(an.Tensor(xps.asarray(g)))
    for a, b in zip(ref_in, st_in):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---- layers ----
def test_conv2d_layer_shapes_and_init():
    an.manual_seed(0)
    layer = nn.Conv2d(16, 32, 3, stride=2, padding=1)
    assert layer.weight.shape == (32, 16, 3, 3) and layer.bias.shape == (32,)
    assert layer.weight.dtype == np.float32
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform(a=sqrt(5)) on fan_in = in * kh * kw
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    y = layer(an.Tensor(_rand(2, 16, 9, 8).astype(np.float32)))
    assert y.shape == (2, 32, 5, 4)
    assert nn.Conv2d(2, 3, (1, 2), bias=False).bias is None


def test_conv_transpose2d_layer_shapes_and_init():
    layer = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, dtype="float64")
    assert layer.weight.shape == (16, 8, 4, 4) and layer.bias.shape == (8,)
    assert layer.weight.dtype == np.float64
    bound = 1 / math.sqrt(8 * 16)  # PyTorch: fan_in from weight dim 1 (out_channels) * k * k
    assert np.abs(layer.weight.detach().numpy()).max() <= bound
    assert np.abs(layer.weight.detach().numpy()).max() > 0.95 * bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound
    y = layer(an.Tensor(_rand(2, 16, 5, 3)))
    assert y.shape == (2, 8, 10, 6)
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1)
    y = layer(an.Tensor(_rand(1, 2, 4, 4), dtype="float32"))
    assert y.shape == (1, 3, 10, 10)


def test_maxpool_layer_and_needle_aliases():
    with pytest.warns(FutureWarning, match="2027-06-30"):
        assert nn.Conv is nn.Conv2d and nn.ConvTranspose is nn.ConvTranspose2d
    with pytest.warns(FutureWarning, match="nn.MaxPool is deprecated"):
        assert nn.MaxPool is nn.MaxPool2d
    pool = nn.MaxPool2d(2)
    assert pool.stride == 2 and not list(pool.parameters())  # as given, as PyTorch
    assert pool(an.Tensor(_rand(1, 2, 7, 6))).shape == (1, 2, 3, 3)
    assert nn.MaxPool2d(3, 1, 1)(an.Tensor(_rand(1, 2, 7, 6))).shape == (1, 2, 7, 6)


def test_conv_layer_trains_on_its_device():
    an.manual_seed(1)
    layer = nn.Conv2d(2, 1, 3, padding=1, dtype="float64")
    x = an.Tensor(_rand(4, 2, 6, 6))
    target = ops.conv2d(x, an.Tensor(_rand(1, 2, 3, 3, seed=5)), padding=1)
    losses = []
    for _ in range(60):
        layer.zero_grad()
        loss = ops.mean((layer(x) - target) ** 2)
        loss.backward()
        for p in layer.parameters():
            p.array = p.array - 0.1 * p.grad.array
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


# ---- PyTorch, where installed ----
def test_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    cases = [
        ((2, 3, 9, 7), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
        ((2, 4, 8, 8), (4, 4, 3, 3), dict(padding=1)),
        ((1, 3, 6, 5), (5, 3, 1, 1), dict()),
        ((2, 8, 6, 5), (3, 8, 3, 3), dict(padding=1)),  # few outputs: the adjoint form
    ]
    for xs, ws, kw in cases:
        x, w, b = _rand(*xs, seed=1), _rand(*ws, seed=2), _rand(ws[0], seed=3)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        ty = F.conv2d(tx, tw, tb, **kw)
        g = _rand(*ty.shape, seed=4)
        ty.backward(torch.tensor(g))
        ax, aw, ab = (an.Tensor(a, requires_grad=True) for a in (x, w, b))
        ay = ops.conv2d(ax, aw, ab, **kw)
        ay.backward(an.Tensor(g))
        for mine, theirs in ((ay, ty), (ax.grad, tx.grad), (aw.grad, tw.grad), (ab.grad, tb.grad)):
            np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-10,
                                       atol=1e-10)
    tcases = [((2, 3, 4, 5), (3, 2, 4, 4), dict(stride=2, padding=1)),
              ((2, 3, 4, 5), (3, 4, 3, 2), dict(stride=(3, 2), padding=(1, 0),
                                                output_padding=(2, 1))),
              ((1, 2, 5, 4), (2, 3, 3, 3), dict(padding=1)),
              ((1, 2, 5, 4), (2, 3, 2, 3), dict(dilation=2, padding=1))]
    for xs, ws, kw in tcases:
        x, w, b = _rand(*xs, seed=1), _rand(*ws, seed=2), _rand(ws[1], seed=3)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        ty = F.conv_transpose2d(tx, tw, tb, **kw)
        g = _rand(*ty.shape, seed=4)
        ty.backward(torch.tensor(g))
        ax, aw, ab = (an.Tensor(a, requires_grad=True) for a in (x, w, b))
        ay = ops.conv_transpose2d(ax, aw, ab, **kw)
        ay.backward(an.Tensor(g))
        for mine, theirs in ((ay, ty), (ax.grad, tx.grad), (aw.grad, tw.grad), (ab.grad, tb.grad)):
            np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-10,
                                       atol=1e-10)
    for k, s, p in [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0))]:
        x = _rand(2, 3, 9, 8, seed=5)
        tx = torch.tensor(x, requires_grad=True)
        ty = F.max_pool2d(tx, k, s, p)
        g = _rand(*ty.shape, seed=6)
        ty.backward(torch.tensor(g))
        ax = an.Tensor(x, requires_grad=True)
        ay = ops.max_pool2d(ax, k, s, p)
        ay.backward(an.Tensor(g))
        np.testing.assert_array_equal(ay.detach().numpy(), ty.detach().numpy())
        np.testing.assert_allclose(ax.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, (2, 1), 1)])
def test_max_pool2d_under_no_grad_gives_the_same_output_and_saves_no_argmax(k, s, p):
    x = an.Tensor(np.random.default_rng(5).standard_normal((2, 3, 9, 8)).astype(np.float32),
                  requires_grad=True)
    with_grad = ops.max_pool2d(x, k, stride=s, padding=p)
    with an.no_grad():
        without = ops.max_pool2d(x, k, stride=s, padding=p)
    np.testing.assert_array_equal(without.detach().numpy(), with_grad.detach().numpy())
    assert without._ctx is None
    assert with_grad._ctx.arg is not None


@pytest.mark.parametrize("name,fn,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_float64_with_per_image_matmuls(monkeypatch, name, fn, shapes):
    """The per-image matmul layout (used from 32x32 up) through every conv code path, by
    lowering its size threshold to the test's small images."""
    from arrayneedle.ops import _conv_layout
    monkeypatch.setattr(_conv_layout, "PER_IMAGE_MIN_HW", 1)
    arrays = [_rand(*s, seed=i) for i, s in enumerate(shapes)]
    gradcheck(fn, *arrays)


@pytest.mark.parametrize("xs,ws", [((2, 3, 32, 33), (4, 3, 3, 3)),     # per image, im2col
                                   ((2, 8, 34, 32), (3, 8, 3, 3))])    # per image, adjoint form
def test_conv2d_on_large_images_matches_naive_loops(xs, ws):
    x, w, b = _rand(*xs, seed=1), _rand(*ws, seed=2), _rand(ws[0], seed=3)
    xt = an.Tensor(x, requires_grad=True)
    y = ops.conv2d(xt, w, b, padding=1)
    ref = naive_conv2d(x, w, b, (1, 1), (1, 1), (1, 1))
    assert y.array.flags.c_contiguous
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    g = _rand(*ref.shape, seed=4)
    y.backward(an.Tensor(g))
    # the input gradient is the adjoint: <g, conv(v)> == <conv^T(g), v>
    v = _rand(*xs, seed=5)
    np.testing.assert_allclose(np.sum(g * naive_conv2d(v, w, None, (1, 1), (1, 1), (1, 1))),
                               np.sum(xt.grad.numpy() * v), rtol=1e-10)


@pytest.mark.parametrize("w_shape,stride,padding,fn", [
    ((4, 3, 1, 1), 1, 0, "Conv2dPointwise"),
    ((2, 6, 3, 3), 1, 1, "Conv2dAdjoint"),   # few outputs (2*O <= C), stride 1
    ((4, 3, 3, 3), 1, 1, "Conv2dIm2col"),
    ((2, 6, 3, 3), 2, 1, "Conv2dIm2col"),    # the adjoint form needs stride 1
    ((4, 3, 1, 1), 1, 1, "Conv2dIm2col"),    # a padded 1x1 kernel is not pointwise
])
def test_conv2d_chooses_its_algorithm_and_all_agree(w_shape, stride, padding, fn):
    """conv2d picks one of three Functions; each agrees with the general im2col one."""
    x = an.Tensor(_rand(2, w_shape[1], 5, 6))
    w = an.Tensor(_rand(*w_shape, seed=1), requires_grad=True)
    y = ops.conv2d(x, w, stride=stride, padding=padding)
    assert type(y._ctx).__name__ == fn and isinstance(y._ctx, ops.conv.Conv2d)
    ref = ops.conv.Conv2dIm2col.apply(x, w, stride=(stride,) * 2, padding=(padding,) * 2,
                                      dilation=(1, 1))
    np.testing.assert_allclose(y.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
