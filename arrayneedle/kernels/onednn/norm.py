"""Layer normalisation over the rows of a 2-D float32 array through oneDNN's
layer-normalization primitive (no scale or shift), forward (group normalisation's backward is
PyTorch's one-pass formula on binary chains, ``kernels/cpu_norm.py``). Group normalisation
runs on it (``kernels/cpu_norm.py``): its statistics are per row of ``x`` viewed as
(N * groups, C/groups * H * W), each row's two passes (the mean, then the centred squares) in
cache, so one memory pass computes the statistics and the normalised output. Plain layouts:
no reorders. (oneDNN's *batch*-normalization primitive is not used: see ``binary.py``.)"""
from __future__ import annotations

import numpy as np

from . import _lib as L
from ._core import execute

def _forward_pd(e, shape, eps):
    e.x, e.stat = e.md(shape, L.plain_tag(2)), e.md(shape[:1], L.TAG_A)
    return e.pd("layer_normalization_forward",
                e.lib.dnnl_layer_normalization_forward_primitive_desc_create,
                L.FORWARD_TRAINING, e.x, e.x, e.stat, eps, 0, e.rt.attr)


def _build_forward(shape, eps):
    def build(e):
        pd = _forward_pd(e, shape, eps)
        e.prim, e.scratch, e.name = e.primitive(pd), e.scratchpad(pd), e.impl(pd)
        return e
    return build


def layer_norm_forward(rt, x, eps):
    """``(y, mean, var)``: each row of the C-contiguous (R, K) float32 ``x`` normalised,
    ``(x - mean) / sqrt(var + eps)``, with its mean and (population) variance (R,)."""
    e = rt.cached(("ln_fwd", x.shape, float(eps)), _build_forward(x.shape, float(eps)))
    y = np.empty(x.shape, dtype=x.dtype)
    mean, var = np.empty(x.shape[:1], x.dtype), np.empty(x.shape[:1], x.dtype)
    execute(rt, e.prim, [(L.ARG_SRC, e.x, x), (L.ARG_DST, e.x, y), (L.ARG_MEAN, e.stat, mean),
                         (L.ARG_VARIANCE, e.stat, var)], e.scratch)
    return y, mean, var
