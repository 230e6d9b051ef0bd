"""Elementwise activations through oneDNN's eltwise primitive: forward and backward on
C-contiguous float32 arrays of any shape, described as one flat dimension (tag ``a``), so no
reorder ever runs and the output has the input's shape. Descriptors are cached per algorithm
and element count.

The algorithms (``ALGS``) by the kernel contract's names: ``relu`` (backward from the output,
``relu_use_dst_for_bwd``), ``silu`` (``swish`` with alpha 1), ``gelu`` (``gelu_erf``) and
``gelu_tanh``, ``sigmoid`` (``logistic``, backward from the output) and ``tanh`` (backward
from the output)."""
from __future__ import annotations

import numpy as np

from . import _lib as L
from ._core import execute

# name: (forward algorithm, backward algorithm, alpha, backward reads the output)
ALGS = {
    "relu": (L.ELTWISE_RELU_USE_DST, L.ELTWISE_RELU_USE_DST, 0.0, True),
    "silu": (L.ELTWISE_SWISH, L.ELTWISE_SWISH, 1.0, False),
    "gelu": (L.ELTWISE_GELU_ERF, L.ELTWISE_GELU_ERF, 0.0, False),
    "gelu_tanh": (L.ELTWISE_GELU_TANH, L.ELTWISE_GELU_TANH, 0.0, False),
    "sigmoid": (L.ELTWISE_LOGISTIC_USE_DST, L.ELTWISE_LOGISTIC_USE_DST, 0.0, True),
    "tanh": (L.ELTWISE_TANH_USE_DST, L.ELTWISE_TANH_USE_DST, 0.0, True),
}


def _forward_pd(e, alg, alpha, md):
    return e.pd("eltwise_forward", e.lib.dnnl_eltwise_forward_primitive_desc_create,
                L.FORWARD_TRAINING, alg, md, md, alpha, 0.0, e.rt.attr)


def _build_forward(name, n):
    alg, _, alpha, _ = ALGS[name]

    def build(e):
        e.md_ = e.md((n,), L.TAG_A)
        pd = _forward_pd(e, alg, alpha, e.md_)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def _build_backward(name, n):
    alg, bwd_alg, alpha, _ = ALGS[name]

    def build(e):
        e.md_ = md = e.md((n,), L.TAG_A)
        hint = _forward_pd(e, alg, alpha, md)
        pd = e.pd("eltwise_backward", e.lib.dnnl_eltwise_backward_primitive_desc_create,
                  bwd_alg, md, md, md, alpha, 0.0, hint, e.rt.attr)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def eltwise_forward(rt, name, x):
    """``name`` (a key of ``ALGS``) of the C-contiguous float32 array ``x``, a new array."""
    e = rt.cached(("eltwise_fwd", name, x.size), _build_forward(name, x.size))
    y = np.empty(x.shape, dtype=x.dtype)
    execute(rt, e.prim, [(L.ARG_SRC, e.md_, x), (L.ARG_DST, e.md_, y)], e.scratch)
    return y


def eltwise_backward(rt, name, g, data):
    """The gradient ``g * f'`` of ``name``, where ``data`` is the forward's output for the
    algorithms whose backward reads it (``ALGS[name][3]``: relu, sigmoid, tanh), else its
    input; C-contiguous float32 arrays of one shape, a new array."""
    e = rt.cached(("eltwise_bwd", name, g.size), _build_backward(name, g.size))
    gx = np.empty(g.shape, dtype=g.dtype)
    arg = L.ARG_DST if ALGS[name][3] else L.ARG_SRC
    execute(rt, e.prim, [(arg, e.md_, data), (L.ARG_DIFF_DST, e.md_, g),
                         (L.ARG_DIFF_SRC, e.md_, gx)], e.scratch)
    return gx
