"""NumPy kernels: im2col/col2im, max-pooling, layout copies, elementwise maps, index_add (the
activations, relu & co., are in ``cpu_eltwise.py``, softmax in ``cpu_softmax.py``).

No Python loops over batch, channels or pixels: every loop below runs over kernel taps only.

Column layout (shared with the CUDA and portable kernels): ``im2col`` returns ``cols`` of
shape ``(C*kh*kw, N, OH, OW)``, row ``(c, i, j)`` matching ``weight.reshape(O, C*kh*kw)``.
The forward convolution is then one BLAS matmul ``W(O, C*kh*kw) @ cols`` whose result
``(O, N, OH, OW)`` becomes NCHW with one cheap copy (k*k times smaller than ``cols``), the
weight gradient is one matmul ``g(O, N*OH*OW) @ cols.T`` and the column gradient
``W.T @ g``.
"""
from __future__ import annotations

import math
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .geometry import conv_geometry
from ._parallel import parallel_for
from .checks import check_col2im, check_maxpool_backward
from . import conv_reference, onednn
from .cpu_norm import (group_norm_backward, group_norm_forward,  # noqa: F401  (the contract's)
                       group_norm_silu)
from .cpu_matmul import matmul, matmul_batch_sum, weight_matmul_grads  # noqa: F401
from .cpu_eltwise import (gelu, gelu_backward, relu, relu_backward, sigmoid,  # noqa: F401
                          sigmoid_backward, silu, silu_backward, tanh, tanh_backward)
from .cpu_softmax import softmax, softmax_backward  # noqa: F401  (the contract's)

_self = sys.modules[__name__]  # the reference convolutions call this module's im2col & co.


def _pad_nchw(x, ph, pw, value=0):
    """x padded by (ph, pw) on both sides of the last two axes (x itself without padding)."""
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    out = np.empty((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)

    def part(lo, hi):  # the border strips, then the interior: every element written once
        o = out[lo:hi]
        o[:, :, :ph] = value
        o[:, :, H + ph:] = value
        o[:, :, ph:ph + H, :pw] = value
        o[:, :, ph:ph + H, W + pw:] = value
        o[:, :, ph:ph + H, pw:pw + W] = x[lo:hi]

    parallel_for(N, part, out.nbytes)
    return out


def swap01(a):
    """``a`` with its first two axes swapped, as a new C-contiguous array (e.g. a matmul's
    ``(O, N, OH, OW)`` result as NCHW, or NCHW as channels-first ``(C, N, H, W)``)."""
    A, B = a.shape[:2]
    out = np.empty((B, A) + tuple(a.shape[2:]), dtype=a.dtype)
    src = np.swapaxes(a, 0, 1)

    def part(lo, hi):
        out[lo:hi] = src[lo:hi]

    parallel_for(B, part, out.nbytes)
    return out


def channel_affine(x, scale, shift, out=None, center=None, add=None, post_scale=None):
    """``((x - center[c]) * scale[c] + shift[c] + add) * post_scale[c]`` over axis 1 of ``x``
    (N, C, ...), each term optional (None); ``add`` has ``x``'s shape; ``out`` may be ``x``.
    Float32 arrays of at least ``onednn.MIN_SIZE`` elements go through one oneDNN pass
    (``onednn.channel_chain``) where it loads, else NumPy runs the terms as in-place passes per
    batch slice, in parallel."""
    steps = [(op, v) for op, v in (("sub", center), ("mul", scale), ("add", shift),
                                   ("add", add), ("mul", post_scale)) if v is not None]
    if out is None:
        dtype = np.result_type(x, *(v for _, v in steps))
        out = np.empty(x.shape, dtype=dtype)
    if not steps:
        if out is not x:
            out[...] = x
        return out
    rt = onednn.usable(x, out, *(v for _, v in steps)) if x.size >= onednn.MIN_SIZE else None
    if rt is not None and x.ndim <= 6 and all(
            a.flags.c_contiguous for a in (x, out, *(v for _, v in steps))):
        return onednn.channel_chain(rt, x, steps, out)
    cs = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    ufunc = {"sub": np.subtract, "mul": np.multiply, "add": np.add}
    # (ufunc, operand, whether it is a whole array sliced with the batch)
    passes = [(ufunc[op], v, True) if v.ndim == x.ndim else (ufunc[op], v.reshape(cs), False)
              for op, v in steps]

    def part(lo, hi):
        o, src = out[lo:hi], x[lo:hi]
        for f, v, whole in passes:
            f(src, v[lo:hi] if whole else v, out=o)
            src = o

    parallel_for(x.shape[0], part, out.nbytes)
    return out


def _channel_reduce(a, b):
    """Per-channel sums of ``a`` (N, C, ...) or, with ``b``, of ``a * b`` (no product array):
    a contiguous reduction over each image's channel rows (pairwise sums / dot products), the
    batch slices in parallel, then over the batch."""
    N, C = a.shape[:2]
    a3 = a.reshape(N, C, -1)
    b3 = None if b is None else b.reshape(N, C, -1)
    rows = np.empty((N, C), dtype=np.result_type(a, b) if b is not None else a.dtype)

    def part(lo, hi):
        if b3 is None:
            np.sum(a3[lo:hi], axis=-1, out=rows[lo:hi])
        else:
            rows[lo:hi] = np.vecdot(a3[lo:hi], b3[lo:hi], axis=-1)

    parallel_for(N, part, a.nbytes // 4)
    return np.sum(rows, axis=0)


# rows up to this long are summed by einsum (see sum_trailing); longer ones pairwise by np.sum
SUM_ROWS_MAX = 1 << 14


def sum_trailing(a, k):
    """Sum of ``a`` over its last ``k`` axes, kept as axes of size 1. For the short rows of a
    broadcast add's gradient (a per-(sample, channel) bias over H x W, 16-4096 elements) NumPy's
    reduction restarts its loop every row (75-105 us on the Unet's (32, C, H, W) gradients);
    ``einsum``'s row sums over the C-contiguous (rows, H*W) view take 30 (its unrolled
    accumulation: for rows this short as precise as the pairwise sum)."""
    cols = math.prod(a.shape[a.ndim - k:])
    if (k == 0 or a.dtype not in (np.float32, np.float64) or cols > SUM_ROWS_MAX or cols == 0
            or not a.flags.c_contiguous):
        return np.sum(a, axis=tuple(range(a.ndim - k, a.ndim)), keepdims=True)
    return np.einsum("ij->i", a.reshape(-1, cols)).reshape(a.shape[:a.ndim - k] + (1,) * k)


def channel_sum(a):
    """Sum of ``a`` (N, C, ...) over every axis but 1 -> (C,)."""
    return _channel_reduce(np.ascontiguousarray(a), None)


def channel_dot(a, b):
    """Sum of ``a * b`` (same shape (N, C, ...)) over every axis but 1 -> (C,)."""
    return _channel_reduce(np.ascontiguousarray(a), np.ascontiguousarray(b))


def im2col(x, kernel_size, stride, padding, dilation):
    """Columns ``(C*kh*kw, N, OH, OW)`` of the NCHW array ``x``: a strided window view of the
    padded input, then one copy into the column layout."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    OH, OW = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
    xp = _pad_nchw(x, ph, pw)
    win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, OH, OW, kh, kw), a view
    win = win.transpose(1, 4, 5, 0, 2, 3)
    cols = np.empty((C, kh, kw, N, OH, OW), dtype=x.dtype)

    def part(lo, hi):  # a range of channels
        cols[lo:hi] = win[lo:hi]

    parallel_for(C, part, cols.nbytes)
    return cols.reshape(C * kh * kw, N, OH, OW)


def _phase_taps(r, k, s, p, d, m_len, o_len):
    """Kernel taps that reach output phase ``r`` (output index ``s*m + r``) along one axis:
    ``(tap, shift, m0, m1)`` where output rows ``m0 <= m < m1`` receive column row ``m + shift``."""
    taps = []
    for i in range(k):
        t = r + p - i * d
        if t % s:
            continue
        q = t // s
        m0, m1 = max(0, -q), min(m_len, o_len - q)
        if m0 < m1:
            taps.append((i, q, m0, m1))
    return taps


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of im2col: sums ``cols`` ``(C*kh*kw, N, OH, OW)`` into a new contiguous array
    of ``x_shape``.

    Gathered by output phase: output row ``y = s*m + r`` receives exactly the taps ``i`` with
    ``(r + p - i*d) % s == 0``, each a shifted block of a contiguous ``(C, N, OH, OW)`` slab of
    ``cols``. So each phase is accumulated with contiguous slice-adds in a small channels-first
    buffer (the first full-range tap as a copy, not zeros + add) and written once into
    ``out[:, :, r_h::s_h, r_w::s_w]``: no padded accumulator, no strided adds, no crop (faster
    than k*k strided adds into a zeroed padded array, see BENCHMARKS.md), and the result is
    contiguous. Loops run over phases and taps only.
    """
    N, C, H, W = check_col2im(cols.shape, x_shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    OH, OW = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
    src = cols.reshape(C, kh, kw, N, OH, OW)
    out = np.empty((N, C, H, W), dtype=cols.dtype)
    phases = []
    for rh in range(min(sh, H)):
        mh = (H - rh + sh - 1) // sh
        taps_h = _phase_taps(rh, kh, sh, ph, dh, mh, OH)
        for rw in range(min(sw, W)):
            mw = (W - rw + sw - 1) // sw
            phases.append((rh, rw, mh, mw, taps_h, _phase_taps(rw, kw, sw, pw, dw, mw, OW)))

    def part(lo, hi):  # a range of channels: every phase of them
        for rh, rw, mh, mw, taps_h, taps_w in phases:
            acc = None
            for i, qh, a0, a1 in taps_h:
                for j, qw, b0, b1 in taps_w:
                    piece = src[lo:hi, i, j, :, a0 + qh:a1 + qh, b0 + qw:b1 + qw]
                    if acc is None:
                        if (a0, a1, b0, b1) == (0, mh, 0, mw):
                            acc = piece.copy()
                            continue
                        acc = np.zeros((hi - lo, N, mh, mw), dtype=cols.dtype)
                    dst = acc[:, :, a0:a1, b0:b1]
                    np.add(dst, piece, out=dst)
            dst = out[:, lo:hi, rh::sh, rw::sw]
            if acc is None:  # no tap reaches this phase (stride larger than the kernel)
                dst[...] = 0
            else:
                dst[...] = acc.transpose(1, 0, 2, 3)

    parallel_for(C, part, out.nbytes)
    return out


def _window_taps(xp, kernel_size, stride, out_hw):
    """The kh*kw strided views (N, C, OH, OW) of the padded input, one per kernel tap."""
    (kh, kw), (sh, sw), (OH, OW) = kernel_size, stride, out_hw
    return [xp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]


def maxpool_forward(x, kernel_size, stride, padding, with_arg=True):
    """Max over windows (through oneDNN where it loads: float32, at most 127 taps, no NaN);
    returns ``(out, arg)`` where ``arg`` (int8, or int32 for windows of more than 127 taps) is
    the flat tap index ``i*kw + j`` of the first maximum of each window in row-major window
    order (for a window holding NaN, ``out`` is NaN and ``arg`` unspecified).
    ``with_arg=False``: ``(out, None)``, the maximum alone, as kk-1 ``maximum`` passes over
    the strided taps (no copy of them)."""
    (kh, kw), (ph, pw) = kernel_size, padding
    OH, OW = conv_geometry(x.shape, kernel_size, stride, padding, (1, 1))
    rt = onednn.usable(x) if min(OH, OW) > 0 else None
    # oneDNN's max drops NaN (PyTorch's and ours propagate it): inputs holding one stay here
    if rt is not None and kh * kw <= onednn.MAX_TAPS and not np.isnan(np.max(x)):
        return onednn.maxpool_forward(rt, np.ascontiguousarray(x), x.shape[:2] + (OH, OW),
                                      kernel_size, stride, padding, with_arg)
    xp = _pad_nchw(x, ph, pw, value=-np.inf)
    kk = kh * kw
    N, C = x.shape[:2]
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    if not with_arg:
        def max_only(lo, hi):  # a range of batch items
            taps = _window_taps(xp[lo:hi], kernel_size, stride, (OH, OW))
            o = out[lo:hi]
            if len(taps) == 1:
                o[...] = taps[0]
                return
            np.maximum(taps[0], taps[1], out=o)
            for v in taps[2:]:
                np.maximum(o, v, out=o)

        parallel_for(N, max_only, out.nbytes * kk)
        return out, None
    arg = np.empty(out.shape, dtype=np.int8 if kk <= 127 else np.int32)

    def part(lo, hi):  # a range of batch items
        # the taps side by side, (kk, n, C, OH, OW): kk strided copies, then every pass
        # below runs over long contiguous rows
        taps = np.empty((kk, hi - lo, C, OH, OW), dtype=x.dtype)
        for t, v in enumerate(_window_taps(xp[lo:hi], kernel_size, stride, (OH, OW))):
            taps[t] = v
        o, a = out[lo:hi], arg[lo:hi]
        np.max(taps, axis=0, out=o)
        # index of the first maximum = the number of leading taps that differ from it
        a[...] = 0
        before = np.ones(o.shape, dtype=bool)
        for t in range(kk - 1):
            np.logical_and(before, taps[t] != o, out=before)
            a += before

    parallel_for(N, part, out.nbytes * kk)
    return out, arg


def maxpool_backward(grad, arg, x_shape, kernel_size, stride, padding):
    """Gradient of max-pooling: ``grad`` routed to the one maximum of each window (windows may
    overlap: contributions add)."""
    N, C, H, W = check_maxpool_backward(grad.shape, arg.shape, x_shape, kernel_size, stride,
                                        padding)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    rt = onednn.usable(grad)
    if rt is not None and kh * kw <= onednn.MAX_TAPS and arg.itemsize == 1:
        return onednn.maxpool_backward(rt, np.ascontiguousarray(grad), np.ascontiguousarray(arg),
                                       x_shape, kernel_size, stride, padding)
    OH, OW = grad.shape[2:]
    tiled = (sh, sw) == (kh, kw) and (OH * kh, OW * kw) == (H + 2 * ph, W + 2 * pw)
    # windows that tile the (padded) input write every element exactly once
    acc = (np.empty if tiled else np.zeros)((N, C, H + 2 * ph, W + 2 * pw), dtype=grad.dtype)

    def part(lo, hi):  # a range of batch items
        g, a = grad[lo:hi], arg[lo:hi]
        for t, dst in enumerate(_window_taps(acc[lo:hi], kernel_size, stride, (OH, OW))):
            contrib = g * (a == t)
            if tiled:
                dst[...] = contrib
            else:
                np.add(dst, contrib, out=dst)

    parallel_for(N, part, acc.nbytes)
    if ph or pw:
        return acc[:, :, ph:ph + H, pw:pw + W]
    return acc


def index_add(shape, index, values):
    """zeros(shape) with ``values`` added at ``index`` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=values.dtype)
    np.add.at(out, index, values)
    return out


# ---------------------------------------------------------------- direct convolutions
# Each goes to oneDNN where it loads (non-empty float32 arrays), else to the reference
# (conv_reference.py on this module's im2col/col2im); a geometry oneDNN refuses to build a
# primitive for (a DnnlError) is computed by the reference too, never an error of ours.
def direct_conv(x):
    """Whether ``conv2d`` & co. below compute without im2col (oneDNN, float32)."""
    return onednn.usable(x) is not None


def _c(a):
    return None if a is None else np.ascontiguousarray(a)


def _direct(rt, call, reference):
    if rt is None:
        return reference()
    try:
        return call()
    except onednn.DnnlError:
        return reference()


def conv2d(x, w, bias, k, s, p, d):
    y_shape = (x.shape[0], w.shape[0]) + conv_geometry(x.shape, k, s, p, d)
    rt = onednn.usable(x, w, bias) if min(y_shape) > 0 else None
    return _direct(rt, lambda: onednn.conv_forward(rt, _c(x), _c(w), _c(bias), y_shape, s, p, d),
                   lambda: conv_reference.conv2d(_self, x, w, bias, k, s, p, d))


def conv2d_input_grad(g, w, x_shape, k, s, p, d):
    rt = onednn.usable(g, w) if min(x_shape) > 0 else None
    return _direct(rt, lambda: onednn.conv_backward_data(rt, _c(g), _c(w), x_shape, s, p, d),
                   lambda: conv_reference.conv2d_input_grad(_self, g, w, x_shape, k, s, p, d))


def conv2d_weight_grad(x, g, w_shape, k, s, p, d, bias):
    rt = onednn.usable(x, g) if min(w_shape) > 0 else None
    return _direct(rt, lambda: onednn.conv_backward_weights(rt, _c(x), _c(g), w_shape, s, p, d,
                                                            bias),
                   lambda: conv_reference.conv2d_weight_grad(_self, x, g, w_shape, k, s, p, d,
                                                             bias))


def conv2d_backward(g, w, x, x_shape, w_shape, k, s, p, d, need_x, need_w, bias):
    rt = (onednn.usable(g, w if need_x else None, x if need_w else None)
          if min(x_shape) > 0 and min(w_shape) > 0 else None)
    return _direct(rt, lambda: onednn.conv_backward(rt, _c(g), _c(w) if need_x else None,
                                                    _c(x) if need_w else None, x_shape,
                                                    w_shape, s, p, d, need_x, need_w, bias),
                   lambda: conv_reference.conv2d_backward(_self, g, w, x, x_shape, w_shape, k,
                                                          s, p, d, need_x, need_w, bias))


def conv_transpose2d(x, w, bias, out_shape, k, s, p, d):
    rt = onednn.usable(x, w, bias) if min(out_shape) > 0 else None
    return _direct(rt, lambda: onednn.deconv_forward(rt, _c(x), _c(w), _c(bias), out_shape, s, p,
                                                     d),
                   lambda: conv_reference.conv_transpose2d(_self, x, w, bias, out_shape, k, s, p,
                                                           d))
