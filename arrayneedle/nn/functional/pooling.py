"""Pooling with PyTorch's functional signatures."""
from __future__ import annotations

from ... import ops
from ..._helpers import as_tensor
from ...tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_max_pool2d"]

max_pool2d = ops.pool.max_pool2d
avg_pool2d = ops.pool.avg_pool2d


def _one(v, name):
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    return int(v)


def _as_2d(fn, x, name, *args, **kw):
    """A 1-D pool of (N, C, L) or (C, L) as the 2-D pool of a unit height."""
    x = as_tensor(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"{name}: input must be (N, C, L) or (C, L), got shape {x.shape}")
    res = fn(ops.unsqueeze(x, -2), *args, **kw)
    if isinstance(res, tuple):
        return tuple(ops.squeeze(r, -2) for r in res)
    return ops.squeeze(res, -2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    k = _one(kernel_size, "max_pool1d: kernel_size")
    s = k if stride is None else _one(stride, "max_pool1d: stride")
    return _as_2d(max_pool2d, input, "max_pool1d", (1, k), (1, s),
                  (0, _one(padding, "max_pool1d: padding")),
                  (1, _one(dilation, "max_pool1d: dilation")), ceil_mode, return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    k = _one(kernel_size, "avg_pool1d: kernel_size")
    s = k if stride is None else _one(stride, "avg_pool1d: stride")
    return _as_2d(avg_pool2d, input, "avg_pool1d", (1, k), (1, s),
                  (0, _one(padding, "avg_pool1d: padding")), ceil_mode, count_include_pad)


def _adaptive_matrix(xp, n, out, dtype):
    """(out, n) averaging matrix of PyTorch's adaptive windows: window ``i`` spans
    ``[floor(i*n/out), ceil((i+1)*n/out))``."""
    i = xp.arange(out)
    start = (i * n) // out
    end = ((i + 1) * n + out - 1) // out
    h = xp.reshape(xp.arange(n), (1, n))
    inside = (h >= xp.reshape(start, (out, 1))) & (h < xp.reshape(end, (out, 1)))
    return xp.astype(inside, dtype) / xp.astype(xp.reshape(end - start, (out, 1)), dtype)


def _output_size(output_size, shape, name):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{name}: output_size must be an int or a pair, got "
                             f"{output_size!r}")
        sizes = output_size
    else:
        sizes = (output_size, output_size)
    out = tuple(n if s is None else int(s) for s, n in zip(sizes, shape))
    if min(out) < 1:
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    return out


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive windows of (N, C, H, W) or (C, H, W). When the output
    size divides the input size the windows tile it: one reshape and mean. Otherwise they
    may overlap and differ in size: each axis is one matmul with an (out, in) averaging
    matrix (the average of a rectangle is the average over rows of the column averages)."""
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got "
                         f"shape {x.shape}")
    H, W = x.shape[-2:]
    OH, OW = _output_size(output_size, (H, W), "adaptive_avg_pool2d")
    if H % OH == 0 and W % OW == 0:
        lead = tuple(x.shape[:-2])
        y = ops.reshape(x, lead + (OH, H // OH, OW, W // OW))
        return ops.mean(y, axis=(-3, -1))
    xp = x.device.xp
    ah = Tensor._wrap(_adaptive_matrix(xp, H, OH, x.dtype), x.device)
    aw = Tensor._wrap(xp.matrix_transpose(_adaptive_matrix(xp, W, OW, x.dtype)), x.device)
    return ops.matmul(ops.matmul(ah, x), aw)


def adaptive_avg_pool1d(input, output_size):
    return _as_2d(adaptive_avg_pool2d, input, "adaptive_avg_pool1d",
                  (1, _one(output_size, "adaptive_avg_pool1d: output_size")))


def _adaptive_taps(xp, n, out):
    """Per output position of PyTorch's adaptive windows: the source index of each of the
    ``kmax`` taps (clamped into the window), whether that tap is inside the window, and the
    window starts."""
    i = xp.arange(out)
    start = (i * n) // out
    end = ((i + 1) * n + out - 1) // out
    kmax = max((((j + 1) * n + out - 1) // out) - (j * n) // out for j in range(out))
    t = xp.reshape(xp.arange(kmax), (1, kmax))
    src = xp.reshape(start, (out, 1)) + t
    inside = src < xp.reshape(end, (out, 1))
    return xp.minimum(src, xp.reshape(end, (out, 1)) - 1), inside, start, kmax


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive windows of (N, C, H, W) or (C, H, W). Windows differ
    in size: each is gathered at the largest size (two gathers) with the taps past its end
    set to -inf, then one max over the taps; ``return_indices`` as PyTorch (flat index into
    each input plane)."""
    x = as_tensor(input)
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_max_pool2d: input must be (N, C, H, W) or (C, H, W), got "
                         f"shape {x.shape}")
    H, W = x.shape[-2:]
    OH, OW = _output_size(output_size, (H, W), "adaptive_max_pool2d")
    xp = x.device.xp
    ih, in_h, sh, kh = _adaptive_taps(xp, H, OH)
    iw, in_w, sw, kw = _adaptive_taps(xp, W, OW)
    lead = tuple(x.shape[:-2])
    b = len(lead)
    win = ops.take(ops.take(x, ih, axis=b), iw, axis=b + 2)  # (*, OH, kh, OW, kw)
    win = ops.permute(win, *range(b), b, b + 2, b + 1, b + 3)  # (*, OH, OW, kh, kw)
    inside = xp.reshape(in_h, (OH, 1, kh, 1)) & xp.reshape(in_w, (1, OW, 1, kw))
    neg = xp.where(inside, xp.asarray(0, dtype=x.dtype), xp.asarray(-float("inf"), dtype=x.dtype))
    win = ops.reshape(win + Tensor._wrap(neg, x.device), lead + (OH, OW, kh * kw))
    out = ops.max(win, axis=-1)
    if isinstance(out, tuple):  # PyTorch's max(x, dim) gives (values, indices)
        out = out[0]
    if not return_indices:
        return out
    t = xp.argmax(win.array, axis=-1)
    rows = xp.reshape(sh, (OH, 1)) + t // kw
    cols = xp.reshape(sw, (1, OW)) + t % kw
    return out, Tensor._wrap(xp.astype(rows * W + cols, xp.int64), x.device)
