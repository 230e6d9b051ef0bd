"""Softmax along one axis through oneDNN's softmax primitive (``softmax_accurate``), forward
and backward, on C-contiguous float32 arrays of any rank. An array is described as
``(outer, n)`` (the axis last) or ``(outer, n, inner)``, plain layouts (no reorder, the output
has the input's shape), so descriptors are cached per those two or three sizes. oneDNN's
vectorised kernel (``jit:avx512_core`` & co.) takes only a contiguous axis (the last); on a
strided one it runs its reference kernel (``ref:any``, tens of times slower than NumPy).

What oneDNN computes differently from PyTorch (``kernels/cpu_softmax.py`` keeps those inputs
on NumPy): its running maximum starts at ``-FLT_MAX`` and ``vmaxps`` drops nan, and its exp
clamps its argument, so a row holding nan or ``+inf`` comes out finite (PyTorch: nan)."""
from __future__ import annotations

import math

import numpy as np

from . import _lib as L
from ._core import execute


def collapsed(shape, axis):
    """``(outer, n, inner)``: ``shape`` as three dimensions, ``axis`` the middle one."""
    return (math.prod(shape[:axis]), int(shape[axis]), math.prod(shape[axis + 1:]))


def _forward_pd(e, dims):
    e.md_ = e.md(dims, L.plain_tag(len(dims)))
    return e.pd("softmax_forward", e.lib.dnnl_softmax_forward_primitive_desc_create,
                L.FORWARD_TRAINING, L.SOFTMAX_ACCURATE, e.md_, e.md_, 1, e.rt.attr)


def _build(backward, dims):
    def build(e):
        pd = _forward_pd(e, dims)
        if backward:
            pd = e.pd("softmax_backward", e.lib.dnnl_softmax_backward_primitive_desc_create,
                      L.SOFTMAX_ACCURATE, e.md_, e.md_, e.md_, 1, pd, e.rt.attr)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def entry(rt, shape, axis, backward=False):
    """The cached primitive (``.prim``, ``.name``: the implementation oneDNN chose) for
    ``shape`` along ``axis``."""
    dims = collapsed(shape, axis)
    if dims[2] == 1:
        dims = dims[:2]
    return rt.cached(("softmax", bool(backward), dims), _build(bool(backward), dims))


def softmax_forward(rt, x, axis):
    """softmax of the C-contiguous float32 ``x`` along ``axis`` (a non-negative int), a new
    array."""
    e = entry(rt, x.shape, axis)
    y = np.empty(x.shape, dtype=x.dtype)
    execute(rt, e.prim, [(L.ARG_SRC, e.md_, x), (L.ARG_DST, e.md_, y)], e.scratch)
    return y


def softmax_backward(rt, g, y, axis):
    """The input gradient from the output gradient ``g`` and the forward's output ``y``,
    ``y * (g - sum(g * y))`` with the sum along ``axis``; C-contiguous float32 arrays of one
    shape, a new array."""
    e = entry(rt, g.shape, axis, backward=True)
    gx = np.empty(g.shape, dtype=g.dtype)
    execute(rt, e.prim, [(L.ARG_DST, e.md_, y), (L.ARG_DIFF_DST, e.md_, g),
                         (L.ARG_DIFF_SRC, e.md_, gx)], e.scratch)
    return gx
