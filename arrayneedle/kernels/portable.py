"""The kernels through any Python array-API namespace (k*k strided slices, no library calls
outside the standard). Used for array-API libraries other than NumPy and CuPy (e.g. the
array-api-strict test run), and for every library where one implementation is as fast as a
native one (``dilate``/``undilate``: a zero fill and one strided copy; CuPy's elementwise
maps). Same contracts as ``cpu.py``.
"""
from __future__ import annotations

import math
import operator

from array_api_compat import array_namespace, is_array_api_obj

from .geometry import conv_geometry
from .checks import check_col2im, check_maxpool_backward


def _pad_nchw(xp, x, ph, pw, value=0.0):
    if ph == 0 and pw == 0:
        return x
    N, C, H, W = x.shape
    shape = (N, C, H + 2 * ph, W + 2 * pw)
    out = xp.zeros(shape, dtype=x.dtype) if value == 0 else xp.full(shape, value, dtype=x.dtype)
    out[:, :, ph:ph + H, pw:pw + W] = x
    return out


def swap01(a):
    """``a`` with its first two axes swapped, as a new C-contiguous array."""
    xp = array_namespace(a)
    axes = (1, 0) + tuple(range(2, a.ndim))
    shape = (a.shape[1], a.shape[0]) + tuple(a.shape[2:])
    # reshaping the permuted view to 2-D and back copies it in C order (a reshape can only
    # return a view when the permuted array is already contiguous)
    flat = xp.reshape(xp.permute_dims(a, axes), (shape[0] * shape[1], -1))
    return xp.reshape(flat, shape)


def matmul(a, b):
    """``a @ b`` through the namespace's ``matmul``."""
    return array_namespace(a, b).matmul(a, b)


def matmul_batch_sum(a, b):
    """The sum over the batch of ``a_i @ b_i``: one ``tensordot`` over the batch and K."""
    batch = tuple(range(a.ndim - 2))
    return array_namespace(a, b).tensordot(a, b, axes=(batch + (a.ndim - 1,),
                                                        batch + (b.ndim - 2,)))


def weight_matmul_grads(w, x, g, need_w, need_x):
    """``(gw, gx)`` of ``y = w @ x`` (w (M, K) applied to every matrix of x (..., K, N)) for
    the output gradient ``g`` (..., M, N): the two products above."""
    xp = array_namespace(w, x, g)
    gw = matmul_batch_sum(g, xp.matrix_transpose(x)) if need_w else None
    gx = xp.matmul(xp.matrix_transpose(w), g) if need_x else None
    return gw, gx


_OPS = {"sub": operator.sub, "mul": operator.mul, "add": operator.add}
_INPLACE = {"sub": operator.isub, "mul": operator.imul, "add": operator.iadd}


def channel_affine(x, scale, shift, out=None, center=None, add=None, post_scale=None):
    """``((x - center[c]) * scale[c] + shift[c] + add) * post_scale[c]`` over axis 1, each term
    optional; into ``out`` if given (``out`` may be ``x``: in place, no temporary)."""
    xp = array_namespace(x)
    cs = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    steps = [(op, v if v.ndim == x.ndim else xp.reshape(v, cs))
             for op, v in (("sub", center), ("mul", scale), ("add", shift), ("add", add),
                           ("mul", post_scale)) if v is not None]
    if out is x:  # in place: no temporary (the conv bias add on CuPy)
        for op, v in steps:
            x = _INPLACE[op](x, v)
        return x
    y = x
    for op, v in steps:
        y = _OPS[op](y, v)
    if out is None:
        return y if y is not x else xp.asarray(x, copy=True)
    out[...] = y
    return out


def sum_trailing(a, k):
    """Sum of ``a`` over its last ``k`` axes, kept as axes of size 1."""
    return array_namespace(a).sum(a, axis=tuple(range(a.ndim - k, a.ndim)), keepdims=True)


def channel_sum(a):
    """Sum of ``a`` (N, C, ...) over every axis but 1 -> (C,)."""
    xp = array_namespace(a)
    N, C = a.shape[:2]
    return xp.sum(xp.sum(xp.reshape(a, (N, C, -1)), axis=-1), axis=0)


def channel_dot(a, b):
    """Sum of ``a * b`` over every axis but 1 -> (C,), without the product array."""
    xp = array_namespace(a)
    N, C = a.shape[:2]
    return xp.sum(xp.vecdot(xp.reshape(a, (N, C, -1)), xp.reshape(b, (N, C, -1)), axis=-1),
                  axis=0)


def relu(x):
    xp = array_namespace(x)
    return xp.maximum(x, xp.zeros_like(x))


def relu_backward(g, y):
    xp = array_namespace(g)
    return g * xp.astype(xp.logical_not(y <= 0), g.dtype)  # a nan output passes g (PyTorch)


def sigmoid(x):
    # 0.5 * (1 + tanh(x / 2)): one transcendental, no overflow for large |x|
    return 0.5 * (array_namespace(x).tanh(0.5 * x) + 1)


def sigmoid_backward(g, y):
    return g * (y * (1 - y))


def tanh(x):
    return array_namespace(x).tanh(x)


def tanh_backward(g, y):
    return g * (1 - y * y)


def silu(x):
    return x * sigmoid(x)


def silu_backward(g, x):
    s = sigmoid(x)
    return g * (s * (1 + x * (1 - s)))


_K_TANH = math.sqrt(2 / math.pi)


def _gelu_parts(x, approximate):
    """``(t, None)``: the tanh of PyTorch's approximation, or ``(None, cdf)``: Phi(x)."""
    if approximate == "tanh":
        return array_namespace(x).tanh(_K_TANH * (x + 0.044715 * x * x * x)), None
    from ..ops.special import erf_array  # (ops imports kernels: imported at first use)
    return None, 0.5 * (1 + erf_array(x * (1 / math.sqrt(2))))


def gelu(x, approximate="none"):
    t, cdf = _gelu_parts(x, approximate)
    return 0.5 * x * (1 + t) if cdf is None else x * cdf


def gelu_backward(g, x, approximate="none"):
    t, cdf = _gelu_parts(x, approximate)
    if cdf is None:
        inner = _K_TANH * (1 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner)
    pdf = array_namespace(x).exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
    return g * (cdf + x * pdf)


def softmax(x, axis):
    """exp(x - max) / sum along ``axis``: a row of -inf, one holding +inf and one holding nan
    each give nan, as PyTorch (the max is not mapped to a finite value)."""
    xp = array_namespace(x)
    if math.prod(x.shape) == 0:
        return xp.asarray(x, copy=True)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    e /= xp.sum(e, axis=axis, keepdims=True)
    return e


def softmax_backward(g, y, axis):
    return y * (g - array_namespace(g).sum(g * y, axis=axis, keepdims=True))


def _tap(a, i0, j0, sh, sw, OH, OW):
    return a[:, :, i0:i0 + sh * (OH - 1) + 1:sh, j0:j0 + sw * (OW - 1) + 1:sw]


def im2col(x, kernel_size, stride, padding, dilation):
    xp = array_namespace(x)
    N, C, _, _ = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    OH, OW = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
    xpd = _pad_nchw(xp, x, ph, pw)
    taps = [xp.permute_dims(_tap(xpd, i * dh, j * dw, sh, sw, OH, OW), (1, 0, 2, 3))
            for i in range(kh) for j in range(kw)]  # each (C, N, OH, OW)
    cols = xp.stack(taps, axis=1)  # (C, kh*kw, N, OH, OW)
    return xp.reshape(cols, (C * kh * kw, N, OH, OW))


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    xp = array_namespace(cols)
    N, C, H, W = check_col2im(cols.shape, x_shape, kernel_size, stride, padding, dilation)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    OH, OW = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
    src = xp.reshape(cols, (C, kh, kw, N, OH, OW))
    acc = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            idx = (slice(None), slice(None), slice(i * dh, i * dh + sh * (OH - 1) + 1, sh),
                   slice(j * dw, j * dw + sw * (OW - 1) + 1, sw))
            acc[idx] = acc[idx] + xp.permute_dims(src[:, i, j, ...], (1, 0, 2, 3))
    return acc[:, :, ph:ph + H, pw:pw + W]


def dilate(x, axes, dilation):
    xp = array_namespace(x)
    step = dilation + 1
    shape = list(x.shape)
    index = [slice(None)] * x.ndim
    for ax in axes:
        shape[ax] *= step
        index[ax] = slice(None, None, step)
    out = xp.zeros(tuple(shape), dtype=x.dtype)
    out[tuple(index)] = x
    return out


def undilate(x, axes, dilation):
    index = [slice(None)] * x.ndim
    for ax in axes:
        index[ax] = slice(None, None, dilation + 1)
    return x[tuple(index)]


def maxpool_forward(x, kernel_size, stride, padding, with_arg=True):
    xp = array_namespace(x)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    OH, OW = conv_geometry(x.shape, kernel_size, stride, padding, (1, 1))
    xpd = _pad_nchw(xp, x, ph, pw, value=-float("inf"))
    taps = [_tap(xpd, i, j, sh, sw, OH, OW) for i in range(kh) for j in range(kw)]
    out = taps[0]
    for v in taps[1:]:
        out = xp.maximum(out, v)
    if not with_arg:
        return out, None
    kk = kh * kw
    itype = xp.int8 if kk <= 127 else xp.int32
    arg = xp.full(out.shape, kk - 1, dtype=itype)
    for t in range(kk - 2, -1, -1):
        arg = xp.where(taps[t] == out, xp.asarray(t, dtype=itype), arg)
    return out, arg


def maxpool_backward(grad, arg, x_shape, kernel_size, stride, padding):
    xp = array_namespace(grad)
    N, C, H, W = check_maxpool_backward(grad.shape, arg.shape, x_shape, kernel_size, stride,
                                        padding)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    OH, OW = grad.shape[2:]
    acc = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=grad.dtype)
    zero = xp.zeros((), dtype=grad.dtype)
    for i in range(kh):
        for j in range(kw):
            idx = (slice(None), slice(None), slice(i, i + sh * (OH - 1) + 1, sh),
                   slice(j, j + sw * (OW - 1) + 1, sw))
            acc[idx] = acc[idx] + xp.where(arg == i * kw + j, grad, zero)
    return acc[:, :, ph:ph + H, pw:pw + W]


def index_add(shape, index, values):
    """zeros(shape) with ``values`` added at ``index``; one integer array along axis 0 (what
    ``take`` needs), as a one-hot matmul."""
    xp = array_namespace(values)
    idx = index[0] if isinstance(index, tuple) and len(index) == 1 else index
    if isinstance(idx, tuple) or not is_array_api_obj(idx):
        raise TypeError("index_add: the portable path supports one integer array along axis 0")
    idx = xp.reshape(idx, (-1,))
    onehot = xp.astype(idx[:, None] == xp.arange(shape[0])[None, :], values.dtype)  # (n, rows)
    flat = xp.reshape(values, (idx.shape[0], -1))
    return xp.reshape(xp.matmul(xp.matrix_transpose(onehot), flat), shape)


def group_norm_forward(x, groups, weight, bias, eps, keep):
    """``(y, saved)`` of group normalisation over each sample's groups of ``x`` (N, C, ...):
    y = d * inv * weight + bias with d = x - mean viewed as (N, G, C/G, M) and inv = 1 /
    sqrt(var + eps) (N, G); ``saved`` = ``(d, inv)`` (None unless ``keep``). Statistics in two
    passes; every reduction is a contiguous last-axis one. ``weight``/``bias`` (C,) or None."""
    xp = array_namespace(x)
    N, C = x.shape[:2]
    G = groups
    xg = xp.reshape(x, (N, G, C // G, -1))
    K = xg.shape[2] * xg.shape[3]
    mean = xp.sum(xp.sum(xg, axis=3), axis=2) / K                      # (N, G)
    d = xg - xp.reshape(mean, (N, G, 1, 1))
    dd = xp.reshape(d, (N, G, -1))
    inv = 1.0 / xp.sqrt(xp.vecdot(dd, dd, axis=-1) / K + eps)          # (N, G)
    if weight is None:
        y = d * xp.reshape(inv, (N, G, 1, 1))
    else:
        w = xp.reshape(weight, (1, G, C // G))
        y = d * xp.reshape(xp.reshape(inv, (N, G, 1)) * w, (N, G, C // G, 1))
    if bias is not None:
        y += xp.reshape(bias, (1, G, C // G, 1))
    return xp.reshape(y, x.shape), ((d, inv) if keep else None)


def group_norm_silu(x, groups, weight, bias, eps):
    """SiLU of ``group_norm_forward``'s output (nothing kept)."""
    y, _ = group_norm_forward(x, groups, weight, bias, eps, False)
    return silu(y)


def group_norm_backward(g, saved, weight, need):
    """``(gx, gw, gb)`` of ``group_norm_forward`` for the output gradient ``g`` from what it
    saved; ``need`` (input, weight, bias) says which to compute."""
    d, inv = saved
    xp = array_namespace(g, d)
    N, G, Cg, M = d.shape
    K = Cg * M
    gg = xp.reshape(g, (N, G, Cg, M))
    gsum = xp.sum(gg, axis=3)                        # (N, G, Cg): sum_m g
    gd = xp.vecdot(gg, d, axis=-1)                   # (N, G, Cg): sum_m g * (x - mean)
    w = None if weight is None else xp.reshape(weight, (1, G, Cg))
    gx = None
    if need[0]:
        ws = gsum if w is None else gsum * w
        wd = gd if w is None else gd * w
        A = xp.sum(ws, axis=2) / K                   # mean over the group of g * w
        B = inv * xp.sum(wd, axis=2) / K             # mean over the group of g * w * xhat
        # gx = inv * (g*w - A - xhat * B), xhat = d * inv
        if w is None:
            gx = gg * xp.reshape(inv, (N, G, 1, 1))
        else:
            gx = gg * xp.reshape(xp.reshape(inv, (N, G, 1)) * w, (N, G, Cg, 1))
        t = d * xp.reshape(-(inv * inv * B), (N, G, 1, 1))
        t += xp.reshape(-(inv * A), (N, G, 1, 1))
        gx += t
    if w is None:
        return gx, None, None
    C = G * Cg
    gw = xp.reshape(xp.sum(gd * xp.reshape(inv, (N, G, 1)), axis=0), (C,)) if need[1] else None
    gb = xp.reshape(xp.sum(gsum, axis=0), (C,)) if need[2] else None
    return gx, gw, gb
