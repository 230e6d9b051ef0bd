"""Higher-order gradients against PyTorch: ``autograd.grad(..., create_graph=True)`` twice over
for the op table, WGAN-GP's gradient penalty, a Hessian-vector product of an MLP, the needle
course's second-derivative test; retain_graph and the second-backward error; no graph is
built by a backward without create_graph.

The op-table rows are run on torch by evaluating the very same row functions with the table
modules' ``O``/``F``/``an`` names pointed at torch (``_TorchOps`` translates the array API's
``axis``/``keepdims`` spellings and the few signatures that differ).
"""

import numpy as np
import pytest

import arrayneedle as an
import op_table
import op_table_rnn
import op_table_surface2
from arrayneedle import nn
from arrayneedle.autograd import functional as AF
from op_table import INDEX_OPS, OPS, make_inputs
from op_table_rnn import ROWS

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---------------------------------------------------------------- the table on torch
def _kw(kw):
    kw = dict(kw)
    if "axis" in kw:
        kw["dim"] = kw.pop("axis")
    if "keepdims" in kw:
        kw["keepdim"] = kw.pop("keepdims")
    return kw


class _TorchOps:
    """``arrayneedle.ops`` names resolved to torch (torch, then torch.nn.functional)."""

    def __getattr__(self, name):
        fn = getattr(torch, name, None) or getattr(TF, name)
        return lambda *a, **k: fn(*a, **_kw(k))

    power = staticmethod(torch.pow)
    batch_norm = staticmethod(TF.batch_norm)  # torch.batch_norm orders its arguments otherwise

    @staticmethod
    def layer_norm(x, shape, *args):
        return TF.layer_norm(x, (shape,) if isinstance(shape, int) else shape, *args)

    @staticmethod
    def transpose(a, dim0=-2, dim1=-1):
        return torch.transpose(a, dim0, dim1)

    @staticmethod
    def flip(a, axis):
        return torch.flip(a, (axis,) if isinstance(axis, int) else axis)

    @staticmethod
    def concat(ts, axis=0):
        return torch.cat(ts, axis)

    @staticmethod
    def pad(a, pad_width, value=0.0):
        flat = [n for lo, hi in reversed(pad_width) for n in (lo, hi)]
        return TF.pad(a, flat, value=value)

    @staticmethod
    def take(a, index, axis=None):
        if axis is None:
            return torch.take(a, index)
        return torch.index_select(a, axis, index.reshape(-1)).reshape(
            a.shape[:axis] + index.shape + a.shape[axis + 1:])


class _TorchAn:
    Tensor = staticmethod(lambda v, **k: torch.tensor(v))


def _torch_const(x, v):
    return torch.tensor(np.asarray(v))


def _torch_running(x, v):
    return torch.tensor(v, dtype=torch.float64)


def _torch_fn(fn):
    """A row function on torch: the lambdas find torch through the patched module names; an
    arrayneedle function given directly (``O.exp``) is looked up by its name."""
    if getattr(fn, "__module__", "").startswith("arrayneedle"):
        return getattr(_TorchOps(), fn.__name__)
    return fn


# rows that are not compositions of ops with torch names
_TORCH_ROWS = {
    "clamped_log": lambda x: torch.log(x),
    "log_sigmoid": TF.logsigmoid,
    # the wrapper uses the part of src that index covers; torch wants that slice given
    "scatter": lambda a, s: torch.scatter(a, 1, torch.tensor([[2, 0], [1, 3]]), s[:, :2]),
    "channel_affine": lambda x, s, b: x * s.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1),
    "channel_affine_2d": lambda x, s, b: x * s + b,
    "group_norm_silu": lambda x, w, b: TF.silu(TF.group_norm(x, 2, w, b)),
    "group_norm_silu_plain_3d": lambda x: TF.silu(TF.group_norm(x, 3)),
}
# torch defines no derivative for the divisor of remainder(number, tensor) (derivatives.yaml:
# "not_implemented"); ours is the one of remainder(tensor, tensor), checked by gradgradcheck
_NO_TORCH_DERIVATIVE = ("rmod_scalar",)
_MODULE_ROWS = ("lstm", "gru")  # built from nn modules: second derivatives by gradgradcheck

ROWS_FOR_TORCH = [r for r in OPS + INDEX_OPS + ROWS
                  if r[0] not in _MODULE_ROWS + _NO_TORCH_DERIVATIVE]


@pytest.fixture
def on_torch(monkeypatch):
    for mod in (op_table, op_table_surface2):
        monkeypatch.setattr(mod, "O", _TorchOps())
    monkeypatch.setattr(op_table, "F", TF)
    monkeypatch.setattr(op_table_rnn, "F", TF)
    monkeypatch.setattr(op_table, "an", _TorchAn())
    monkeypatch.setattr(op_table, "_on", _torch_const)
    monkeypatch.setattr(op_table, "_running", _torch_running)
    monkeypatch.setattr(op_table_surface2, "_const", _torch_const)
    monkeypatch.setattr(op_table_rnn, "_const", _torch_const)


def _twice(lib, fn, xs, w_seed=5):
    """First and second derivatives: g = d<out, w>/dx (create_graph), h = d<g, v>/dx."""
    rng = np.random.default_rng(w_seed)
    if lib == "torch":
        leaf, grad = (lambda x: torch.tensor(x, requires_grad=True)), torch.autograd.grad
        const = torch.tensor
    else:
        leaf, grad = (lambda x: an.Tensor(x, requires_grad=True)), an.autograd.grad
        const = an.Tensor
    ts = [leaf(x) for x in xs]
    out = fn(*ts)
    w = const(rng.standard_normal(tuple(out.shape)))
    g = grad((out * w).sum(), ts, create_graph=True, allow_unused=True)
    vs = [const(rng.standard_normal(x.shape)) for x in xs]
    terms = [(gi * v).sum() for gi, v in zip(g, vs) if gi is not None and gi.requires_grad]
    h = [None] * len(xs)
    if terms:
        h = grad(sum(terms[1:], terms[0]), ts, allow_unused=True)

    def host(t, x):
        return np.zeros_like(x) if t is None else t.detach().numpy(force=True)
    return [host(t, x) for t, x in zip(g, xs)], [host(t, x) for t, x in zip(h, xs)]


@pytest.mark.parametrize("name,fn,ref,shapes,tr", ROWS_FOR_TORCH,
                         ids=[r[0] for r in ROWS_FOR_TORCH])
def test_second_derivatives_match_torch(name, fn, ref, shapes, tr, request):
    xs = make_inputs(shapes, tr, seed=4)
    ours = _twice("an", fn, xs)
    request.getfixturevalue("on_torch")
    theirs = _twice("torch", _TORCH_ROWS.get(name) or _torch_fn(fn), xs)
    for k, (a, b) in enumerate(zip(ours[0] + ours[1], theirs[0] + theirs[1])):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10,
                                   err_msg=f"{name}: {'first' if k < len(xs) else 'second'} "
                                           f"derivative of input {k % len(xs)}")


# ---------------------------------------------------------------- programs
def _rng(seed=0):
    return np.random.default_rng(seed)


def test_needle_second_derivatives():
    # the needle course's test: d2/dx2 of x^3, sin(x), exp(x)*x, log(x) through backward twice
    x0 = np.array([0.7, 1.3, 2.1])
    cases = [(lambda x: x ** 3, lambda x: 6 * x), (lambda x: x.sin(), lambda x: -np.sin(x)),
             (lambda x: x.exp() * x, lambda x: np.exp(x) * (x + 2)),
             (lambda x: x.log(), lambda x: -1 / x ** 2), (lambda x: x.tanh(), None)]
    for f, d2 in cases:
        x = an.Tensor(x0, requires_grad=True)
        (g,) = an.autograd.grad(f(x).sum(), x, create_graph=True)
        (h,) = an.autograd.grad(g.sum(), x)
        xt = torch.tensor(x0, requires_grad=True)
        ft = f(xt) if d2 is not None else xt.tanh()
        (gt,) = torch.autograd.grad(ft.sum(), xt, create_graph=True)
        (ht,) = torch.autograd.grad(gt.sum(), xt)
        np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=0, atol=1e-10)
        if d2 is not None:
            np.testing.assert_allclose(h.numpy(), d2(x0), rtol=1e-12)
    # Tensor.backward(create_graph=True): .grad is in a graph and is differentiated again
    x = an.Tensor(x0, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.grad_fn is not None
    gx = x.grad
    x.grad = None
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x0, rtol=1e-12)


def _mlp_weights(seed=0):
    r = _rng(seed)
    return [r.standard_normal((8, 4)) * 0.5, r.standard_normal(8) * 0.1,
            r.standard_normal((1, 8)) * 0.5, r.standard_normal(1) * 0.1]


def _critic(x, w1, b1, w2, b2, lib):
    act = (lambda h: torch.nn.functional.leaky_relu(h, 0.2)) if lib is torch else \
        (lambda h: an.nn.functional.leaky_relu(h, 0.2))
    h = act(x @ w1.T + b1).tanh()
    return h @ w2.T + b2


@pytest.mark.parametrize("lib", ["an", "torch"])
def test_wgan_gp_gradient_penalty_matches_torch(lib):
    r = _rng(1)
    real, fake, alpha = r.standard_normal((6, 4)), r.standard_normal((6, 4)), r.random((6, 1))
    ws = _mlp_weights()
    results = {}
    for name, L in (("an", an), ("torch", torch)):
        mk = (lambda v, g=False: torch.tensor(v, requires_grad=g)) if L is torch else \
            (lambda v, g=False: an.Tensor(v, requires_grad=g))
        params = [mk(w, True) for w in ws]
        # the published WGAN-GP step: interpolates, critic, gradient of the critic's output
        # w.r.t. the interpolates with create_graph, penalty (||g|| - 1)^2, backward into the
        # critic's weights
        a = mk(alpha)
        interp = (a * mk(real) + (1 - a) * mk(fake))
        interp.requires_grad_(True)
        d = _critic(interp, *params, lib=L)
        grad = L.autograd.grad(outputs=d, inputs=interp,
                               grad_outputs=(torch.ones_like(d) if L is torch
                                             else an.ones_like(d)),
                               create_graph=True, retain_graph=True)[0]
        gp = ((grad.reshape(grad.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean() * 10.0
        loss = d.mean() + gp
        loss.backward()
        results[name] = [float(gp.detach())] + [p.grad.detach().numpy() for p in params]
    np.testing.assert_allclose(results["an"][0], results["torch"][0], rtol=0, atol=1e-10)
    for a, b in zip(results["an"][1:], results["torch"][1:]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_mlp_hessian_vector_product_matches_torch():
    r = _rng(2)
    x, y = r.standard_normal((5, 4)), r.standard_normal((5, 1))
    ws = _mlp_weights(3)
    vs = [r.standard_normal(w.shape) for w in ws]

    def loss_an(*p):
        return ((_critic(an.Tensor(x), *p, lib=an) - an.Tensor(y)) ** 2).mean()

    def loss_torch(*p):
        return ((_critic(torch.tensor(x), *p, lib=torch) - torch.tensor(y)) ** 2).mean()

    ours = AF.hvp(loss_an, tuple(an.Tensor(w) for w in ws), tuple(an.Tensor(v) for v in vs))
    theirs = torch.autograd.functional.hvp(loss_torch, tuple(torch.tensor(w) for w in ws),
                                           tuple(torch.tensor(v) for v in vs))
    assert abs(float(ours[0]) - float(theirs[0])) <= 1e-10
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-10)
    ours_v = AF.vhp(loss_an, tuple(an.Tensor(w) for w in ws), tuple(an.Tensor(v) for v in vs))
    for a, b in zip(ours_v[1], theirs[1]):  # the Hessian is symmetric
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-10)


def test_functional_api_matches_torch():
    x0 = _rng(4).standard_normal(3)
    v0 = _rng(5).standard_normal(3)

    def f(lib):
        return lambda x: (x.sin() * x.exp()).cumsum(0) if lib is an else \
            (x.sin() * x.exp()).cumsum(0)

    def scalar(x):
        return (x.tanh() ** 3).sum()
    for ours, theirs in [
        (AF.jacobian(f(an), an.Tensor(x0)), torch.autograd.functional.jacobian(
            f(torch), torch.tensor(x0))),
        (AF.hessian(scalar, an.Tensor(x0)), torch.autograd.functional.hessian(
            scalar, torch.tensor(x0))),
        (AF.jvp(f(an), an.Tensor(x0), an.Tensor(v0))[1], torch.autograd.functional.jvp(
            f(torch), torch.tensor(x0), torch.tensor(v0))[1]),
        (AF.vjp(f(an), an.Tensor(x0), an.Tensor(v0))[1], torch.autograd.functional.vjp(
            f(torch), torch.tensor(x0), torch.tensor(v0))[1]),
    ]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-10)
    # tuple inputs and outputs keep PyTorch's nesting
    jac = AF.jacobian(lambda a, b: (a * b, a + b), (an.Tensor(x0), an.Tensor(v0)))
    tj = torch.autograd.functional.jacobian(lambda a, b: (a * b, a + b),
                                            (torch.tensor(x0), torch.tensor(v0)))
    assert len(jac) == 2 and all(len(row) == 2 for row in jac)
    for row, trow in zip(jac, tj):
        for a, b in zip(row, trow):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
    # create_graph=False gives results outside any graph; strict mode names the independence
    assert AF.jacobian(f(an), an.Tensor(x0)).grad_fn is None
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.vjp(lambda a, b: a * 2.0, (an.Tensor(x0), an.Tensor(v0)), an.Tensor(v0), strict=True)
    with pytest.raises(RuntimeError, match="single Tensor with a single element"):
        AF.vjp(f(an), an.Tensor(x0))


def test_gradcheck_signature_and_failure():
    x = an.Tensor(_rng(6).standard_normal(4), requires_grad=True)
    assert an.autograd.gradcheck(lambda a: (a * a).sin(), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert an.autograd.gradgradcheck(lambda a: (a * a).sin(), (x,))

    class Wrong(an.autograd.Function):  # backward off by a factor 2
        def forward(self, a):
            return a * a

        def backward(self, g):
            return g * self.parents[0]
    assert not an.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False)
    with pytest.raises(RuntimeError, match="Jacobian mismatch for output 0 with respect to "
                                           "input 0"):
        an.autograd.gradcheck(Wrong.apply, (x,))


# ---------------------------------------------------------------- the walk's guarantees
def test_retain_graph_is_honoured_and_a_second_backward_raises_pytorch_error():
    for L, mk in ((an, lambda: an.Tensor([1.0, 2.0], requires_grad=True)),
                  (torch, lambda: torch.tensor([1.0, 2.0], requires_grad=True))):
        x = mk()
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        first = x.grad.detach().numpy().copy()
        y.backward()  # the retained graph runs again: gradients accumulate
        np.testing.assert_allclose(x.grad.detach().numpy(), 2 * first, rtol=1e-6)
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second "
                                               "time"):
            y.backward()
        z = (x.exp() * x).sum()
        L.autograd.grad(z, x, retain_graph=True)
        L.autograd.grad(z, x)
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            L.autograd.grad(z, x)


def test_backward_without_create_graph_builds_no_nodes():
    made = []
    real_wrap = an.Tensor._wrap.__func__

    def spy(cls, array, dev, requires_grad=False, ctx=None):
        t = real_wrap(cls, array, dev, requires_grad, ctx)
        made.append(t)
        return t
    x = an.Tensor(_rng(7).standard_normal((3, 4)), requires_grad=True)
    w = an.Tensor(_rng(8).standard_normal((4, 2)), requires_grad=True)
    loss = (an.nn.functional.gelu(x @ w).softmax(-1) * (x @ w).tanh()).logsumexp(0).sum()
    an.Tensor._wrap = classmethod(spy)
    try:
        loss.backward()
    finally:
        an.Tensor._wrap = classmethod(real_wrap)
    assert made, "the backward formulas made no Tensors at all"
    assert all(t._ctx is None and not t.requires_grad for t in made)
    # with create_graph the same formulas record nodes
    loss = ((x @ w).tanh() ** 2).sum()
    (g,) = an.autograd.grad(loss, w, create_graph=True)
    assert g.grad_fn is not None and g.requires_grad


def test_allow_unused_and_materialize_grads_as_pytorch():
    x = an.Tensor([1.0, 2.0], requires_grad=True)
    u = an.Tensor([3.0], requires_grad=True)
    y = (x ** 2).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        an.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = an.autograd.grad(y, [x, u], allow_unused=True, retain_graph=True)
    assert gu is None
    gx, gu = an.autograd.grad(y, [x, u], materialize_grads=True, retain_graph=True)
    assert gu.numpy().tolist() == [0.0]
    with pytest.raises(ValueError, match="allow_unused to be True"):
        an.autograd.grad(y, [x, u], allow_unused=False, materialize_grads=True)
    # a gradient that does not depend on x: the second grad of a linear function is unused
    (g,) = an.autograd.grad((x * 3.0).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        an.autograd.grad(g.sum(), x)
    (gg,) = an.autograd.grad((x ** 2).sum(), x, create_graph=True)
    (h,) = an.autograd.grad(gg.sum(), x)
    assert h.numpy().tolist() == [2.0, 2.0]


def test_non_differentiable_op_under_create_graph_raises():
    a = an.Tensor([3.0, 5.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative of floor_divide"):
        an.autograd.grad((a // 2.0).sum(), a, create_graph=True)


def test_weight_changed_under_no_grad_is_fine_when_backward_does_not_read_it():
    # #21: PyTorch's linear saves the weight only when the input needs a gradient
    for mod, L in ((nn, an), (torch.nn, torch)):
        lin = mod.Linear(3, 2).double()
        x = L.ones((4, 3), dtype=L.float64)
        out = lin(x).sum()
        with L.no_grad():
            lin.weight.mul_(0.5)
        out.backward()  # no error: the weight's gradient needs x only
        np.testing.assert_allclose(lin.weight.grad.numpy(), np.full((2, 3), 4.0))
        # with an input that needs a gradient backward reads the weight: refused
        x = L.ones((4, 3), dtype=L.float64, requires_grad=True)
        out = lin(x).sum()
        with L.no_grad():
            lin.weight.mul_(0.5)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


def test_views_share_the_version_counter_as_pytorch():
    w = an.Tensor(np.ones((2, 3)), requires_grad=True)
    wt = w.T
    assert wt._version == w._version
    with an.no_grad():
        w.mul_(2.0)
    assert wt._version == w._version == 1


def test_erfinv_and_sparse_second_derivatives():
    # ops outside the op table: erfinv (the unary family) and sparse @ dense, to_dense
    import arrayneedle.sparse as S
    x = an.Tensor(np.array([0.3, -0.5, 0.8]), requires_grad=True)
    assert an.autograd.gradgradcheck(an.erfinv, (x,), atol=1e-6, rtol=1e-5)
    i = an.tensor(np.array([[0, 1, 2, 2], [1, 0, 2, 0]]))
    v = an.Tensor(np.array([1.0, 2.0, 3.0, -1.0]), requires_grad=True)
    d = an.Tensor(_rng(9).standard_normal((3, 2)), requires_grad=True)

    def spmm(v, d):
        return S.mm(S.sparse_coo_tensor(i, v, (3, 3)), d) ** 2
    assert an.autograd.gradgradcheck(spmm, (v, d), atol=1e-6, rtol=1e-5)
    assert an.autograd.gradgradcheck(
        lambda v: S.sparse_coo_tensor(i, v, (3, 3)).to_dense().tanh(), (v,), atol=1e-6, rtol=1e-5)
