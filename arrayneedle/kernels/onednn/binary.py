"""Elementwise chains through oneDNN's binary primitive with binary post-ops, in one pass over
the arrays: ``binary`` computes ``y = (((x op1 v1) op2 v2) ...)`` with operands that broadcast
over any axes (e.g. one value per sample and channel, as group normalisation's passes need)
and post-ops that may accumulate into the output; ``channel_chain`` is the same with per-channel
vectors (C,) broadcast over axis 1 of ``x`` (N, C, ...) or whole arrays of ``x``'s shape.

NumPy runs a per-channel ``x * scale + shift`` as two passes whose inner loops are one image
row long; this is one vectorised pass (about 5x faster on a (12, 64, 32, 32) float32 array,
BENCHMARKS.md). Batch normalisation is built from such chains (``kernels/cpu.py``): e.g. its
forward ``((x - mean) * scale) + bias`` and its input gradient in one pass each. Plain layouts
(no reorders); the output may be ``x`` itself (oneDNN computes in place).
"""
from __future__ import annotations

import ctypes

import numpy as np

from . import _lib as L
from ._core import execute

ADD, MUL, SUB = 0x1fff0, 0x1fff1, 0x1fff5  # dnnl_binary_add / mul / sub
OPS = {"add": ADD, "mul": MUL, "sub": SUB}
ELTWISE = {"silu": (L.ELTWISE_SWISH, 1.0)}  # eltwise post-ops: (algorithm, alpha)
# below this many elements a oneDNN call (about 16 us, its threads meeting at a barrier) costs
# more than NumPy's two passes on one core (measured on the UNets' shapes, 2 cores)
MIN_SIZE = 1 << 17
_POST_OP_SRC1 = 32768  # DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1 = 32768 * (i + 1) | 2


def _build_binary(op, shape, operand_shape, post):
    """``post``: ``(op, shape)`` per binary post-op, ``("sum", None)`` (accumulate) or
    ``("silu", None)`` (an eltwise post-op)."""
    def build(e):
        tag = L.plain_tag(len(shape))
        e.x, e.operand = e.md(shape, tag), e.md(operand_shape, tag)
        e.post = [None if s is None else e.md(s, tag) for _, s in post]
        attr = e.attr()
        if post:
            ops = ctypes.c_void_p()
            L.check(e.lib.dnnl_post_ops_create(ctypes.byref(ops)), "post_ops_create")
            try:
                for (name, _), md in zip(post, e.post):
                    if name in ELTWISE:
                        alg, alpha = ELTWISE[name]
                        L.check(e.lib.dnnl_post_ops_append_eltwise(ops, alg, alpha, 0.0),
                                "post_ops_append_eltwise")
                    elif md is None:  # dst += what the output held (its own data type)
                        L.check(e.lib.dnnl_post_ops_append_sum(ops, 1.0, 0, 0),
                                "post_ops_append_sum")
                    else:
                        L.check(e.lib.dnnl_post_ops_append_binary(ops, OPS[name], md),
                                "post_ops_append_binary")
                L.check(e.lib.dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
            finally:
                e.lib.dnnl_post_ops_destroy(ops)
        pd = e.pd("binary", e.lib.dnnl_binary_primitive_desc_create, OPS[op], e.x, e.operand,
                  e.x, attr)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def binary(rt, op, x, v, out, post=()):
    """``out = x <op> v`` (op "add", "mul" or "sub"; ``v`` of x's number of dimensions, 1 on
    any axis it broadcasts over), then each ``(op, array)`` of ``post`` likewise,
    ``("sum", None)``: plus what ``out`` held before, or ``("silu", None)``: SiLU of the
    result so far. C-contiguous float32 arrays; ``out`` may be ``x``. Returns ``out``.
    (oneDNN's fast kernels take a post-op operand per channel or whole; other broadcasts
    there fall back to its slow reference kernel.)"""
    spec = tuple((name, None if a is None else tuple(a.shape)) for name, a in post)
    key = ("chain", op, x.shape, v.shape, spec)  # one binary op and its post-ops
    e = rt.cached(key, _build_binary(op, tuple(x.shape), tuple(v.shape), spec))
    args = [(L.ARG_SRC, e.x, x), (L.ARG_SRC_1, e.operand, v), (L.ARG_DST, e.x, out)]
    for i, ((_, a), md) in enumerate(zip(post, e.post)):
        if md is not None:
            args.append((_POST_OP_SRC1 * (i + 1) | L.ARG_SRC_1, md, a))
    execute(rt, e.prim, args, e.scratch)
    return out


def channel_chain(rt, x, steps, out=None):
    """``x`` through ``steps``: ``(op, operand)`` with op "add", "mul" or "sub" and operand a
    (C,) vector (per channel) or an array of ``x``'s shape, or ``("silu", None)`` after the
    first; every array C-contiguous float32.
    Into ``out`` (a new array, or ``x`` itself) and returned. ``binary`` with the vectors
    broadcast over axis 1."""
    cs = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    operands = [(op, v.reshape(cs) if v is not None and v.ndim == 1 else v) for op, v in steps]
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    return binary(rt, operands[0][0], x, operands[0][1], out, operands[1:])
