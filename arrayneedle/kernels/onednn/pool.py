"""Max-pooling through oneDNN's pooling primitive, in plain NCHW layouts so that its workspace
(u8, the flat tap ``i*kw + j`` of each window's maximum, in the output's layout) is the
kernel contract's ``arg`` as it is: the NumPy and oneDNN kernels read each other's ``arg``."""
from __future__ import annotations

import numpy as np

from . import _lib as L
from ._core import dims, execute

MAX_TAPS = 127  # the contract's int8 arg; larger windows stay on NumPy


def _pool_geometry(kernel_size, stride, padding):
    return (dims(stride), dims(kernel_size), dims((0, 0)), dims(padding), dims(padding))


def _build_forward(x_shape, y_shape, geom, training):
    def build(e):
        pd = e.pd("pooling_forward", e.lib.dnnl_pooling_forward_primitive_desc_create,
                  L.FORWARD_TRAINING if training else L.FORWARD_INFERENCE, L.POOLING_MAX,
                  e.md(x_shape, L.TAG_NCHW), e.md(y_shape, L.TAG_NCHW), *geom, e.rt.attr)
        e.pd_fwd = pd
        e.src, e.dst = e.query(pd, L.QUERY_SRC), e.query(pd, L.QUERY_DST)
        e.ws = e.query(pd, L.QUERY_WORKSPACE) if training else None
        if e.ws is not None and e.lib.dnnl_memory_desc_get_size(e.ws) != int(np.prod(y_shape)):
            raise L.DnnlError("pooling workspace is not one byte per output element")
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def maxpool_forward(rt, x, y_shape, kernel_size, stride, padding, with_arg):
    """``(out, arg)`` as ``kernels.cpu.maxpool_forward``; ``arg`` int8 (None unless
    ``with_arg``)."""
    geom = _pool_geometry(kernel_size, stride, padding)
    key = ("maxpool_fwd", x.shape, y_shape, kernel_size, stride, padding, bool(with_arg))
    e = rt.cached(key, _build_forward(x.shape, y_shape, geom, bool(with_arg)))
    y = np.empty(y_shape, dtype=x.dtype)
    args = [(L.ARG_SRC, e.src, x), (L.ARG_DST, e.dst, y)]
    arg = None
    if with_arg:
        arg = np.empty(y_shape, dtype=np.uint8)
        args.append((L.ARG_WORKSPACE, e.ws, arg))
    execute(rt, e.prim, args, e.scratch)
    return y, (None if arg is None else arg.view(np.int8))


def _build_backward(x_shape, y_shape, geom):
    def build(e):
        hint = e.pd("pooling_forward", e.lib.dnnl_pooling_forward_primitive_desc_create,
                    L.FORWARD_TRAINING, L.POOLING_MAX, e.md(x_shape, L.TAG_NCHW),
                    e.md(y_shape, L.TAG_NCHW), *geom, e.rt.attr)
        pd = e.pd("pooling_backward", e.lib.dnnl_pooling_backward_primitive_desc_create,
                  L.POOLING_MAX, e.md(x_shape, L.TAG_NCHW), e.md(y_shape, L.TAG_NCHW), *geom,
                  hint, e.rt.attr)
        e.dsrc, e.ddst = e.query(pd, L.QUERY_DIFF_SRC), e.query(pd, L.QUERY_DIFF_DST)
        e.ws = e.query(pd, L.QUERY_WORKSPACE)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def maxpool_backward(rt, g, arg, x_shape, kernel_size, stride, padding):
    """The gradient routed to each window's maximum (``arg``, the forward's int8 taps)."""
    geom = _pool_geometry(kernel_size, stride, padding)
    key = ("maxpool_bwd", x_shape, g.shape, kernel_size, stride, padding)
    e = rt.cached(key, _build_backward(x_shape, g.shape, geom))
    gx = np.empty(x_shape, dtype=g.dtype)
    execute(rt, e.prim, [(L.ARG_DIFF_DST, e.ddst, g), (L.ARG_WORKSPACE, e.ws, arg),
                         (L.ARG_DIFF_SRC, e.dsrc, gx)], e.scratch)
    return gx
