"""Softmax along one axis on NumPy arrays: oneDNN's softmax primitive (``onednn/softmax.py``)
or NumPy, re-exported by ``cpu.py``.

oneDNN computes where it measured faster (BENCHMARKS.md, "Kernels and ops"): float32 arrays
of at least ``MIN_FORWARD`` / ``MIN_BACKWARD`` elements whose softmax axis is the last one
of more than one element (on another axis oneDNN runs its scalar reference kernel, tens of
times slower than NumPy). Its forward would make a row holding nan or ``+inf`` finite
(PyTorch: all nan), so an input whose maximum is not finite (``np.max``: one read pass, 7-10%
of a oneDNN call) stays on NumPy; its backward is plain arithmetic and agrees with PyTorch on
nan and inf. A DnnlError falls back to NumPy.

The NumPy kernels view the array as (outer, n, inner) and run their passes in place on
slices of whole rows, in parallel (``parallel_for``); float32 stays float32."""
from __future__ import annotations

import numpy as np

from . import onednn
from ._parallel import parallel_for
from .cpu_eltwise import _c
from .onednn.softmax import collapsed

# the smallest arrays (elements) oneDNN computes: below them its ~15 us per call lose to NumPy
MIN_FORWARD = 4096
MIN_BACKWARD = 8192


def _rt(axis, min_size, *arrays):
    a = arrays[0]
    if a.size < min_size or axis != a.ndim - 1 or a.shape[axis] < 2:
        return None
    return onednn.usable(*arrays)


def _rows(fn, out, axis, *arrays):
    """``fn(out_slice, *array_slices)`` over slices of whole rows of ``out`` and ``arrays``
    (``out``'s shape) viewed as (outer, n, inner), in parallel; returns ``out``."""
    if out.size == 0:
        return out
    shape = collapsed(out.shape, axis)
    views = [a.reshape(shape) for a in arrays]  # a copy only where an input is not contiguous
    o3 = out.reshape(shape)

    def part(lo, hi):
        fn(o3[lo:hi], *(v[lo:hi] for v in views))

    parallel_for(shape[0], part, out.nbytes)
    return out


def _softmax(o, x):
    # exp(x - max) / sum: no mapping of an infinite max, so that a row of -inf, one holding
    # +inf and one holding nan are each all nan, as PyTorch's
    np.subtract(x, np.max(x, axis=1, keepdims=True), out=o)
    np.exp(o, out=o)
    o /= np.sum(o, axis=1, keepdims=True)


def _softmax_backward(o, g, y):
    np.multiply(g, y, out=o)
    np.subtract(g, np.sum(o, axis=1, keepdims=True), out=o)
    o *= y                            # y (g - sum(g y))


def softmax(x, axis):
    """softmax of ``x`` along ``axis`` (non-negative), a new C-contiguous array."""
    rt = _rt(axis, MIN_FORWARD, x)
    if rt is not None and np.isfinite(np.max(x)):
        try:
            return onednn.softmax_forward(rt, _c(x), axis)
        except onednn.DnnlError:
            pass
    return _rows(_softmax, np.empty(x.shape, dtype=x.dtype), axis, x)


def softmax_backward(g, y, axis):
    """``y * (g - sum(g * y, axis))`` for the softmax output ``y``."""
    rt = _rt(axis, MIN_BACKWARD, g, y)
    if rt is not None:
        try:
            return onednn.softmax_backward(rt, _c(g), _c(y), axis)
        except onednn.DnnlError:
            pass
    dtype = np.result_type(g, y)
    return _rows(_softmax_backward, np.empty(g.shape, dtype=dtype), axis, g, y)
