"""The activation kernels (kernels.relu, silu, gelu, sigmoid, tanh and their backwards): float32
NumPy arrays go through oneDNN's eltwise primitive where it loads (kernels/cpu_eltwise.py), the
rest through the NumPy reference kernels. Each is checked against PyTorch (float32 within
PyTorch's own float32 error from a float64 reference, nan and inf where PyTorch defines them),
against the NumPy kernel, on non-contiguous, empty and float64 arrays (those stay on NumPy), and
through the ops and their double backward.

With ARRAYNEEDLE_KERNELS=numpy (or no oneDNN) the same tests check the NumPy kernels."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import arrayneedle as an
from arrayneedle import kernels
from arrayneedle.kernels import cpu_eltwise, onednn
from arrayneedle.kernels.onednn.eltwise import ALGS

ON = kernels.cpu_kernels()["kernels"] == "onednn"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name: (torch function, kernel, its backward, the backward reads the output)
OPS = {
    "relu": (torch.relu, kernels.relu, kernels.relu_backward, True),
    "silu": (F.silu, kernels.silu, kernels.silu_backward, False),
    "gelu": (F.gelu, kernels.gelu, kernels.gelu_backward, False),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), lambda x: kernels.gelu(x, "tanh"),
                  lambda g, x: kernels.gelu_backward(g, x, approximate="tanh"), False),
    "sigmoid": (torch.sigmoid, kernels.sigmoid, kernels.sigmoid_backward, True),
    "tanh": (torch.tanh, kernels.tanh, kernels.tanh_backward, True),
}
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e4, -1e4, 100, -100, 88, -88, 20,
           -20, 9, -9, 1e-30, -1e-30]


def _ours(name, x, g):
    """(y, grad) of our kernels on the float arrays ``x`` and ``g``."""
    _, fwd, bwd, use_out = OPS[name]
    y = fwd(x)
    return y, bwd(g, y if use_out else x)


def _torch(name, x, g):
    t = torch.tensor(x, requires_grad=True)
    y = OPS[name][0](t)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), t.grad.numpy()


def _err(a, ref):
    """Largest error, absolute where |ref| < 1 and relative above."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref) / np.maximum(np.abs(ref), 1)))


def _data(n=40000, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.standard_normal(n // 2) * 4, np.linspace(-12, 12, n // 2)])
    return x.astype(np.float32), rng.standard_normal(n).astype(np.float32)


def _numpy_kernels(monkeypatch):
    monkeypatch.setattr(cpu_eltwise, "ONEDNN", frozenset())


@pytest.mark.parametrize("name", OPS)
def test_float32_within_torchs_error_from_float64(name):
    x, g = _data()
    ref = _torch(name, x.astype(np.float64), g.astype(np.float64))
    tor = _torch(name, x, g)
    for what, a, t, r in zip(("forward", "backward"), _ours(name, x, g), tor, ref):
        assert a.dtype == np.float32 and a.shape == x.shape
        assert _err(a, r) <= 2 * _err(t, r) + 1e-6, (what, _err(a, r), _err(t, r))


@pytest.mark.parametrize("name", OPS)
def test_matches_the_numpy_kernel(name, monkeypatch):
    x, g = _data(seed=1)
    ours = _ours(name, x, g)
    _numpy_kernels(monkeypatch)
    for a, n in zip(ours, _ours(name, x, g)):
        # the two differ by float32 rounding (cancellation where the gradient nears 0)
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-5)


def _same(a, ref):
    """Elementwise: both nan, or equal within float32 error (infinities equal)."""
    close = np.isclose(a, ref, rtol=1e-5, atol=1e-6) | (a == ref)
    return close | (np.isnan(a) & np.isnan(ref))


@pytest.mark.parametrize("numpy_kernels", [False, True], ids=["dispatch", "numpy"])
@pytest.mark.parametrize("name", OPS)
def test_large_values_zeros_nan_and_inf_as_torch(name, numpy_kernels, monkeypatch):
    an.ops.silence_ieee_warnings()  # IEEE results without RuntimeWarning, as on import
    if numpy_kernels:
        _numpy_kernels(monkeypatch)
    x = np.array(SPECIAL, dtype=np.float32)
    g = np.linspace(-1, 1, x.size).astype(np.float32)
    # where PyTorch's float32 and float64 differ (gelu(inf): nan in float32, inf in float64;
    # gelu_tanh's gradient at 1e30: nan in float32, 0 in float64), either is PyTorch's answer
    t32 = _torch(name, x, g)
    t64 = _torch(name, x.astype(np.float64), g.astype(np.float64))
    for what, a, r32, r64 in zip(("forward", "backward"), _ours(name, x, g), t32, t64):
        ok = _same(a, r32) | _same(a, r64)
        assert ok.all(), (what, x[~ok], a[~ok], r32[~ok], r64[~ok])


@pytest.mark.parametrize("name", OPS)
def test_non_contiguous_input_gives_a_contiguous_result(name):
    x, g = _data(24 * 10 * 20, seed=2)
    xs, gs = (a.reshape(24, 10, 20).transpose(2, 0, 1)[:, ::2] for a in (x, g))
    assert not xs.flags.c_contiguous
    y, gx = _ours(name, xs, gs)
    yc, gc = _ours(name, np.ascontiguousarray(xs), np.ascontiguousarray(gs))
    for a, c in ((y, yc), (gx, gc)):
        assert a.shape == xs.shape and a.flags.c_contiguous and a.dtype == np.float32
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name", OPS)
def test_zero_dimensional_arrays_keep_their_shape(name):
    x, g = np.array(-0.75, np.float32), np.array(2.0, np.float32)
    y, gx = _ours(name, x, g)
    assert y.shape == gx.shape == () and y.dtype == gx.dtype == np.float32
    for a, r in zip((y, gx), _torch(name, x, g)):
        np.testing.assert_allclose(a, r, rtol=1e-6, atol=1e-6)
    t = an.tensor(-0.75, requires_grad=True)
    OP_CASES[name][0](t).backward()
    assert t.grad.shape == ()


def _forbid_onednn(monkeypatch):
    def refuse(*args):
        raise AssertionError("oneDNN was called")
    monkeypatch.setattr(onednn, "eltwise_forward", refuse)
    monkeypatch.setattr(onednn, "eltwise_backward", refuse)


@pytest.mark.parametrize("name", OPS)
def test_empty_and_float64_arrays_stay_on_numpy(name, monkeypatch):
    _forbid_onednn(monkeypatch)
    for shape in ((0,), (3, 0, 2)):
        y, gx = _ours(name, np.empty(shape, np.float32), np.empty(shape, np.float32))
        assert y.shape == gx.shape == shape and y.dtype == gx.dtype == np.float32
    x, g = (a.astype(np.float64) for a in _data(2000, seed=3))
    for a, r in zip(_ours(name, x, g), _torch(name, x, g)):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-14)


@pytest.mark.skipif(not ON, reason="oneDNN does not load here: the NumPy kernels computed")
def test_float32_goes_to_onednn_and_falls_back_on_its_errors(monkeypatch):
    x, g = _data(1000, seed=4)
    expected = {name: _ours(name, x, g) for name in OPS}
    calls = []

    def failing(suffix):
        def call(rt, name, *arrays):
            calls.append(name + suffix)
            raise onednn.DnnlError("refused")
        return call
    monkeypatch.setattr(onednn, "eltwise_forward", failing(""))
    monkeypatch.setattr(onednn, "eltwise_backward", failing("_backward"))
    for name in OPS:
        for a, e in zip(_ours(name, x, g), expected[name]):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)
    assert sorted(calls) == sorted(cpu_eltwise.ONEDNN)  # each kernel listed, once


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
@pytest.mark.parametrize("name", ALGS)
def test_every_onednn_algorithm_against_torch(name):
    """Every algorithm of the binding, also those the dispatch keeps on NumPy (tanh)."""
    rt = onednn.runtime()
    x, g = _data(seed=5)
    y = onednn.eltwise_forward(rt, name, x)
    gx = onednn.eltwise_backward(rt, name, g, y if ALGS[name][3] else x)
    ref = _torch(name, x.astype(np.float64), g.astype(np.float64))
    tor = _torch(name, x, g)
    for a, t, r in zip((y, gx), tor, ref):
        assert _err(a, r) <= 2 * _err(t, r) + 1e-6, (_err(a, r), _err(t, r))


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
def test_relu_with_nan_input_stays_on_numpy_and_keeps_nan(monkeypatch):
    _forbid_onednn(monkeypatch)  # oneDNN's ReLU would give 0 for nan
    x = np.array([[1.0, np.nan], [-2.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(kernels.relu(x), [[1.0, np.nan], [0.0, 3.0]])


OP_CASES = {
    "relu": (an.nn.functional.relu, F.relu),
    "silu": (an.nn.functional.silu, F.silu),
    "gelu": (an.nn.functional.gelu, F.gelu),
    "gelu_tanh": (lambda t: an.nn.functional.gelu(t, approximate="tanh"),
                  lambda t: F.gelu(t, approximate="tanh")),
    "sigmoid": (an.sigmoid, torch.sigmoid),
    "tanh": (an.tanh, torch.tanh),
}


@pytest.mark.parametrize("name", OP_CASES)
def test_ops_float32_and_their_double_backward_match_torch(name):
    ours_fn, torch_fn = OP_CASES[name]
    x, g = _data(2 * 3 * 8 * 8, seed=6)
    x, g = x.reshape(2, 3, 8, 8), g.reshape(2, 3, 8, 8)
    a = an.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    ya, yt = ours_fn(a), torch_fn(t)
    # first backward without a graph (the kernels), then with one (the formulas)
    (ga,) = an.autograd.grad(ya, a, an.tensor(g))
    (gt,) = torch.autograd.grad(yt, t, torch.tensor(g), create_graph=True)
    np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ga.numpy(), gt.detach().numpy(), rtol=1e-5, atol=1e-5)
    (gg,) = an.autograd.grad(ours_fn(a), a, an.tensor(g), create_graph=True)
    np.testing.assert_allclose(gg.detach().numpy(), ga.numpy(), rtol=1e-5, atol=1e-5)
    if name == "relu":
        return  # the second derivative is 0 and does not reach x in either library
    (hh,) = an.autograd.grad((gg * gg).sum(), a)
    (ht,) = torch.autograd.grad((gt * gt).sum(), t)
    np.testing.assert_allclose(hh.numpy(), ht.numpy(), rtol=1e-4, atol=1e-4)


def test_environment_variable_forces_numpy_and_the_kernels_still_match():
    code = ("import numpy as np; from arrayneedle import kernels; "
            "x = np.linspace(-5, 5, 10001, dtype=np.float32); "
            "g32 = kernels.gelu_backward(np.ones_like(x), x); "
            "g64 = kernels.gelu_backward(np.ones(x.shape), x.astype(np.float64)); "
            "print(kernels.cpu_kernels()['kernels'], g32.dtype, float(np.abs(g32 - g64).max()))")
    env = dict(os.environ, ARRAYNEEDLE_KERNELS="numpy", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    path, dtype, err = out.stdout.split()
    assert (path, dtype) == ("numpy", "float32") and float(err) < 1e-6
