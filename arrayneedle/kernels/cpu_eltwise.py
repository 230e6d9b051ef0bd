"""NumPy activation kernels (the references) and the choice between them and oneDNN's eltwise
primitive (``onednn/eltwise.py``), re-exported by ``cpu.py``.

Each NumPy kernel maps flat ranges of C-ordered arrays in parallel (``parallel_for``), a few
passes per range while it is in cache; float32 stays float32. A kernel goes to oneDNN only
where it measured faster (``ONEDNN``; figures in BENCHMARKS.md, "Kernels and ops") and the arrays
are non-empty float32; a DnnlError falls back to the NumPy kernel."""
from __future__ import annotations

import math

import numpy as np

from . import onednn
from ._parallel import parallel_for

# the kernels oneDNN computes where it loads (ALGS names of onednn/eltwise.py, "_backward"
# for the gradient); sigmoid's backward and tanh stay on NumPy, where oneDNN was not faster
# at the UNet's sizes (memory-bound: one read of y and g either way; BENCHMARKS.md)
ONEDNN = frozenset({"relu", "relu_backward", "silu", "silu_backward", "gelu", "gelu_backward",
                    "gelu_tanh", "gelu_tanh_backward", "sigmoid"})
_K_TANH = math.sqrt(2 / math.pi)
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _map(fn, out, *arrays):
    """``fn(out_range, *array_ranges)`` over flat ranges of ``out`` (C order) and ``arrays``
    (any layout, ``out``'s shape), in parallel; returns ``out``."""
    flats = [a.reshape(-1) for a in arrays]  # a copy only where an input is not C-contiguous
    oflat = out.reshape(-1)

    def part(lo, hi):
        fn(oflat[lo:hi], *(f[lo:hi] for f in flats))

    parallel_for(oflat.shape[0], part, out.nbytes)
    return out


def _onednn(kernel, *arrays):
    """The runtime where oneDNN computes ``kernel`` (a name in ``ONEDNN``) on ``arrays``, else
    None."""
    return onednn.usable(*arrays) if kernel in ONEDNN else None


def _c(a):
    """``a`` as a C-contiguous array of its own shape (np.ascontiguousarray makes a 0-d array
    1-d)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _forward(name, x, numpy_kernel):
    rt = _onednn(name, x)
    if rt is not None:
        try:
            return onednn.eltwise_forward(rt, name, _c(x))
        except onednn.DnnlError:
            pass
    return _map(numpy_kernel, np.empty(x.shape, dtype=x.dtype), x)


def _backward(name, g, data, numpy_kernel):
    rt = _onednn(name + "_backward", g, data)
    if rt is not None:
        try:
            return onednn.eltwise_backward(rt, name, _c(g), _c(data))
        except onednn.DnnlError:
            pass
    return _map(numpy_kernel, np.empty(g.shape, dtype=g.dtype), g, data)


# ---------------------------------------------------------------- ReLU
def _relu(o, x):
    # maximum against a 0-d zero of x's dtype (a Python 0 misses NumPy's vectorised loop);
    # nan stays nan
    np.maximum(x, np.zeros((), dtype=x.dtype), out=o)


def _relu_backward(o, g, y):
    # g * mask, not where(mask, g, 0): NumPy's where branches per element, which a random mask
    # makes slow (the two differ only where the mask is 0 and g is inf or nan: nan here, 0
    # there). The mask is not (y <= 0), as PyTorch's: a nan output passes g (so does oneDNN)
    mask = np.less_equal(y, 0)
    np.logical_not(mask, out=mask)
    np.multiply(g, mask, out=o)


def relu(x):
    """``max(x, 0)`` (nan stays nan) as a new C-contiguous array. oneDNN's ReLU maps nan to 0:
    an input holding nan (its maximum is nan: one read pass) stays on NumPy."""
    if _onednn("relu", x) is not None and np.isnan(np.max(x)):
        return _map(_relu, np.empty(x.shape, dtype=x.dtype), x)
    return _forward("relu", x, _relu)


def relu_backward(g, y):
    """``g`` where the ReLU output ``y`` is not ``<= 0`` (nan included, as PyTorch), else 0."""
    return _backward("relu", g, y, _relu_backward)


# ---------------------------------------------------------------- SiLU
def _sigmoid_into(s, x):
    # 0.5 * (1 + tanh(x / 2)): one transcendental, no overflow for large |x|
    np.multiply(x, 0.5, out=s)
    np.tanh(s, out=s)
    s += 1
    s *= 0.5
    return s


def _silu(o, x):
    np.multiply(x, _sigmoid_into(np.empty_like(o), x), out=o)


def _silu_backward(o, g, x):
    s = _sigmoid_into(np.empty_like(o), x)
    np.subtract(1, s, out=o)          # 1 - s
    o *= x                            # x (1 - s)
    o += 1
    o *= s                            # s (1 + x (1 - s))
    o *= g


def silu(x):
    """``x * sigmoid(x)``."""
    return _forward("silu", x, _silu)


def silu_backward(g, x):
    """``g * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)``, for the SiLU input ``x``."""
    return _backward("silu", g, x, _silu_backward)


# ---------------------------------------------------------------- sigmoid and tanh
def _sigmoid(o, x):
    _sigmoid_into(o, x)


def _sigmoid_backward(o, g, y):
    np.subtract(1, y, out=o)
    o *= y
    o *= g                            # g y (1 - y)


def _tanh(o, x):
    np.tanh(x, out=o)


def _tanh_backward(o, g, y):
    np.multiply(y, y, out=o)
    np.subtract(1, o, out=o)
    o *= g                            # g (1 - y^2)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return _forward("sigmoid", x, _sigmoid)


def sigmoid_backward(g, y):
    """``g * y * (1 - y)`` for the sigmoid output ``y``."""
    return _backward("sigmoid", g, y, _sigmoid_backward)


def tanh(x):
    return _forward("tanh", x, _tanh)


def tanh_backward(g, y):
    """``g * (1 - y * y)`` for the tanh output ``y``."""
    return _backward("tanh", g, y, _tanh_backward)


# ---------------------------------------------------------------- GELU
def _cdf(x):
    from ..ops.special import erf_array  # (ops imports kernels: imported at first use)
    c = erf_array(x * x.dtype.type(_INV_SQRT2))
    c += 1
    c *= 0.5
    return c


def _gelu(o, x):
    np.multiply(x, _cdf(x), out=o)


def _gelu_backward(o, g, x):
    pdf = np.multiply(x, x)
    pdf *= -0.5
    np.exp(pdf, out=pdf)
    pdf *= _INV_SQRT_2PI
    np.multiply(x, pdf, out=o)
    o += _cdf(x)                      # cdf + x pdf
    o *= g


def _tanh_inner(x):
    t = np.multiply(x, x)
    t *= 0.044715
    t += 1
    t *= x
    t *= _K_TANH
    return np.tanh(t, out=t)          # tanh(k (x + 0.044715 x^3))


def _gelu_tanh(o, x):
    t = _tanh_inner(x)
    t += 1
    t *= 0.5
    np.multiply(x, t, out=o)


def _gelu_tanh_backward(o, g, x):
    t = _tanh_inner(x)
    inner = np.multiply(x, x)
    inner *= 3 * 0.044715
    inner += 1
    inner *= _K_TANH                  # k (1 + 3 * 0.044715 x^2)
    np.multiply(t, t, out=o)
    np.subtract(1, o, out=o)
    o *= x
    o *= inner                        # x (1 - t^2) inner
    t += 1
    o += t
    o *= 0.5                          # 0.5 (1 + t) + 0.5 x (1 - t^2) inner
    o *= g


def gelu(x, approximate="none"):
    """``x * Phi(x)`` (``approximate="none"``) or PyTorch's tanh approximation (``"tanh"``)."""
    if approximate == "tanh":
        return _forward("gelu_tanh", x, _gelu_tanh)
    return _forward("gelu", x, _gelu)


def gelu_backward(g, x, approximate="none"):
    """The gradient of ``gelu`` for its input ``x``."""
    if approximate == "tanh":
        return _backward("gelu_tanh", g, x, _gelu_tanh_backward)
    return _backward("gelu", g, x, _gelu_backward)
