"""kernels.softmax and kernels.softmax_backward: float32 NumPy arrays softmaxed along their last
axis go through oneDNN's softmax primitive where it loads (kernels/cpu_softmax.py), the rest
through the NumPy kernels; other array libraries through the array-API reference
(kernels/portable.py). Each is checked against PyTorch (float32 within PyTorch's own float32
error from a float64 reference; nan where PyTorch gives nan), against the NumPy kernel, on
the UNet attention's shape, a middle axis, large values, -inf entries and rows of -inf, nan and
+inf, non-contiguous, empty and float64 arrays, and through the op with its double backward.

With ARRAYNEEDLE_KERNELS=numpy (or no oneDNN) the same tests check the NumPy kernels."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle import kernels
from arrayneedle.kernels import cpu_softmax, onednn, portable

ON = kernels.cpu_kernels()["kernels"] == "onednn"
ATTENTION = (12, 4, 64, 64)  # the residual UNet's attention matrices (batch, heads, L, S)
# (shape, axis): the attention's last axis (oneDNN), its middle axis (NumPy), a small array
# (NumPy), long rows and a 3-D middle axis
EPS = float(np.finfo(np.float32).eps)
CASES = [(ATTENTION, -1), (ATTENTION, 2), ((64, 10), -1), ((3, 3000), 1), ((3, 5, 7), 1)]


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal(shape) * 4).astype(np.float32),
            rng.standard_normal(shape).astype(np.float32))


def _ours(x, g, axis):
    y = kernels.softmax(x, axis)
    return y, kernels.softmax_backward(g, y, axis)


def _torch(x, g, axis):
    t = torch.tensor(x, requires_grad=True)
    y = torch.softmax(t, axis)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


def _numpy_kernels(monkeypatch):
    monkeypatch.setattr(cpu_softmax, "MIN_FORWARD", 1 << 62)
    monkeypatch.setattr(cpu_softmax, "MIN_BACKWARD", 1 << 62)


def _forbid_onednn(monkeypatch):
    def refuse(*args):
        raise AssertionError("oneDNN was called")
    monkeypatch.setattr(onednn, "softmax_forward", refuse)
    monkeypatch.setattr(onednn, "softmax_backward", refuse)


def _count_onednn(monkeypatch):
    calls = []

    def spy(name):
        kernel = getattr(onednn, name)

        def call(*args):
            calls.append(name)
            return kernel(*args)
        return call
    for name in ("softmax_forward", "softmax_backward"):
        monkeypatch.setattr(onednn, name, spy(name))
    return calls


@pytest.mark.parametrize("shape,axis", CASES)
def test_float32_within_torchs_error_from_float64(shape, axis):
    x, g = _data(shape)
    ref = _torch(x.astype(np.float64), g.astype(np.float64), axis)
    tor = _torch(x, g, axis)
    y, gx = _ours(x, g, axis)
    for a in (y, gx):
        assert a.dtype == np.float32 and a.shape == x.shape and a.flags.c_contiguous
    # each probability to PyTorch's relative error (a few ulp: no cancellation here)
    rel, trel = (np.max(np.abs(v - ref[0]) / ref[0]) for v in (y, tor[0]))
    assert rel <= 2 * trel + 1e-7, (rel, trel)
    # the gradient (a difference) to PyTorch's absolute error, or two ulp of its largest
    err, terr = (np.max(np.abs(v - ref[1])) for v in (gx, tor[1]))
    assert err <= 2 * terr + 2 * EPS * np.max(np.abs(ref[1])), (err, terr)


@pytest.mark.parametrize("shape,axis", CASES)
def test_matches_the_numpy_kernel(shape, axis, monkeypatch):
    x, g = _data(shape, seed=1)
    ours = _ours(x, g, axis)
    _numpy_kernels(monkeypatch)
    # the gradients differ by float32 cancellation in g - sum(g * y) where a y nears 1
    for a, n, atol in zip(ours, _ours(x, g, axis), (1e-7, 2e-6)):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=atol)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here: the NumPy kernels computed")
def test_which_arrays_go_to_onednn(monkeypatch):
    calls = _count_onednn(monkeypatch)
    x, g = _data(ATTENTION)
    _ours(x, g, -1)
    _ours(x, g, 3)
    assert calls == ["softmax_forward", "softmax_backward"] * 2
    calls.clear()
    _ours(x, g, 2)                                 # a strided axis: oneDNN's scalar kernel
    _ours(*_data((64, 10)), -1)                    # small: a oneDNN call costs more
    _ours(x.astype(np.float64), g.astype(np.float64), -1)
    assert calls == []
    _ours(x[..., ::2], g[..., ::2], -1)            # not contiguous: copied for oneDNN
    assert calls == ["softmax_forward", "softmax_backward"]


SPECIAL_ROWS = {
    "large": [1e4, -1e4, 0.0, 1e4, 5e3, -3e38, 3e38, 1.0],
    "minus inf entries": [-np.inf, 0.0, 1.0, -np.inf, 2.0, -np.inf, 3.0, 0.5],
    "all minus inf": [-np.inf] * 8,
    "equal": [-1e4] * 8,
}
NAN_ROWS = {
    "nan": [np.nan, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    "plus inf": [np.inf, 0.0, 1.0, -np.inf, 2.0, 3.0, 4.0, 5.0],
    "two plus inf": [np.inf, np.inf, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
}


def _special(rows, n=64):
    """(n, 8) float32 inputs: ``rows`` first, then ordinary rows (large enough for oneDNN)."""
    x, g = _data((n, 8), seed=2)
    x[:len(rows)] = np.array(list(rows.values()), dtype=np.float32)
    return x, g


def _same(a, ref, atol=1e-7):
    """Elementwise: both nan, or equal within float32 error (``atol``: 2e-6 for gradients,
    whose g - sum(g * y) cancels where a y nears 1)."""
    close = np.isclose(a, ref, rtol=1e-5, atol=atol) | (a == ref)
    return close | (np.isnan(a) & np.isnan(ref))


@pytest.mark.parametrize("numpy_kernels", [False, True], ids=["dispatch", "numpy"])
@pytest.mark.parametrize("rows", [SPECIAL_ROWS, NAN_ROWS], ids=["finite_max", "nan_or_inf"])
def test_large_values_inf_and_nan_as_torch(rows, numpy_kernels, monkeypatch):
    an.ops.silence_ieee_warnings()  # IEEE results without RuntimeWarning, as on import
    if numpy_kernels:
        _numpy_kernels(monkeypatch)
    calls = _count_onednn(monkeypatch)
    x, g = _special(rows, n=512)  # 4096 elements: the forward's size for oneDNN
    g[len(rows)] = [np.nan, np.inf, 0, 1, 2, 3, 4, 5]  # a gradient row holding nan and inf
    for what, a, r, atol in zip(("forward", "backward"), _ours(x, g, 1), _torch(x, g, 1),
                                (1e-7, 2e-6)):
        ok = _same(a, r, atol)
        assert ok.all(), (what, x[~ok.all(1)], a[~ok.all(1)], r[~ok.all(1)])
    for i, name in enumerate(rows):
        if name.startswith("all minus") or name in NAN_ROWS:
            assert np.isnan(kernels.softmax(x, 1)[i]).all(), name  # PyTorch's nan row
    # oneDNN takes the forward where the maximum is finite (its nan and +inf rows differ)
    expected = ON and not numpy_kernels and rows is SPECIAL_ROWS
    assert ("softmax_forward" in calls) == expected


def test_backward_on_the_attention_shape_as_torch_with_nan_and_inf_gradients():
    an.ops.silence_ieee_warnings()
    x, g = _data(ATTENTION, seed=3)
    g[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    g[0, 0, 1, 5] = np.inf
    y = kernels.softmax(x, -1)
    t = torch.tensor(x, requires_grad=True)
    torch.softmax(t, -1).backward(torch.tensor(g))
    assert _same(kernels.softmax_backward(g, y, -1), t.grad.numpy(), 2e-6).all()


def test_non_contiguous_input_gives_a_contiguous_result():
    x, g = _data((24, 10, 300), seed=4)
    xs, gs = (a.transpose(1, 0, 2)[:, ::2] for a in (x, g))
    assert not xs.flags.c_contiguous
    for axis in (-1, 0, 1):
        y, gx = _ours(xs, gs, axis)
        yc, gc = _ours(np.ascontiguousarray(xs), np.ascontiguousarray(gs), axis)
        for a, c in ((y, yc), (gx, gc)):
            assert a.shape == xs.shape and a.flags.c_contiguous and a.dtype == np.float32
            np.testing.assert_array_equal(a, c)


def test_empty_and_float64_arrays_stay_on_numpy(monkeypatch):
    _forbid_onednn(monkeypatch)
    for shape in ((0, 5), (5, 0), (3, 0, 2)):
        for axis in range(len(shape)):
            e = np.empty(shape, np.float32)
            y, gx = _ours(e, e, axis)
            assert y.shape == gx.shape == shape and y.dtype == gx.dtype == np.float32
    x, g = (a.astype(np.float64) for a in _data((40, 3000), seed=5))
    for a, r in zip(_ours(x, g, -1), _torch(x, g, -1)):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-15)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
def test_onednn_errors_fall_back_to_numpy(monkeypatch):
    x, g = _data(ATTENTION, seed=6)
    expected = _ours(x, g, -1)
    calls = []

    def failing(*args):
        calls.append(len(args))
        raise onednn.DnnlError("refused")
    monkeypatch.setattr(onednn, "softmax_forward", failing)
    monkeypatch.setattr(onednn, "softmax_backward", failing)
    for a, e, atol in zip(_ours(x, g, -1), expected, (1e-7, 2e-6)):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=atol)
    assert calls == [3, 4]


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
@pytest.mark.parametrize("shape,axis", [((4, 4, 16, 16), 3), ((6, 33, 5), 1), ((7, 9), 0)])
def test_the_binding_on_any_axis_against_torch(shape, axis):
    """The binding itself, also on the axes the dispatch keeps on NumPy (its ``ref:any``)."""
    rt = onednn.runtime()
    x, g = _data(shape, seed=7)
    y = onednn.softmax_forward(rt, x, axis)
    gx = onednn.softmax_backward(rt, g, y, axis)
    ref = _torch(x.astype(np.float64), g.astype(np.float64), axis)
    for a, t, r in zip((y, gx), _torch(x, g, axis), ref):
        assert np.max(np.abs(a - r)) <= 2 * np.max(np.abs(t - r)) + 1e-9


def test_axis_and_shape_errors():
    x = np.zeros((2, 3), np.float32)
    for axis in (2, -3, 1.0, True):
        with pytest.raises(ValueError, match="softmax: axis must be an int"):
            kernels.softmax(x, axis)
    with pytest.raises(ValueError, match="softmax_backward: g has shape"):
        kernels.softmax_backward(x, np.zeros((3, 2), np.float32), 1)


def test_array_api_reference_on_array_api_strict():
    xps = pytest.importorskip("array_api_strict")
    x, g = _special({**SPECIAL_ROWS, **NAN_ROWS}, n=12)
    for axis in (0, 1):
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, 3e38 + 3e38
            y = portable.softmax(xps.asarray(x), axis)
            gx = portable.softmax_backward(xps.asarray(g), y, axis)
        for a, r, atol in zip((y, gx), _torch(x, g, axis), (1e-7, 2e-6)):
            assert _same(np.asarray(a), r, atol).all()


@pytest.mark.parametrize("axis", [-1, 1])
def test_op_float32_and_its_double_backward_match_torch(axis):
    x, g = _data((2, 4, 16, 16), seed=8)
    a, t = an.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = an.softmax(a, axis), torch.softmax(t, axis)
    np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-7)
    # first backward without a graph (the kernels), then with one (the formula)
    (ga,) = an.autograd.grad(ya, a, an.tensor(g))
    (gt,) = torch.autograd.grad(yt, t, torch.tensor(g), create_graph=True)
    np.testing.assert_allclose(ga.numpy(), gt.detach().numpy(), rtol=1e-5, atol=2e-6)
    (gg,) = an.autograd.grad(an.softmax(a, axis), a, an.tensor(g), create_graph=True)
    np.testing.assert_allclose(gg.detach().numpy(), ga.numpy(), rtol=1e-5, atol=2e-6)
    (hh,) = an.autograd.grad((gg * gg).sum(), a)
    (ht,) = torch.autograd.grad((gt * gt).sum(), t)
    np.testing.assert_allclose(hh.numpy(), ht.numpy(), rtol=1e-4, atol=1e-4)


def test_op_on_rows_of_minus_inf_nan_and_plus_inf_as_torch():
    an.ops.silence_ieee_warnings()
    x, g = _special({**SPECIAL_ROWS, **NAN_ROWS}, n=300)
    a, t = an.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yt = an.softmax(a, dim=-1), torch.softmax(t, dim=-1)
    ya.backward(an.tensor(g))
    yt.backward(torch.tensor(g))
    assert _same(ya.detach().numpy(), yt.detach().numpy()).all()
    assert _same(a.grad.numpy(), t.grad.numpy(), 2e-6).all()
