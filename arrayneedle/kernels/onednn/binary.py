"""Elementwise binary maps with broadcasting through oneDNN's binary primitive, with binary
(or accumulating ``sum``) post-ops fused into the same pass: e.g. ``x * scale[n, c] +
shift[c]`` in one pass over ``x`` on every core, where NumPy takes two single-threaded passes
(and runs slowly on per-row factors: its inner loop restarts every row).

Arrays are plain C-contiguous float32 of one number of dimensions (3 here); the second
operand and each post-op operand may have 1 in any dimension (broadcast). ``out`` may be the
first operand (in place)."""
from __future__ import annotations

import ctypes

from . import _lib as L
from ._core import execute

ALGS = {"add": L.BINARY_ADD, "mul": L.BINARY_MUL, "sub": L.BINARY_SUB}
_TAGS = {3: L.TAG_ABC, 4: L.TAG_NCHW}


def _build(alg, a_shape, b_shape, post):
    def build(e):
        lib, tag = e.lib, _TAGS[len(a_shape)]
        attr, ops = L.P(), L.P()
        L.check(lib.dnnl_primitive_attr_create(ctypes.byref(attr)), "primitive_attr_create")
        try:
            L.check(lib.dnnl_primitive_attr_set_scratchpad_mode(attr, L.SCRATCHPAD_USER),
                    "set_scratchpad_mode")
            L.check(lib.dnnl_post_ops_create(ctypes.byref(ops)), "post_ops_create")
            try:
                e.post = []
                for name, shape in post:
                    if name == "sum":
                        L.check(lib.dnnl_post_ops_append_sum(ops, 1.0, 0, 0),  # dtype: dst's
                                "post_ops_append_sum")
                        e.post.append(None)
                    else:
                        md = e.md(shape, tag)
                        L.check(lib.dnnl_post_ops_append_binary(ops, ALGS[name], md),
                                "post_ops_append_binary")
                        e.post.append(md)
                L.check(lib.dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
            finally:
                lib.dnnl_post_ops_destroy(ops)
            e.src0, e.src1, e.dst = e.md(a_shape, tag), e.md(b_shape, tag), e.md(a_shape, tag)
            pd = e.pd("binary", lib.dnnl_binary_primitive_desc_create, ALGS[alg], e.src0,
                      e.src1, e.dst, attr)
        finally:
            lib.dnnl_primitive_attr_destroy(attr)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def binary(rt, alg, a, b, out, post=()):
    """``out = a <alg> b`` (alg "add", "mul" or "sub"), then for each ``(alg, array)`` of
    ``post`` ``out = out <alg> array``; ``("sum", None)`` adds what ``out`` held before the
    call. Returns ``out``."""
    spec = tuple((name, None if arr is None else tuple(arr.shape)) for name, arr in post)
    key = ("binary", alg, tuple(a.shape), tuple(b.shape), spec)
    e = rt.cached(key, _build(alg, tuple(a.shape), tuple(b.shape), spec))
    args = [(L.ARG_SRC_0, e.src0, a), (L.ARG_SRC_1, e.src1, b), (L.ARG_DST, e.dst, out)]
    for i, ((_, arr), md) in enumerate(zip(post, e.post)):
        if md is not None:
            args.append((L.ARG_POST_OP_BASE * (i + 1) | L.ARG_SRC_1, md, arr))
    execute(rt, e.prim, args, e.scratch)
    return out
