"""Convolution and transposed convolution (NCHW, PyTorch's weight layouts) through oneDNN's
convolution / deconvolution primitives: forward (bias fused), backward-data, backward-weights
(bias gradient fused). Geometry as the NumPy kernels: pairs ``(kh, kw)``, ``stride``,
``padding`` (symmetric), ``dilation`` (PyTorch's, 1 = none; oneDNN counts from 0)."""
from __future__ import annotations

import numpy as np

from . import _lib as L
from ._core import dims, execute


def _geometry(stride, padding, dilation):
    """oneDNN's geometry arguments (made when a primitive is built, not on every call: a
    training step makes about 80 convolution calls)."""
    return (dims(stride), dims(d - 1 for d in dilation), dims(padding), dims(padding))


def _conv_pd(e, x_shape, w_shape, y_shape, with_bias, geom):
    """A forward-training convolution descriptor, every layout left to the library."""
    bias = e.md((w_shape[0],), L.TAG_A) if with_bias else None
    return e.pd("convolution_forward", e.lib.dnnl_convolution_forward_primitive_desc_create,
                L.FORWARD_TRAINING, L.CONVOLUTION_DIRECT, e.md(x_shape, L.TAG_ANY),
                e.md(w_shape, L.TAG_ANY), bias, e.md(y_shape, L.TAG_ANY), *geom, e.rt.attr)


def _build_forward(x_shape, w_shape, y_shape, with_bias, geom):
    def build(e):
        geom_args = _geometry(*geom)
        pd = _conv_pd(e, x_shape, w_shape, y_shape, with_bias, geom_args)
        e.src = e.layout(x_shape, L.TAG_NCHW, pd, L.QUERY_SRC)
        e.wei = e.layout(w_shape, L.TAG_OIHW, pd, L.QUERY_WEIGHTS)
        e.dst = e.layout(y_shape, L.TAG_NCHW, pd, L.QUERY_DST)
        e.bias = e.md((w_shape[0],), L.TAG_A) if with_bias else None
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def _run_forward(rt, e, x, w, bias):
    """Run a cached convolution or deconvolution forward ``e`` (bias fused when given) into a
    new NCHW array."""
    y = e.dst.new()
    args = [(L.ARG_SRC, e.src.md, e.src.into(rt, x)), (L.ARG_WEIGHTS, e.wei.md, e.wei.into(rt, w)),
            (L.ARG_DST, e.dst.md, y)]
    if bias is not None:
        args.append((L.ARG_BIAS, e.bias, bias))
    execute(rt, e.prim, args, e.scratch)
    return e.dst.out(rt, y)


def conv_forward(rt, x, w, bias, y_shape, stride, padding, dilation):
    """``conv2d(x, w) + bias`` as a new NCHW array of ``y_shape``."""
    geom = (stride, padding, dilation)
    key = ("conv_fwd", x.shape, w.shape, y_shape, bias is not None, stride, padding, dilation)
    e = rt.cached(key, _build_forward(x.shape, w.shape, y_shape, bias is not None, geom))
    return _run_forward(rt, e, x, w, bias)


def _build_backward_data(x_shape, w_shape, y_shape, geom):
    def build(e):
        geom_args = _geometry(*geom)
        hint = _conv_pd(e, x_shape, w_shape, y_shape, False, geom_args)
        pd = e.pd("convolution_backward_data",
                  e.lib.dnnl_convolution_backward_data_primitive_desc_create,
                  L.CONVOLUTION_DIRECT, e.md(x_shape, L.TAG_ANY), e.md(w_shape, L.TAG_ANY),
                  e.md(y_shape, L.TAG_ANY), *geom_args, hint, e.rt.attr)
        e.dsrc = e.layout(x_shape, L.TAG_NCHW, pd, L.QUERY_DIFF_SRC)
        e.wei = e.layout(w_shape, L.TAG_OIHW, pd, L.QUERY_WEIGHTS)
        e.ddst = e.layout(y_shape, L.TAG_NCHW, pd, L.QUERY_DIFF_DST)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def _backward_data_entry(rt, x_shape, w_shape, g_shape, stride, padding, dilation):
    geom = (stride, padding, dilation)
    key = ("conv_bwd_data", x_shape, w_shape, g_shape, stride, padding, dilation)
    return rt.cached(key, _build_backward_data(x_shape, w_shape, g_shape, geom))


def _run_backward_data(rt, e, g_chosen, w):
    gx = e.dsrc.new()
    execute(rt, e.prim, [(L.ARG_DIFF_DST, e.ddst.md, g_chosen),
                         (L.ARG_WEIGHTS, e.wei.md, e.wei.into(rt, w)),
                         (L.ARG_DIFF_SRC, e.dsrc.md, gx)], e.scratch)
    return e.dsrc.out(rt, gx)


def conv_backward_data(rt, g, w, x_shape, stride, padding, dilation):
    """The input gradient of ``conv2d`` (the adjoint of the convolution in ``x``): a new NCHW
    array of ``x_shape`` from ``g`` of the output's shape."""
    e = _backward_data_entry(rt, tuple(x_shape), w.shape, g.shape, stride, padding, dilation)
    return _run_backward_data(rt, e, e.ddst.into(rt, g), w)


def _build_backward_weights(x_shape, w_shape, y_shape, with_bias, geom):
    def build(e):
        geom_args = _geometry(*geom)
        hint = _conv_pd(e, x_shape, w_shape, y_shape, with_bias, geom_args)
        bias = e.md((w_shape[0],), L.TAG_A) if with_bias else None
        pd = e.pd("convolution_backward_weights",
                  e.lib.dnnl_convolution_backward_weights_primitive_desc_create,
                  L.CONVOLUTION_DIRECT, e.md(x_shape, L.TAG_ANY), e.md(w_shape, L.TAG_ANY),
                  bias, e.md(y_shape, L.TAG_ANY), *geom_args, hint, e.rt.attr)
        e.src = e.layout(x_shape, L.TAG_NCHW, pd, L.QUERY_SRC)
        e.dwei = e.layout(w_shape, L.TAG_OIHW, pd, L.QUERY_DIFF_WEIGHTS)
        e.ddst = e.layout(y_shape, L.TAG_NCHW, pd, L.QUERY_DIFF_DST)
        e.bias = bias
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def _backward_weights_entry(rt, x_shape, w_shape, g_shape, with_bias, stride, padding,
                            dilation):
    geom = (stride, padding, dilation)
    key = ("conv_bwd_weights", x_shape, w_shape, g_shape, with_bias, stride, padding, dilation)
    return rt.cached(key, _build_backward_weights(x_shape, w_shape, g_shape, with_bias, geom))


def _run_backward_weights(rt, e, x, g_chosen, w_shape, with_bias, dtype):
    gw = e.dwei.new()
    args = [(L.ARG_SRC, e.src.md, e.src.into(rt, x)), (L.ARG_DIFF_DST, e.ddst.md, g_chosen),
            (L.ARG_DIFF_WEIGHTS, e.dwei.md, gw)]
    gb = None
    if with_bias:
        gb = np.empty((w_shape[0],), dtype=dtype)
        args.append((L.ARG_DIFF_BIAS, e.bias, gb))
    execute(rt, e.prim, args, e.scratch)
    return e.dwei.out(rt, gw), gb


def conv_backward_weights(rt, x, g, w_shape, stride, padding, dilation, with_bias):
    """``(grad_weight, grad_bias or None)`` of ``conv2d`` from its input ``x`` and the output
    gradient ``g``: new arrays of ``w_shape`` (O, C, kh, kw) and (O,)."""
    e = _backward_weights_entry(rt, x.shape, tuple(w_shape), g.shape, with_bias, stride,
                                padding, dilation)
    return _run_backward_weights(rt, e, x, e.ddst.into(rt, g), w_shape, with_bias, g.dtype)


def conv_backward(rt, g, w, x, x_shape, w_shape, stride, padding, dilation, need_x, need_w,
                  with_bias):
    """``(gx, gw, gb)`` of ``conv2d(x, w) (+ b)`` for the output gradient ``g``, each None
    unless asked for (``need_x``; ``need_w``; ``with_bias``, which needs ``need_w``). ``w`` may
    be None without ``need_x``, ``x`` None without ``need_w``. Backward-data and
    backward-weights (the bias gradient fused) read one reordered copy of ``g`` where the two
    primitives chose the same layout for it (they do for the blocked layouts): one reorder
    pass fewer than two separate calls."""
    gx = gw = gb = None
    g_d = ed = None
    if need_x:
        ed = _backward_data_entry(rt, tuple(x_shape), tuple(w_shape), g.shape, stride, padding,
                                  dilation)
        g_d = ed.ddst.into(rt, g)
        gx = _run_backward_data(rt, ed, g_d, w)
    if need_w:
        ew = _backward_weights_entry(rt, tuple(x_shape), tuple(w_shape), g.shape, with_bias,
                                     stride, padding, dilation)
        share = ed is not None and bool(rt.lib.dnnl_memory_desc_equal(ed.ddst.md, ew.ddst.md))
        gw, gb = _run_backward_weights(rt, ew, x, g_d if share else ew.ddst.into(rt, g),
                                       w_shape, with_bias, g.dtype)
    return gx, gw, gb


def _build_deconv(x_shape, w_shape, y_shape, with_bias, geom):
    """Transposed convolution: oneDNN's weights are (Cout, Cin, kh, kw) logically, which is
    PyTorch's (Cin, Cout, kh, kw) array read with the ``iohw`` tag."""
    def build(e):
        geom_args = _geometry(*geom)
        wdims = (w_shape[1], w_shape[0]) + tuple(w_shape[2:])
        bias = e.md((wdims[0],), L.TAG_A) if with_bias else None
        pd = e.pd("deconvolution_forward",
                  e.lib.dnnl_deconvolution_forward_primitive_desc_create,
                  L.FORWARD_TRAINING, L.DECONVOLUTION_DIRECT, e.md(x_shape, L.TAG_ANY),
                  e.md(wdims, L.TAG_ANY), bias, e.md(y_shape, L.TAG_ANY), *geom_args, e.rt.attr)
        e.src = e.layout(x_shape, L.TAG_NCHW, pd, L.QUERY_SRC)
        e.wei = e.layout(wdims, L.TAG_IOHW, pd, L.QUERY_WEIGHTS)
        e.dst = e.layout(y_shape, L.TAG_NCHW, pd, L.QUERY_DST)
        e.bias = bias
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def deconv_forward(rt, x, w, bias, y_shape, stride, padding, dilation):
    """``conv_transpose2d(x, w) + bias`` (w: (Cin, Cout, kh, kw)) as a new NCHW array of
    ``y_shape`` (output padding is in ``y_shape``)."""
    geom = (stride, padding, dilation)
    key = ("deconv_fwd", x.shape, w.shape, y_shape, bias is not None, stride, padding, dilation)
    e = rt.cached(key, _build_deconv(x.shape, w.shape, y_shape, bias is not None, geom))
    return _run_forward(rt, e, x, w, bias)
