"""Max- and average-pooling (NCHW) with PyTorch's semantics: implicit -inf (max) or zero (avg)
padding, floor or ceil mode output size, dilation, PyTorch's indices and divisors."""
from __future__ import annotations

from functools import partial

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, pair
from ..autograd import Function, Tensor
from .linear_map import linear_map
from .shape import pad, squeeze, unsqueeze

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "MaxPool2dDilated", "AvgPool2d",
           "pool_out_size"]


class MaxPool2d(Function):
    """Max over (possibly overlapping) windows; the gradient of each window goes to its one
    maximum (the first in row-major window order on ties): a LinearMap through the saved
    argmax, whose adjoint gathers at those maxima (``window_max_gather``)."""

    keeps_inputs = False  # backward reads only the argmax

    def forward(self, x, kernel_size, stride, padding, arg_out=None):
        self.params = (kernel_size, stride, padding)
        self.x_shape = tuple(x.shape)
        # the argmax only serves backward (and return_indices): not computed otherwise
        out, self.arg = kernels.maxpool_forward(
            x, kernel_size, stride, padding,
            with_arg=self.needs_input_grad[0] or arg_out is not None)
        if arg_out is not None:
            arg_out.append(self.arg)
        return out

    def backward(self, g):
        k, s, p = self.params
        return linear_map(g, partial(kernels.maxpool_backward, arg=self.arg,
                                     x_shape=self.x_shape, kernel_size=k, stride=s, padding=p),
                          partial(window_max_gather, arg=self.arg, kernel_size=k, stride=s,
                                  padding=p, dilation=(1, 1)))


def window_max_rows_cols(xp, arg, kernel_size, stride, padding, dilation):
    """Row and column, in the input plane, of each window's maximum from its flat tap index
    ``arg`` (N, C, OH, OW): PyTorch's ``return_indices`` is ``rows * W + cols``."""
    OH, OW = arg.shape[-2:]
    (_, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    arg = xp.astype(arg, xp.int64)
    rows = xp.reshape(xp.arange(OH) * sh - ph, (OH, 1)) + (arg // kw) * dh
    cols = xp.reshape(xp.arange(OW) * sw - pw, (1, OW)) + (arg % kw) * dw
    return rows, cols


def window_max_gather(t, arg, kernel_size, stride, padding, dilation):
    """``t`` (N, C, H, W) read at each window's maximum -> (N, C, OH, OW): the adjoint of
    routing each window's gradient to its maximum. A tap in the padding (possible only for a
    window of -inf) reads 0, as the routing drops it."""
    xp = array_namespace(t)
    N, C, H, W = t.shape
    rows, cols = window_max_rows_cols(xp, arg, kernel_size, stride, padding, dilation)
    inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)
    plane = xp.reshape(xp.arange(N * C, dtype=xp.int64) * (H * W), (N, C, 1, 1))
    flat = plane + xp.clip(rows, 0, H - 1) * W + xp.clip(cols, 0, W - 1)
    v = xp.reshape(xp.take(xp.reshape(t, (-1,)), xp.reshape(flat, (-1,))), flat.shape)
    return xp.where(inside, v, xp.zeros_like(v))


def _windows(xp, x, kernel_size, stride, dilation):
    """(C, kh*kw, N, OH, OW) windows of the already padded NCHW ``x``."""
    cols = kernels.im2col(x, kernel_size, stride, 0, dilation)
    _, N, OH, OW = cols.shape
    return xp.reshape(cols, (x.shape[1], kernel_size[0] * kernel_size[1], N, OH, OW))


def _scatter_taps(xp, gw, x_shape, kernel_size, stride, dilation):
    """Adjoint of ``_windows``: (C, kh*kw, N, OH, OW) summed back into ``x_shape``."""
    C, kk, N, OH, OW = gw.shape
    return kernels.col2im(xp.reshape(gw, (C * kk, N, OH, OW)), x_shape, kernel_size, stride, 0,
                          dilation)


def _route_to_taps(g, arg, x_shape, kernel_size, stride, dilation):
    """``g`` (N, C, OH, OW) added into ``x_shape`` at each window's tap ``arg`` (C, N, OH, OW)
    (dilated max-pooling's gradient)."""
    xp = array_namespace(g)
    kk = kernel_size[0] * kernel_size[1]
    taps = xp.reshape(xp.arange(kk), (1, kk, 1, 1, 1))
    hit = xp.astype(taps == arg[:, None, ...], g.dtype)
    gt = xp.reshape(kernels.swap01(g), (g.shape[1], 1) + (g.shape[0],) + g.shape[2:])
    return _scatter_taps(xp, hit * gt, x_shape, kernel_size, stride, dilation)


def _gather_taps(t, arg, kernel_size, stride, dilation):
    """Adjoint of ``_route_to_taps``: ``t`` read at each window's tap ``arg`` (C, N, OH, OW)."""
    return window_max_gather(t, kernels.swap01(arg), kernel_size, stride, (0, 0), dilation)


class MaxPool2dDilated(Function):
    """Max-pooling with dilated windows, of an input already padded with -inf: the windows
    as im2col columns, max and argmax over the taps (kh*kw times the input's memory)."""

    keeps_inputs = False

    def forward(self, x, kernel_size, stride, dilation, arg_out=None):
        xp = array_namespace(x)
        self.geom = (kernel_size, stride, dilation)
        self.x_shape = tuple(x.shape)
        win = _windows(xp, x, kernel_size, stride, dilation)
        out = kernels.swap01(xp.max(win, axis=1))
        if self.needs_input_grad[0] or arg_out is not None:
            self.arg = xp.argmax(win, axis=1)  # (C, N, OH, OW), first maximum on ties
            if arg_out is not None:
                arg_out.append(kernels.swap01(self.arg))
        return out

    def backward(self, g):
        k, s, d = self.geom
        return linear_map(g, partial(_route_to_taps, arg=self.arg, x_shape=self.x_shape,
                                     kernel_size=k, stride=s, dilation=d),
                          partial(_gather_taps, arg=self.arg, kernel_size=k, stride=s,
                                  dilation=d))


def _window_means(x, kernel_size, stride, divisor):
    """Window sums of the NCHW ``x`` divided by ``divisor`` (OH, OW)."""
    xp = array_namespace(x)
    win = _windows(xp, x, kernel_size, stride, (1, 1))
    return kernels.swap01(xp.sum(win, axis=1)) / divisor


def _spread_windows(g, x_shape, kernel_size, stride, divisor):
    """Adjoint of ``_window_means``: each window's ``g / divisor`` added over the window."""
    xp = array_namespace(g)
    kk = kernel_size[0] * kernel_size[1]
    gt = kernels.swap01(g / divisor)  # (C, N, OH, OW)
    gw = xp.broadcast_to(gt[:, None, ...], (gt.shape[0], kk) + tuple(gt.shape[1:]))
    return _scatter_taps(xp, gw, x_shape, kernel_size, stride, (1, 1))


class AvgPool2d(Function):
    """Window sums of an input already zero-padded, divided by ``divisor`` (OH, OW); linear,
    with the adjoint ``_spread_windows`` as its backward (a LinearMap)."""

    keeps_inputs = False

    def forward(self, x, kernel_size, stride, divisor):
        self.geom = (kernel_size, stride, divisor)
        self.x_shape = tuple(x.shape)
        return _window_means(x, kernel_size, stride, divisor)

    def backward(self, g):
        k, s, div = self.geom
        return linear_map(g, partial(_spread_windows, x_shape=self.x_shape, kernel_size=k,
                                     stride=s, divisor=div),
                          partial(_window_means, kernel_size=k, stride=s, divisor=div))


# ---------------------------------------------------------------- public wrappers
def pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length: floor or ceil mode, and in ceil mode the last window
    must start inside the input or the left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_args(name, x, kernel_size, stride, padding, dilation=1):
    x = as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{name}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape "
                         f"{x.shape}")
    k = pair(kernel_size, f"{name}: kernel_size")
    s = k if stride is None or stride == () else pair(stride, f"{name}: stride")
    p = pair(padding, f"{name}: padding")
    d = pair(dilation, f"{name}: dilation")
    if min(k) < 1 or min(s) < 1 or min(p) < 0 or min(d) < 1:
        raise ValueError(f"{name}: need kernel_size, stride, dilation >= 1 and padding >= 0, "
                         f"got kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                         f"dilation={dilation}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{name}: padding {p} must be at most half the kernel size {k}")
    return x, k, s, p, d


def _geometry(name, x, k, s, p, d, ceil_mode):
    """Output size and the extra right/bottom padding ceil mode needs."""
    H, W = x.shape[-2:]
    out = tuple(pool_out_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in
                zip((H, W), k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"{name}: kernel {k} (dilation {d}) is larger than the padded input "
                         f"{(H + 2 * p[0], W + 2 * p[1])}; the output would be empty")
    extra = tuple(max(0, (o - 1) * ss + dd * (kk - 1) + 1 - (n + 2 * pp)) for o, ss, dd, kk, n, pp
                  in zip(out, s, d, k, (H, W), p))
    return out, extra


def _unbatched(fn, x, *args, **kw):
    res = fn(unsqueeze(x, 0), *args, **kw)
    if isinstance(res, tuple):
        return tuple(squeeze(r, 0) for r in res)
    return squeeze(res, 0)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max-pooling of ``x`` (N, C, H, W) or (C, H, W), as PyTorch; ``stride`` defaults to
    ``kernel_size``. With ``return_indices`` also the int64 position of each maximum as a flat
    index into its input plane (``row * W + col``)."""
    x, k, s, p, d = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation)
    if x.ndim == 3:
        return _unbatched(max_pool2d, x, k, s, p, d, ceil_mode, return_indices)
    _, extra = _geometry("max_pool2d", x, k, s, p, d, ceil_mode)
    H, W = x.shape[2:]
    sink = [] if return_indices else None
    if d == (1, 1):
        xin = x if not any(extra) else pad(
            x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])), value=float("-inf"))
        out = MaxPool2d.apply(xin, kernel_size=k, stride=s, padding=p, arg_out=sink)
    else:
        xin = pad(x, ((0, 0), (0, 0), (p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])),
                  value=float("-inf"))
        out = MaxPool2dDilated.apply(xin, kernel_size=k, stride=s, dilation=d, arg_out=sink)
    if not return_indices:
        return out
    xp = x.device.xp
    rows, cols = window_max_rows_cols(xp, sink[0], k, s, p, d)
    idx = rows * W + cols
    return out, Tensor._wrap(idx, x.device)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling of ``x`` (N, C, H, W) or (C, H, W), as PyTorch (zero padding; the
    divisor counts the padding when ``count_include_pad``, never the part of a ceil-mode window
    past it; ``divisor_override`` replaces it)."""
    x, k, s, p, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    if x.ndim == 3:
        return _unbatched(avg_pool2d, x, k, s, p, ceil_mode, count_include_pad,
                          divisor_override)
    if divisor_override is not None and int(divisor_override) == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero")
    out_hw, extra = _geometry("avg_pool2d", x, k, s, p, (1, 1), ceil_mode)
    xp = x.device.xp
    if divisor_override is not None:
        div = xp.asarray(float(divisor_override), dtype=x.dtype)
    else:
        counts = []
        for o, n, kk, ss, pp in zip(out_hw, x.shape[2:], k, s, p):
            start = xp.arange(o) * ss - pp
            end = xp.minimum(start + kk, n + pp)
            if not count_include_pad:
                start, end = xp.maximum(start, 0), xp.minimum(end, n)
            counts.append(xp.astype(end - start, x.dtype))
        div = xp.reshape(counts[0], (-1, 1)) * xp.reshape(counts[1], (1, -1))
    xin = x
    if any(p) or any(extra):
        xin = pad(x, ((0, 0), (0, 0), (p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])))
    return AvgPool2d.apply(xin, kernel_size=k, stride=s, divisor=div)
