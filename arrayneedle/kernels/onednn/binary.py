"""Per-channel elementwise chains through oneDNN's binary primitive with binary post-ops, in
one pass over the arrays: ``y = (((x op1 v1) op2 v2) ...)`` where each ``v`` is a per-channel
vector (C,) broadcast over axis 1 of ``x`` (N, C, ...) or a whole array of ``x``'s shape.

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
# below this many elements a oneDNN call (about 16 us, its threads meeting at a barrier) costs
# more than NumPy's two passes on one core (measured on the UNets' shapes, 2 cores)
MIN_SIZE = 1 << 17
_POST_OP_SRC1 = 32768  # DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1 = 32768 * (i + 1) | 2


def _tag(ndim):
    return ndim + 1  # dnnl_a, dnnl_ab, dnnl_abc... (plain row-major) are 2, 3, 4...


def _build(shape, kinds):
    """``kinds``: ``(op, per_channel)`` per step; the first is the primitive's own operand,
    the others its post-ops."""
    def build(e):
        tag = _tag(len(shape))
        e.x = e.md(shape, tag)
        e.vec = e.md((1, shape[1]) + (1,) * (len(shape) - 2), tag)
        e.operand = [e.vec if per_channel else e.x for _, per_channel in kinds]
        attr = e.attr()
        if len(kinds) > 1:
            post = ctypes.c_void_p()
            L.check(e.lib.dnnl_post_ops_create(ctypes.byref(post)), "post_ops_create")
            try:
                for op, per_channel in kinds[1:]:
                    L.check(e.lib.dnnl_post_ops_append_binary(
                        post, OPS[op], e.vec if per_channel else e.x), "post_ops_append_binary")
                L.check(e.lib.dnnl_primitive_attr_set_post_ops(attr, post), "set_post_ops")
            finally:
                e.lib.dnnl_post_ops_destroy(post)
        pd = e.pd("binary", e.lib.dnnl_binary_primitive_desc_create, OPS[kinds[0][0]], e.x,
                  e.operand[0], e.x, attr)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def channel_chain(rt, x, steps, out=None):
    """``x`` through ``steps``: ``(op, operand)`` with op "add", "mul" or "sub" and operand a
    (C,) vector (per channel) or an array of ``x``'s shape; every array C-contiguous float32.
    Into ``out`` (a new array, or ``x`` itself) and returned."""
    kinds = tuple((op, v.ndim == 1) for op, v in steps)
    key = ("chain", x.shape, kinds)
    e = rt.cached(key, _build(x.shape, kinds))
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    args = [(L.ARG_SRC, e.x, x), (L.ARG_SRC_1, e.operand[0], steps[0][1]), (L.ARG_DST, e.x, out)]
    for i, (_, v) in enumerate(steps[1:]):
        args.append((_POST_OP_SRC1 * (i + 1) | L.ARG_SRC_1, e.operand[i + 1], v))
    execute(rt, e.prim, args, e.scratch)
    return out
