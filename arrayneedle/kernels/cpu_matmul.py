"""Matrix products on NumPy arrays (re-exported by ``cpu.py``): float32 products large enough
to repay a call go to oneDNN's matmul primitive (``onednn/matmul.py``), the rest to NumPy
(OpenBLAS).

Why oneDNN: NumPy runs a stacked product (``(B, heads, N, d) @ (B, heads, d, N)``, a weight
broadcast over a batch) as one small OpenBLAS sgemm per matrix, and OpenBLAS's thread pool
then alternates with oneDNN's OpenMP pool (convolutions, norms, activations) on the same
cores, which costs more than either alone. oneDNN computes the whole stack in one call on the
OpenMP pool, reading strided views (transposes, slices) without a copy. Figures in
BENCHMARKS.md ("Kernels and ops"); ``MIN_WORK`` is where a oneDNN call (about 10 us) starts to
pay. A DnnlError falls back to NumPy."""
from __future__ import annotations

import math

import numpy as np

from . import onednn
from .cpu_eltwise import _c

# multiply-adds (batch * M * N * K) from which oneDNN's matmul beats NumPy's: a oneDNN call
# costs 20-25 us however small (its two OpenMP threads meeting), NumPy's small sgemms a few us;
# they cross near 2.5M (bench_matmul.py --sweep; in the Unet's step 2M beat 32k by 3-5%, and
# the Linear layers' 0.8-2M products were slower on oneDNN; BENCHMARKS.md)
MIN_WORK = 1 << 22
MAX_NDIM = 12  # oneDNN's DNNL_MAX_NDIMS


def _onednn_matmul(a, b):
    """``a @ b`` (ndim >= 2 each) through oneDNN, or None where it does not run or pay."""
    if a.dtype != np.float32 or b.dtype != np.float32 or max(a.ndim, b.ndim) > MAX_NDIM:
        return None
    nd = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + a.shape)
    b = b.reshape((1,) * (nd - b.ndim) + b.shape)
    batch = []
    for m, n in zip(a.shape[:-2], b.shape[:-2]):
        if m != n and m != 1 and n != 1:
            return None  # NumPy raises its own error
        batch.append(max(m, n))
    if a.shape[-1] != b.shape[-2]:
        return None
    if math.prod(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1] < MIN_WORK:
        return None
    rt = onednn.usable(a, b)
    if rt is None:
        return None
    sa, sb = onednn.element_strides(a), onednn.element_strides(b)
    if sa is None:
        a, sa = _c(a), None
    if sb is None:
        b, sb = _c(b), None
    try:
        return onednn.matmul(rt, a, b, sa, sb)
    except onednn.DnnlError:
        return None


def matmul(a, b):
    """``a @ b`` for arrays of at least 2 dimensions (NumPy's broadcasting of the batch
    axes), a new C-contiguous array."""
    out = _onednn_matmul(a, b)
    return _c(np.matmul(a, b)) if out is None else out


def _fold_rows(x):
    """``x`` (B, R, C) as the (B*R, C) matrix of its stacked rows: a view where the strides
    allow, else a copy (row-major, or the transpose of a row-major copy, whichever reads
    ``x`` in order)."""
    B, R, C = x.shape
    try:
        return np.reshape(x, (B * R, C), copy=False)
    except ValueError:
        pass
    if x.strides[2] <= x.strides[1]:
        return np.ascontiguousarray(x).reshape(B * R, C)
    return _fold_cols(x.mT).T


def _fold_cols(x):
    """``x`` (B, R, C) as the (R, B*C) matrix whose row r is ``x[0, r], x[1, r], ...``: a
    view where the strides allow, else a copy (see ``_fold_rows``)."""
    B, R, C = x.shape
    v = x.transpose(1, 0, 2)
    try:
        return np.reshape(v, (R, B * C), copy=False)
    except ValueError:
        pass
    if x.strides[2] <= x.strides[1]:
        return np.ascontiguousarray(v).reshape(R, B * C)
    return _fold_rows(x.mT).T


def matmul_batch_sum(a, b):
    """``sum over the batch of a_i @ b_i`` for ``a`` (..., M, K) and ``b`` (..., K, N) with one
    batch shape: (M, N). On float32 through oneDNN as one matmul over the batch folded into
    the inner dimension, ``(M, B*K) @ (B*K, N)`` (views where the strides allow, else one copy
    of an operand); otherwise NumPy's ``tensordot`` (which makes the same two copies and one
    BLAS call)."""
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    B = math.prod(a.shape[:-2])
    if (a.dtype == np.float32 and b.dtype == np.float32 and B * M * N * K >= MIN_WORK
            and onednn.usable(a, b) is not None):
        a3, b3 = a.reshape(B, M, K), b.reshape(B, K, N)
        out = _onednn_matmul(_fold_cols(a3), _fold_rows(b3))
        if out is not None:
            return out
    batch = tuple(range(a.ndim - 2))
    return _c(np.tensordot(a, b, axes=(batch + (a.ndim - 1,), batch + (b.ndim - 2,))))


def weight_matmul_grads(w, x, g, need_w, need_x):
    """``(gw, gx)`` of ``y = w @ x`` for a weight ``w`` (M, K) applied to every matrix of ``x``
    (..., K, N) (a projection of channel-major features, as attention's), from ``g`` (..., M,
    N). On float32 through oneDNN with the batch folded into the columns, as PyTorch's
    ``matmul`` folds it: ``g`` is copied once into (M, B*N), from which ``gw = g_f @ x_f^T``
    and ``gx = w^T @ g_f`` (unfolded by one copy) are plain matrix products. (Separately,
    ``matmul_batch_sum`` would fold ``g`` for gw and oneDNN would run w^T @ g as B products
    N columns wide: 1.1 against 0.8 ms for the Unet's (384, 128) projection at batch 32.)"""
    M, K = w.shape
    N = x.shape[-1]
    B = math.prod(x.shape[:-2])
    if not (w.dtype == x.dtype == g.dtype == np.float32 and B > 1
            and B * M * N * K >= MIN_WORK and onednn.usable(w, x, g) is not None):
        gw = matmul_batch_sum(g, x.mT) if need_w else None
        gx = matmul(w.mT, g) if need_x else None
        return gw, gx
    gf = _fold_cols(g.reshape(B, M, N))                                   # (M, B*N)
    gw = gx = None
    if need_w:
        gw = matmul(gf, _fold_cols(x.reshape(B, K, N)).T)
    if need_x:
        gxf = matmul(w.mT, gf)                                            # (K, B*N)
        gx = np.ascontiguousarray(gxf.reshape(K, B, N).transpose(1, 0, 2)).reshape(x.shape)
    return gw, gx
