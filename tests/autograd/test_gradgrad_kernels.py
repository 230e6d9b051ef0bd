"""Gradients of gradients through the kernel-level Functions: the convolutions (every algorithm
conv2d picks, groups, transposed), max- and average pooling, the norms, dilation and the
losses' fused logs.

Each case is checked three ways in float64: the raw-array backward (no graph recorded) and the
differentiable one (``create_graph=True``) give the same first derivatives as PyTorch; the
second derivatives (with respect to the inputs and to the output gradient) match
``torch.autograd.grad(..., create_graph=True)`` taken twice; and they match central finite
differences of the first derivative (``gradgradcheck``), on NumPy and on array-api-strict."""
import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn.functional as F
import op_table_layers
from arrayneedle import nn, ops
from op_table import make_inputs
from op_table_layers import LAYER_OPS

torch = pytest.importorskip("torch")
TF = torch.nn.functional
# torch's note on its own padding="same" with an even kernel (the depthwise row)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

try:
    import array_api_strict as xps
except ImportError:  # pragma: no cover
    xps = None

_RM, _RV = np.array([0.3, -0.2, 0.1]), np.array([0.5, 1.5, 2.0])  # eval-mode batch_norm stats


def _const(x, v):  # a constant Tensor on x's device
    return an.Tensor(x.device.asarray(np.asarray(v)), device=x.device)


def _unit(x):  # probabilities inside (0, 1), away from the ends
    return 0.1 + 0.8 / (1 + np.exp(-x))


# name, function of arrayneedle Tensors, the same function of torch tensors, input shapes,
# input transforms (or None). Shapes are small: the finite differences run a backward per
# input element.
CASES = [
    ("conv2d_im2col_stride_pad_dilation_bias",
     lambda x, w, b: ops.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
     lambda x, w, b: TF.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
     [(2, 2, 5, 6), (3, 2, 3, 2), (3,)], None),
    ("conv2d_im2col_same", lambda x, w: ops.conv2d(x, w, padding=1),
     lambda x, w: TF.conv2d(x, w, padding=1), [(2, 2, 4, 4), (3, 2, 3, 3)], None),
    ("conv2d_adjoint_few_outputs", lambda x, w, b: ops.conv2d(x, w, b, padding=1),
     lambda x, w, b: TF.conv2d(x, w, b, padding=1), [(2, 4, 4, 3), (2, 4, 3, 3), (2,)], None),
    ("conv2d_pointwise_1x1", lambda x, w, b: ops.conv2d(x, w, b),
     lambda x, w, b: TF.conv2d(x, w, b), [(2, 3, 3, 4), (4, 3, 1, 1), (4,)], None),
    ("conv2d_groups_stride_dilation",
     lambda x, w, b: ops.conv2d(x, w, b, stride=2, padding=1, dilation=(2, 1), groups=2),
     lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1, dilation=(2, 1), groups=2),
     [(1, 4, 6, 5), (4, 2, 2, 3), (4,)], None),
    ("conv2d_depthwise_same_asymmetric", lambda x, w: ops.conv2d(x, w, padding="same", groups=3),
     lambda x, w: TF.conv2d(x, w, padding="same", groups=3), [(2, 3, 4, 4), (3, 1, 2, 2)], None),
    ("conv_transpose2d_stride_outpad_bias",
     lambda x, w, b: ops.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
     [(2, 3, 3, 2), (3, 2, 3, 3), (2,)], None),
    ("conv_transpose2d_stride1_as_conv", lambda x, w: ops.conv_transpose2d(x, w, padding=1),
     lambda x, w: TF.conv_transpose2d(x, w, padding=1), [(2, 2, 3, 3), (2, 3, 3, 3)], None),
    ("conv_transpose2d_groups_dilation",
     lambda x, w: ops.conv_transpose2d(x, w, stride=(1, 2), groups=2, dilation=2),
     lambda x, w: TF.conv_transpose2d(x, w, stride=(1, 2), groups=2, dilation=2),
     [(1, 4, 3, 2), (4, 1, 2, 2)], None),
    ("conv_transpose2d_outpad_past_stride",
     lambda x, w: ops.conv_transpose2d(x, w, padding=1, output_padding=(1, 0), dilation=2),
     lambda x, w: TF.conv_transpose2d(x, w, padding=1, output_padding=(1, 0), dilation=2),
     [(1, 2, 3, 3), (2, 2, 2, 2)], None),
    ("max_pool2d_overlap_pad", lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
     lambda x: TF.max_pool2d(x, 3, stride=2, padding=1), [(2, 2, 5, 6)], None),
    ("max_pool2d_ceil", lambda x: F.max_pool2d(x, (2, 3), stride=2, ceil_mode=True),
     lambda x: TF.max_pool2d(x, (2, 3), stride=2, ceil_mode=True), [(1, 2, 5, 6)], None),
    ("max_pool2d_dilation", lambda x: F.max_pool2d(x, 2, stride=1, padding=1, dilation=2),
     lambda x: TF.max_pool2d(x, 2, stride=1, padding=1, dilation=2), [(1, 2, 5, 4)], None),
    ("avg_pool2d_pad", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
     lambda x: TF.avg_pool2d(x, 3, stride=2, padding=1), [(2, 2, 5, 6)], None),
    ("avg_pool2d_ceil_exclude_pad",
     lambda x: F.avg_pool2d(x, 2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     lambda x: TF.avg_pool2d(x, 2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     [(1, 2, 5, 4)], None),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
     lambda x: TF.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 4)], None),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)),
     lambda x: TF.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 4)], None),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
     [(3, 3, 2, 2), (3,), (3,)], None),
    ("batch_norm_train_plain_2d", lambda x: F.batch_norm(x, None, None, training=True),
     lambda x: TF.batch_norm(x, None, None, training=True), [(5, 3)], None),
    ("batch_norm_eval",
     lambda x, w, b: F.batch_norm(x, _const(x, _RM), _const(x, _RV), w, b),
     lambda x, w, b: TF.batch_norm(x, torch.tensor(_RM), torch.tensor(_RV), w, b),
     [(2, 3, 2, 2), (3,), (3,)], None),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b),
     lambda x, w, b: TF.group_norm(x, 2, w, b), [(2, 4, 2, 3), (4,), (4,)], None),
    ("group_norm_plain_3d", lambda x: F.group_norm(x, 3), lambda x: TF.group_norm(x, 3),
     [(2, 6, 3)], None),
    ("group_norm_silu", lambda x, w, b: ops.group_norm_silu(x, 2, w, b),
     lambda x, w, b: TF.silu(TF.group_norm(x, 2, w, b)), [(2, 4, 2, 3), (4,), (4,)], None),
    ("group_norm_silu_plain_3d", lambda x: ops.group_norm_silu(x, 3),
     lambda x: TF.silu(TF.group_norm(x, 3)), [(2, 6, 3)], None),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (3, 2), w, b),
     lambda x, w, b: TF.layer_norm(x, (3, 2), w, b), [(4, 3, 2), (3, 2), (3, 2)], None),
    ("layer_norm_plain", lambda x: F.layer_norm(x, 5), lambda x: TF.layer_norm(x, (5,)),
     [(3, 5)], None),
    ("channel_affine", ops.channel_affine,
     lambda x, s, b: x * s.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1),
     [(2, 3, 2, 2), (3,), (3,)], None),
    ("binary_cross_entropy", lambda x, t: F.binary_cross_entropy(x, t),
     lambda x, t: TF.binary_cross_entropy(x, t), [(3, 4), (3, 4)], [_unit, _unit]),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid, [(3, 4)], None),
]

# the rows whose every op runs on array-api-strict arrays (the others differ only in the
# functions of nn.functional that wrap them)
STRICT = ["conv2d_im2col_stride_pad_dilation_bias", "conv2d_adjoint_few_outputs",
          "conv2d_pointwise_1x1", "conv2d_groups_stride_dilation",
          "conv_transpose2d_stride_outpad_bias", "conv_transpose2d_stride1_as_conv",
          "max_pool2d_overlap_pad", "max_pool2d_dilation", "avg_pool2d_ceil_exclude_pad",
          "batch_norm_train", "batch_norm_eval", "group_norm", "layer_norm"]

_IDS = [c[0] for c in CASES]


def _inputs(shapes, transforms, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) for s in shapes]
    if transforms:
        xs = [x if t is None else t(x) for x, t in zip(xs, transforms)]
    return xs


def _output_shape(fn, xs):
    with an.no_grad():
        return tuple(fn(*[an.Tensor(x) for x in xs]).shape)


def _tensors(arrays, wrap=None):
    return [an.Tensor(a if wrap is None else wrap(a), requires_grad=True) for a in arrays]


def _np(t):
    if t is None or isinstance(t, np.ndarray):
        return t
    return np.asarray(t.detach().numpy())


def _an_first(fn, xs, g, create_graph, wrap=None):
    ts = _tensors(xs, wrap)
    gt = an.Tensor(g if wrap is None else wrap(g), requires_grad=create_graph)
    grads = an.autograd.grad(fn(*ts), ts, gt, create_graph=create_graph)
    return ts, gt, grads


def _an_second(fn, xs, g, vs, wrap=None):
    """d/d(inputs, g) of sum_i <grad_i(inputs; g), v_i>."""
    ts, gt, grads = _an_first(fn, xs, g, True, wrap)
    s = sum(ops.sum(gi * an.Tensor(v if wrap is None else wrap(v))) for gi, v in zip(grads, vs))
    return an.autograd.grad(s, ts + [gt], allow_unused=True, materialize_grads=True)


def _torch_grads(fn, xs, g, vs):
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    gt = torch.tensor(g, requires_grad=True)
    first = torch.autograd.grad(fn(*ts), ts, gt, create_graph=True)
    s = sum((gi * torch.tensor(v)).sum() for gi, v in zip(first, vs))
    second = torch.autograd.grad(s, ts + [gt], allow_unused=True, materialize_grads=True)
    return [f.detach().numpy() for f in first], [s_.numpy() for s_ in second]


def _case(name):
    return CASES[_IDS.index(name)]


def _setup(shapes, tr, fn, seed=0):
    xs = _inputs(shapes, tr, seed)
    rng = np.random.default_rng(seed + 100)
    g = rng.standard_normal(_output_shape(fn, xs))
    vs = [rng.standard_normal(s) for s in shapes]
    return xs, g, vs


@pytest.mark.parametrize("name,fn,tfn,shapes,tr", CASES, ids=_IDS)
def test_first_derivatives_both_paths_match_torch(name, fn, tfn, shapes, tr):
    xs, g, vs = _setup(shapes, tr, fn)
    want, _ = _torch_grads(tfn, xs, g, vs)
    for create_graph in (False, True):
        _, _, got = _an_first(fn, xs, g, create_graph)
        for k, (a, b) in enumerate(zip(got, want)):
            np.testing.assert_allclose(_np(a), b, rtol=1e-10, atol=1e-12,
                                       err_msg=f"input {k}, create_graph={create_graph}")


@pytest.mark.parametrize("name,fn,tfn,shapes,tr", CASES, ids=_IDS)
def test_second_derivatives_match_torch(name, fn, tfn, shapes, tr):
    xs, g, vs = _setup(shapes, tr, fn)
    _, want = _torch_grads(tfn, xs, g, vs)
    got = _an_second(fn, xs, g, vs)
    for k, (a, b) in enumerate(zip(got, want)):
        what = "the output gradient" if k == len(xs) else f"input {k}"
        np.testing.assert_allclose(_np(a), b, rtol=1e-9, atol=1e-10,
                                   err_msg=f"second derivative with respect to {what}")


def _gradgrad_numeric(fn, xs, g, vs, wrap=None, eps=1e-6):
    """Central differences of sum_i <grad_i(inputs; g), v_i> (first derivatives without a
    graph) with respect to every input and to g."""
    def s(xs_, g_):
        _, _, grads = _an_first(fn, xs_, g_, False, wrap)
        return sum(float(np.sum(_np(gi) * v)) for gi, v in zip(grads, vs))

    out = []
    args = list(xs) + [g]
    for k, a in enumerate(args):
        num = np.zeros_like(a)
        for i in range(a.size):
            vals = []
            for sign in (1, -1):
                pert = [x.copy() for x in args]
                pert[k].reshape(-1)[i] += sign * eps
                vals.append(s(pert[:-1], pert[-1]))
            num.reshape(-1)[i] = (vals[0] - vals[1]) / (2 * eps)
        out.append(num)
    return out


def _gradgradcheck(fn, shapes, tr, wrap=None):
    xs, g, vs = _setup(shapes, tr, fn, seed=3)
    ana = _an_second(fn, xs, g, vs, wrap)
    num = _gradgrad_numeric(fn, xs, g, vs, wrap)
    for k, (a, n) in enumerate(zip(ana, num)):
        np.testing.assert_allclose(_np(a), n, rtol=1e-5, atol=1e-6,
                                   err_msg=f"second derivative with respect to argument {k}")


@pytest.mark.parametrize("name,fn,tfn,shapes,tr", CASES, ids=_IDS)
def test_gradgradcheck_numpy(name, fn, tfn, shapes, tr):
    _gradgradcheck(fn, shapes, tr)


@pytest.mark.skipif(xps is None, reason="array-api-strict is not installed")
@pytest.mark.parametrize("name", STRICT)
def test_gradgradcheck_array_api_strict(name):
    _, fn, _, shapes, tr = _case(name)
    xs, g, vs = _setup(shapes, tr, fn, seed=3)
    ts, _, grads = _an_first(fn, xs, g, True, xps.asarray)
    assert all(type(gi.array).__module__.startswith("array_api_strict") for gi in grads)
    _gradgradcheck(fn, shapes, tr, xps.asarray)


@pytest.mark.parametrize("fn,shapes", [
    (lambda x: ops.dilate(x, (1, 2), 2), [(2, 3, 2)]),
    (lambda x: ops.undilate(x, (0, 2), 1), [(5, 2, 4)]),
], ids=["dilate", "undilate"])
def test_gradgradcheck_dilation(fn, shapes):
    _gradgradcheck(fn, shapes, None)


def test_third_derivative_of_conv_matches_torch():
    """The weight-gradient Function's backward is itself made of convolutions: a third
    derivative through conv2d (of x**2, so that it is not zero) gives PyTorch's numbers."""
    rng = np.random.default_rng(5)
    x0, w0 = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((3, 2, 2, 2))

    def run(lib, conv, grad):
        x = lib(x0, requires_grad=True)
        w = lib(w0, requires_grad=True)
        y = (conv(x * x, w, stride=1, padding=1) ** 2).sum()
        (gx,) = grad(y, (x,), create_graph=True)
        (gw,) = grad((gx * gx).sum(), (w,), create_graph=True)
        (gx2,) = grad((gw * gw).sum(), (x,))
        return gx2

    ours = run(lambda a, requires_grad: an.Tensor(a, requires_grad=requires_grad), ops.conv2d,
               an.autograd.grad)
    theirs = run(lambda a, requires_grad: torch.tensor(a, requires_grad=requires_grad),
                 TF.conv2d, torch.autograd.grad)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-10)


def _penalty_net(lib, p, x):
    """A small conv net with a norm and pooling: conv -> batch_norm -> tanh -> max_pool ->
    conv_transpose -> group_norm -> avg_pool -> 1x1 conv, summed per sample."""
    h = lib.conv2d(x, p["w1"], p["b1"], stride=1, padding=1)
    h = lib.batch_norm(h, None, None, p["g1"], p["be1"], training=True)
    h = lib.max_pool2d(lib.tanh(h), 2)
    h = lib.conv_transpose2d(h, p["w2"], p["b2"], stride=2, padding=1, output_padding=1)
    h = lib.group_norm(h, 2, p["g2"], p["be2"])
    h = lib.avg_pool2d(lib.tanh(h), 2, stride=2, padding=1)
    return lib.conv2d(h, p["w3"], p["b3"])


class _TorchLib:
    conv2d, conv_transpose2d = TF.conv2d, TF.conv_transpose2d
    batch_norm, group_norm = TF.batch_norm, TF.group_norm
    max_pool2d, avg_pool2d = TF.max_pool2d, TF.avg_pool2d
    tanh = staticmethod(torch.tanh)


class _OurLib:
    conv2d, conv_transpose2d = F.conv2d, F.conv_transpose2d
    batch_norm, group_norm = F.batch_norm, F.group_norm
    max_pool2d, avg_pool2d = F.max_pool2d, F.avg_pool2d
    tanh = staticmethod(ops.tanh)


_SHAPES = {"w1": (4, 3, 3, 3), "b1": (4,), "g1": (4,), "be1": (4,), "w2": (4, 4, 3, 3),
           "b2": (4,), "g2": (4,), "be2": (4,), "w3": (1, 4, 1, 1), "b3": (1,)}


def test_gradient_penalty_through_conv_net_matches_torch():
    """WGAN-GP's penalty ``(|d out / d x| - 1)^2`` through convolutions, both norms and both
    poolings: the parameters' gradients (second derivatives) are PyTorch's to 1e-10."""
    rng = np.random.default_rng(7)
    params = {k: rng.standard_normal(s) * (0.5 if k.startswith("w") else 1.0) + (
        1.0 if k.startswith("g") else 0.0) for k, s in _SHAPES.items()}
    x0 = rng.standard_normal((3, 3, 6, 6))

    def run(lib, tensor, grad):
        p = {k: tensor(v, True) for k, v in params.items()}
        x = tensor(x0, True)
        out = _penalty_net(lib, p, x)
        (gx,) = grad(out.sum(), (x,), create_graph=True)
        norms = ((gx * gx).reshape(3, -1).sum(1) + 1e-12) ** 0.5
        penalty = ((norms - 1) ** 2).mean()
        # b3 drops out of d out / d x: no gradient (zeros), in both libraries
        return grad(penalty, tuple(p.values()), allow_unused=True, materialize_grads=True)

    ours = run(_OurLib, lambda a, r: an.Tensor(a, requires_grad=r), an.autograd.grad)
    theirs = run(_TorchLib, lambda a, r: torch.tensor(a, requires_grad=r), torch.autograd.grad)
    for k, a, b in zip(params, ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12, err_msg=k)


def test_backward_without_graph_records_nothing():
    """create_graph=False: the gradients are plain leaves (the raw-array paths), and with
    create_graph=True they carry a graph of the adjoint Functions."""
    x = an.Tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = an.Tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), requires_grad=True)

    def net(x, w):
        return F.max_pool2d(F.batch_norm(ops.conv2d(x, w, padding=1), None, None,
                                         training=True), 2)

    gx, gw = an.autograd.grad(ops.sum(net(x, w) ** 2), (x, w))
    assert gx.grad_fn is None and gw.grad_fn is None and not gx.requires_grad
    gx, gw = an.autograd.grad(ops.sum(net(x, w) ** 2), (x, w), create_graph=True)
    assert gx.requires_grad and gw.requires_grad
    assert gw.grad_fn is not None


def test_sync_batch_norm_double_backward_in_one_process():
    """Without a process group SyncBatchNorm is BatchNorm, gradients of gradients included."""
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((4, 3, 2, 2))
    sync, plain = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)
    for m in (sync, plain):
        m.weight.data = an.Tensor(np.array([0.5, 1.5, -1.0]))
        m.bias.data = an.Tensor(np.array([0.1, 0.0, 0.3]))
        m.double()
    results = []
    for m in (sync, plain):
        x = an.Tensor(x0, requires_grad=True)
        (gx,) = an.autograd.grad(ops.sum(m(x) ** 3), (x,), create_graph=True)
        results.append(an.autograd.grad(ops.sum(gx * gx), (x, m.weight)))
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def test_sync_batch_norm_double_backward_across_processes_is_refused(monkeypatch):
    """Across processes the statistics' second derivatives would need collectives inside the
    recorded graph: create_graph=True is refused with a clear error (first order still works)."""
    from arrayneedle.nn import batchnorm
    m = nn.SyncBatchNorm(2).double()
    x = an.Tensor(np.random.default_rng(0).standard_normal((3, 2, 2)), requires_grad=True)
    y = ops.sum(m(x) ** 3)
    monkeypatch.setattr(batchnorm, "_world", lambda: 2)
    with pytest.raises(RuntimeError, match="SyncBatchNorm: gradients of gradients"):
        an.autograd.grad(y, (x,), create_graph=True)


# ---------------------------------------------------------------- the layer table on torch
class _TorchLayerO:
    """op_table_layers' ``O`` (arrayneedle.ops) resolved to torch: the same signatures."""
    conv2d, conv_transpose2d, max_pool2d = torch.conv2d, torch.conv_transpose2d, torch.max_pool2d
    pool = TF


class _TorchLayerF:
    """op_table_layers' ``F`` resolved to torch.nn.functional, with nn.Conv2d's padding_mode
    (which torch's functional conv2d lacks) as an explicit pad."""
    conv1d, adaptive_avg_pool2d, adaptive_max_pool2d = TF.conv1d, TF.adaptive_avg_pool2d, \
        TF.adaptive_max_pool2d
    interpolate, pixel_shuffle, pixel_unshuffle = TF.interpolate, TF.pixel_shuffle, \
        TF.pixel_unshuffle

    @staticmethod
    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
        if padding_mode != "zeros":
            ph, pw = (padding, padding) if isinstance(padding, int) else padding
            x, padding = TF.pad(x, (pw, pw, ph, ph), mode=padding_mode), 0
        return TF.conv2d(x, w, b, stride, padding, dilation, groups)


def _twice(fn, xs, lib):
    """First derivatives of <fn(xs), u> (create_graph) and the derivatives of <those, v>."""
    rng = np.random.default_rng(11)
    tensor, grad = ((lambda a, r=False: torch.tensor(a, requires_grad=r)), torch.autograd.grad) \
        if lib == "torch" else ((lambda a, r=False: an.Tensor(a, requires_grad=r)),
                                an.autograd.grad)
    ts = [tensor(x, True) for x in xs]
    out = fn(*ts)
    u = tensor(rng.standard_normal(tuple(out.shape)))
    first = grad((out * u).sum(), ts, create_graph=True)
    vs = [tensor(rng.standard_normal(x.shape)) for x in xs]
    # a linear op's first derivative may not depend on the inputs at all: its second is zero
    terms = [(gi * v).sum() for gi, v in zip(first, vs) if gi.requires_grad]
    second = grad(sum(terms[1:], terms[0]), ts, allow_unused=True, materialize_grads=True) \
        if terms else [np.zeros(x.shape) for x in xs]
    return [_np(t) for t in list(first) + list(second)]


@pytest.mark.parametrize("name,fn,ref,shapes,tr", LAYER_OPS, ids=[r[0] for r in LAYER_OPS])
def test_layer_table_second_derivatives_match_torch(name, fn, ref, shapes, tr, monkeypatch):
    xs = make_inputs(shapes, tr, seed=4)
    ours = _twice(fn, xs, "an")
    monkeypatch.setattr(op_table_layers, "O", _TorchLayerO)
    monkeypatch.setattr(op_table_layers, "F", _TorchLayerF)
    theirs = _twice(fn, xs, "torch")
    for k, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10,
                                   err_msg=f"{'first' if k < len(xs) else 'second'} derivative "
                                           f"of input {k % len(xs)}")
