"""Matrix products through oneDNN's matmul primitive: ``src (..., M, K) @ weights (..., K, N) ->
dst (..., M, N)`` for float32 NumPy arrays of one rank, batch axes broadcast where one side
has 1 (NumPy's rule once the ranks agree).

The operands are described with their own strides (``dnnl_memory_desc_create_with_strides``),
so transposed views (``.mT``), slices of a larger array (the heads of a fused qkv projection)
and other positive-stride views go in without a copy; a primitive is cached per shapes and
strides. Where oneDNN has no fast kernel for a strided operand (its implementation name
starts with ``ref``) the entry is rebuilt on dense descriptors and such operands are copied
first (``Entry.dense``). The result is a new C-contiguous array. The whole stacked product is
one primitive call on oneDNN's OpenMP threads, where NumPy runs one small OpenBLAS sgemm per
matrix on BLAS's own thread pool (BENCHMARKS.md, "Kernels and ops")."""
from __future__ import annotations


import numpy as np

from . import _lib as L
from ._core import execute


def element_strides(a):
    """The strides of ``a`` in elements, or None where one is not a positive multiple of the
    item size (reversed or broadcast views: the caller copies). An axis of extent 1 gets the
    span of the axes inside it (a C-contiguous array's stride there), so views that differ
    only in the stride of such an axis share one primitive."""
    size = a.itemsize
    out = [0] * a.ndim
    inner = 1
    for i in range(a.ndim - 1, -1, -1):
        n, s = a.shape[i], a.strides[i]
        if n == 1:
            out[i] = inner
        elif s <= 0 or s % size:
            return None
        else:
            out[i] = s // size
        inner = max(inner, out[i] * n)
    return tuple(out)


def _dense(shape):
    """The element strides of a C-contiguous array of ``shape``."""
    out, inner = [], 1
    for n in reversed(shape):
        out.append(inner)
        inner *= n
    return tuple(reversed(out))


def _build(a_shape, a_strides, b_shape, b_strides, out_shape):
    def build(e):
        try:
            return _describe(e, a_shape, a_strides, b_shape, b_strides, out_shape)
        except L.DnnlError:
            e.close()  # the descriptors made before the refusal
            raise
    return build


def _describe(e, a_shape, a_strides, b_shape, b_strides, out_shape):
    plain = e.md(out_shape, L.plain_tag(len(out_shape)))
    strided = [e.md_strided(a_shape, a_strides), e.md_strided(b_shape, b_strides)]
    pd = e.pd("matmul", e.lib.dnnl_matmul_primitive_desc_create, *strided, None, plain,
              e.rt.attr)
    e.dense = (False, False)
    if e.impl(pd).startswith("ref"):  # no fast kernel for these strides: copy instead
        e.dense = (a_strides != _dense(a_shape), b_strides != _dense(b_shape))
        strided = [e.md(s, L.plain_tag(len(s))) if d else m
                   for s, d, m in zip((a_shape, b_shape), e.dense, strided)]
        pd = e.pd("matmul", e.lib.dnnl_matmul_primitive_desc_create, *strided, None, plain,
                  e.rt.attr)
    e.a, e.b, e.out = strided[0], strided[1], plain
    e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
    return e


def matmul(rt, a, b, a_strides=None, b_strides=None):
    """``a @ b`` for non-empty float32 arrays of one rank (2 to 12) whose batch axes are equal
    or 1 on one side, as a new C-contiguous array. ``*_strides``: ``element_strides`` of the
    operand, which must not be None (computed here when not given)."""
    a_strides = a_strides or element_strides(a)
    b_strides = b_strides or element_strides(b)
    batch = tuple(max(m, n) for m, n in zip(a.shape[:-2], b.shape[:-2]))
    out_shape = batch + (a.shape[-2], b.shape[-1])
    key = ("matmul", a.shape, a_strides, b.shape, b_strides)
    e = rt.cached(key, _build(a.shape, a_strides, b.shape, b_strides, out_shape))
    if e.dense[0]:
        a = np.ascontiguousarray(a)
    if e.dense[1]:
        b = np.ascontiguousarray(b)
    out = np.empty(out_shape, dtype=np.float32)
    execute(rt, e.prim, [(L.ARG_SRC, e.a, a), (L.ARG_WEIGHTS, e.b, b), (L.ARG_DST, e.out, out)],
            e.scratch)
    return out
