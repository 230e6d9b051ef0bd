"""Max- and average-pooling (NCHW) with PyTorch's semantics: implicit -inf (max) or zero (avg)
padding, floor or ceil mode output size, dilation, PyTorch's indices and divisors."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, pair
from ..autograd import Function, Tensor
from .shape import pad, squeeze, unsqueeze

__all__ = ["max_pool2d", "avg_pool2d", "MaxPool2d", "MaxPool2dDilated", "AvgPool2d",
           "pool_out_size"]


class MaxPool2d(Function):
    """Max over (possibly overlapping) windows; the gradient of each window goes to its one
    maximum (the first in row-major window order on ties)."""

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
        return kernels.maxpool_backward(g, self.arg, self.x_shape, *self.params)


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


class MaxPool2dDilated(Function):
    """Max-pooling with dilated windows, of an input already padded with -inf: the windows
    as im2col columns, max and argmax over the taps (kh*kw times the input's memory)."""

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
        xp = array_namespace(g)
        kk = self.geom[0][0] * self.geom[0][1]
        taps = xp.reshape(xp.arange(kk), (1, kk, 1, 1, 1))
        hit = xp.astype(taps == self.arg[:, None, ...], g.dtype)
        gt = xp.reshape(kernels.swap01(g), (g.shape[1], 1) + (g.shape[0],) + g.shape[2:])
        return _scatter_taps(xp, hit * gt, self.x_shape, *self.geom)


class AvgPool2d(Function):
    """Window sums of an input already zero-padded, divided by ``divisor`` (OH, OW)."""

    def forward(self, x, kernel_size, stride, divisor):
        xp = array_namespace(x)
        self.geom = (kernel_size, stride, (1, 1))
        self.x_shape, self.divisor = tuple(x.shape), divisor
        win = _windows(xp, x, kernel_size, stride, (1, 1))
        return kernels.swap01(xp.sum(win, axis=1)) / divisor

    def backward(self, g):
        xp = array_namespace(g)
        kk = self.geom[0][0] * self.geom[0][1]
        gt = kernels.swap01(g / self.divisor)  # (C, N, OH, OW)
        gw = xp.broadcast_to(gt[:, None, ...], (gt.shape[0], kk) + tuple(gt.shape[1:]))
        return _scatter_taps(xp, gw, self.x_shape, *self.geom)


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
    (OH, OW), extra = _geometry("max_pool2d", x, k, s, p, d, ceil_mode)
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
    arg = sink[0]
    rows = xp.reshape(xp.arange(OH) * s[0] - p[0], (OH, 1)) + (arg // k[1]) * d[0]
    cols = xp.reshape(xp.arange(OW) * s[1] - p[1], (1, OW)) + (arg % k[1]) * d[1]
    idx = xp.astype(rows * W + cols, xp.int64)
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
