"""Convolution, transposed convolution, dilation (NCHW, PyTorch weight layouts).

How the work is laid out (measured on the CPU; see kernels/cpu.py for the column layout):

- ``conv2d`` with few output channels (stride 1, ``2*O <= C``): computed as the adjoint of a
  transposed convolution, ``col2im(Wf.T @ x)`` with the flipped, transposed kernel ``Wf``; its
  gradients share one ``im2col(g)``. Its column arrays have O*kh*kw rows instead of C*kh*kw.
- ``conv2d`` forward otherwise: ``cols = im2col(x)`` of shape ``(C*kh*kw, N, OH, OW)``, one matmul
  ``W(O, C*kh*kw) @ cols`` -> ``(O, N, OH, OW)``, one copy into contiguous NCHW (from 32x32 up
  instead one matmul per image on a strided view of ``cols``, whose products are the NCHW
  blocks: ``_matmul_nchw``). ``cols`` is
  kept for the weight gradient when the weight needs one (k*k times the input's memory, for
  one im2col less in backward).
- weight gradient: ``g(O, N*OH*OW) @ cols.T`` (one matmul; BLAS reads the transposed view).
- input gradient: ``col2im(W.T @ g)``; for stride 1 and ``O < 2*C`` instead the 'full'
  convolution of ``g`` with the flipped, transposed kernel (im2col + one matmul), because an
  im2col copy costs about half a col2im scatter-add per element.
- ``conv_transpose2d`` is the adjoint of ``conv2d``: forward ``col2im(W.T @ x)`` (for stride 1
  and ``Cin < 2*Cout``, a convolution with the flipped kernel), backward ``im2col(g)`` and two
  matmuls.
"""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ..kernels.geometry import pair

__all__ = ["conv2d", "conv_transpose2d", "dilate", "undilate", "Conv2d", "ConvTranspose2d",
           "Dilate", "Undilate"]


# ---------------------------------------------------------------- layout helpers (raw arrays)
# Per-image matmuls write NCHW directly; one big matmul needs a layout copy after it. Measured
# (median of 21; big matmul + copy / per image): (12, 3, 64, 64) -> 32: 3.41 / 1.04 ms;
# (12, 64, 64, 64) -> 64: 25.8 / 24.8 ms; (12, 64, 32, 32) -> 64: 6.41 / 6.23 ms; equal at 16x16
# and slower at 8x8 (0.37 / 0.42 ms), where each image's matmul is too small.
_PER_IMAGE_MIN_HW = 1024


def _matmul_nchw(xp, w2, cols, N, OH, OW):
    """``w2`` (O, K) times ``cols`` (K, N*OH*OW or K, N, OH, OW) as a contiguous NCHW array.

    For large images one matmul per image (the batch loop runs inside the library's matmul)
    on a strided view of ``cols``: each image's product is already its NCHW block. Otherwise
    one matmul and one copy into NCHW."""
    O, K = w2.shape
    if OH * OW >= _PER_IMAGE_MIN_HW:
        per_image = xp.permute_dims(xp.reshape(cols, (K, N, OH * OW)), (1, 0, 2))
        return xp.reshape(xp.matmul(w2, per_image), (N, O, OH, OW))
    y = xp.matmul(w2, xp.reshape(cols, (K, N * OH * OW)))
    return kernels.swap01(xp.reshape(y, (O, N, OH, OW)))


def _channels_first(xp, a):
    """NCHW ``a`` as a ``(C, N*H*W)`` matrix (one copy)."""
    N, C, H, W = a.shape
    return xp.reshape(kernels.swap01(a), (C, N * H * W))


def _flipped_transposed(xp, w):
    """``w`` (A, B, kh, kw) -> (B, A*kh*kw) with the kernel flipped: the weight matrix of the
    adjoint convolution for stride 1."""
    A, B, kh, kw = w.shape
    wf = xp.flip(xp.permute_dims(w, (1, 0, 2, 3)), axis=(2, 3))
    return xp.reshape(wf, (B, A * kh * kw))


def _conv_raw(x, w2, kernel_size, stride, padding, dilation):
    """Convolution of NCHW ``x`` with the weight matrix ``w2`` (O, C*kh*kw).

    Returns the contiguous NCHW output and the ``cols`` it was computed from."""
    xp = array_namespace(x, w2)
    cols = kernels.im2col(x, kernel_size, stride, padding, dilation)
    _, N, OH, OW = cols.shape
    return _matmul_nchw(xp, w2, cols, N, OH, OW), cols


def _full_padding(kernel_size, padding, dilation):
    """Padding of the stride-1 adjoint convolution, or None when it would be negative."""
    p = tuple(d * (k - 1) - q for k, q, d in zip(kernel_size, padding, dilation))
    return p if min(p) >= 0 else None


def _add_bias(xp, y, b):
    """``y += b`` per channel, in place (y is always a new array of ours)."""
    return kernels.channel_affine(y, None, b, out=y)


# ---------------------------------------------------------------- Functions
class Conv2d(Function):
    """y = conv2d(x, w) (+ b); x (N, C, H, W), w (O, C, kh, kw), b (O,)."""

    def forward(self, x, w, *bias, stride, padding, dilation):
        xp = array_namespace(x, w)
        O, C, kh, kw = w.shape
        self.geom = ((kh, kw), stride, padding, dilation)
        self.x_shape, self.w_shape = tuple(x.shape), tuple(w.shape)
        w2 = xp.reshape(w, (O, C * kh * kw))
        self.pointwise = (kh, kw) == (1, 1) and stride == (1, 1) and padding == (0, 0)
        full = _full_padding((kh, kw), padding, dilation) if stride == (1, 1) else None
        # Few output channels (2*O <= C, e.g. a UNet up block's 2C -> C/2 conv): compute it as
        # the adjoint of a transposed convolution, col2im(Wf.T @ x), whose columns are
        # O*kh*kw rows instead of im2col's C*kh*kw. Measured 1.3-1.6x faster forward and
        # 1.1-1.4x faster forward+backward at 2*O <= C, the same at 2*O == C.
        self.adjoint = not self.pointwise and full is not None and 2 * O <= C
        if self.adjoint:
            self.full = full
            N, _, H, W = x.shape
            wf = _flipped_transposed(xp, w)  # (C, O*kh*kw)
            xcf = _channels_first(xp, x)  # (C, N*H*W)
            cols = xp.reshape(xp.matmul(xp.matrix_transpose(wf), xcf), (O * kh * kw, N, H, W))
            OH, OW = (n + 2 * q - d * (k - 1) for n, q, d, k in
                      zip((H, W), padding, dilation, (kh, kw)))
            y = kernels.col2im(cols, (N, O, OH, OW), (kh, kw), (1, 1), full, dilation)
            if bias:
                y = _add_bias(xp, y, bias[0])
            self.xcf = xcf if self.needs_input_grad[1] else None
            self.wf = wf if self.needs_input_grad[0] else None
            return y
        if self.pointwise:
            # 1x1 convolution: a batched matmul straight on the NCHW layout, no im2col
            N, _, H, W = x.shape
            cols = xp.reshape(x, (N, C, H * W))
            y = xp.reshape(xp.matmul(w2, cols), (N, O, H, W))
        else:
            y, cols = _conv_raw(x, w2, *self.geom)
        if bias:
            y = _add_bias(xp, y, bias[0])
        self.cols = cols if self.needs_input_grad[1] else None
        self.w = w if self.needs_input_grad[0] else None
        return y

    def backward(self, g):
        xp = array_namespace(g)
        need = self.needs_input_grad
        grads = (self._grads_adjoint if self.adjoint else
                 self._grads_pointwise if self.pointwise else self._grads)
        gx, gw = grads(xp, g, *need[:2])
        if len(need) > 2:
            return gx, gw, (xp.sum(g, axis=(0, 2, 3)) if need[2] else None)
        return gx, gw

    def _grads_adjoint(self, xp, g, need_x, need_w):
        """Gradients of the adjoint form: one im2col of ``g`` (O*kh*kw rows) serves both."""
        ksize, _, _, dilation = self.geom
        O, C, kh, kw = self.w_shape
        N, _, H, W = self.x_shape
        cols = kernels.im2col(g, ksize, (1, 1), self.full, dilation)  # (O*kh*kw, N, H, W)
        cols = xp.reshape(cols, (O * kh * kw, N * H * W))
        gx = gw = None
        if need_x:
            gx = _matmul_nchw(xp, self.wf, cols, N, H, W)
        if need_w:
            gwf = xp.reshape(xp.matmul(self.xcf, xp.matrix_transpose(cols)), (C, O, kh, kw))
            # undo the flip and transpose of _flipped_transposed; the reshape to 1-D copies
            # the view into a contiguous array
            gw = xp.flip(xp.permute_dims(gwf, (1, 0, 2, 3)), axis=(2, 3))
            gw = xp.reshape(xp.reshape(gw, (-1,)), self.w_shape)
        return gx, gw

    def _grads_pointwise(self, xp, g, need_x, need_w):
        O, C = self.w_shape[:2]
        N, _, H, W = g.shape
        g3 = xp.reshape(g, (N, O, H * W))
        gx = gw = None
        if need_x:
            w2 = xp.reshape(self.w, (O, C))
            gx = xp.reshape(xp.matmul(xp.matrix_transpose(w2), g3), self.x_shape)
        if need_w:
            gw = xp.sum(xp.matmul(g3, xp.matrix_transpose(self.cols)), axis=0)
            gw = xp.reshape(gw, self.w_shape)
        return gx, gw

    def _grads(self, xp, g, need_x, need_w):
        ksize, stride, padding, dilation = self.geom
        O, C, kh, kw = self.w_shape
        N, _, OH, OW = g.shape
        gx = gw = None
        full = _full_padding(ksize, padding, dilation) if stride == (1, 1) else None
        data_as_conv = full is not None and O < 2 * C
        if need_w or (need_x and not data_as_conv):
            gt = _channels_first(xp, g)  # (O, N*OH*OW)
        if need_w:
            cols = xp.reshape(self.cols, (C * kh * kw, N * OH * OW))
            gw = xp.reshape(xp.matmul(gt, xp.matrix_transpose(cols)), self.w_shape)
        if need_x and data_as_conv:
            gx, _ = _conv_raw(g, _flipped_transposed(xp, self.w), ksize, (1, 1), full, dilation)
        elif need_x:
            w2 = xp.reshape(self.w, (O, C * kh * kw))
            gcols = xp.reshape(xp.matmul(xp.matrix_transpose(w2), gt), (C * kh * kw, N, OH, OW))
            gx = kernels.col2im(gcols, self.x_shape, *self.geom)
        return gx, gw


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) (+ b); x (N, Cin, H, W), w (Cin, Cout, kh, kw), b (Cout,).

    The adjoint of ``conv2d`` with weight ``w`` (read as (O=Cin, C=Cout, kh, kw)) and the same
    stride, padding and dilation, as PyTorch defines it."""

    def forward(self, x, w, *bias, stride, padding, output_padding, dilation):
        xp = array_namespace(x, w)
        N, Cin, H, W = x.shape
        _, Cout, kh, kw = w.shape
        ksize = (kh, kw)
        self.geom = (ksize, stride, padding, dilation)
        self.w_shape = tuple(w.shape)
        out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                       zip((H, W), ksize, stride, padding, dilation, output_padding))
        full = _full_padding(ksize, padding, dilation)
        if stride == (1, 1) and output_padding == (0, 0) and full is not None and Cin < 2 * Cout:
            y, _ = _conv_raw(x, _flipped_transposed(xp, w), ksize, (1, 1), full, dilation)
        else:
            w2 = xp.reshape(w, (Cin, Cout * kh * kw))
            cols = xp.matmul(xp.matrix_transpose(w2), _channels_first(xp, x))
            cols = xp.reshape(cols, (Cout * kh * kw, N, H, W))
            y = kernels.col2im(cols, (N, Cout) + out_hw, *self.geom)
        if bias:  # y is a new array of ours (col2im and _conv_raw allocate it)
            y = _add_bias(xp, y, bias[0])
        self.x = x if self.needs_input_grad[1] else None
        self.w = w if self.needs_input_grad[0] else None
        return y

    def backward(self, g):
        xp = array_namespace(g)
        need = self.needs_input_grad
        Cin, Cout, kh, kw = self.w_shape
        gx = gw = None
        if need[0] or need[1]:
            cols = kernels.im2col(g, *self.geom)  # (Cout*kh*kw, N, H, W)
            ckk, N, H, W = cols.shape
            cols = xp.reshape(cols, (ckk, N * H * W))
            if need[0]:
                gx = _matmul_nchw(xp, xp.reshape(self.w, (Cin, ckk)), cols, N, H, W)
            if need[1]:
                gw = xp.matmul(_channels_first(xp, self.x), xp.matrix_transpose(cols))
                gw = xp.reshape(gw, self.w_shape)
        if len(need) > 2:
            gb = xp.sum(g, axis=(0, 2, 3)) if need[2] else None
            return gx, gw, gb
        return gx, gw


class Dilate(Function):
    def forward(self, x, axes, dilation):
        self.axes, self.dilation = axes, dilation
        return kernels.dilate(x, axes, dilation)

    def backward(self, g):
        return kernels.undilate(g, self.axes, self.dilation)


class Undilate(Function):
    def forward(self, x, axes, dilation):
        self.axes, self.dilation, self.shape = axes, dilation, tuple(x.shape)
        return kernels.undilate(x, axes, dilation)

    def backward(self, g):
        out = kernels.dilate(g, self.axes, self.dilation)
        if tuple(out.shape) != self.shape:  # dilate pads to a multiple of dilation+1
            out = out[tuple(slice(0, s) for s in self.shape)]
        return out


# ---------------------------------------------------------------- argument checks
def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _same_device(name, tensors):
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device is not dev:
            raise ValueError(f"{name}: operands are on different devices ({dev} and {t.device}); "
                             f"move them to one device with .to(device)")


def _same_dtype(name, tensors):
    names = [dtype_name(t.dtype) for t in tensors]
    if any(n != names[0] for n in names):
        raise TypeError(f"{name}: input, weight and bias must have the same dtype, got "
                        f"{', '.join(names)}")


def _check_4d(name, what, t, layout):
    if t.ndim != 4:
        raise ValueError(f"{name}: {what} must be 4-D {layout}, got shape {t.shape}")


def _params(name, **kw):
    out = {}
    for key, v in kw.items():
        a, b = pair(v, f"{name}: {key}")
        lo = 1 if key in ("stride", "dilation", "kernel_size") else 0
        if a < lo or b < lo:
            raise ValueError(f"{name}: {key} must be >= {lo}, got {v!r}")
        out[key] = (a, b)
    return out


def _check_bias(name, bias, channels):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(f"{name}: bias must have shape ({channels},) (one value per output "
                         f"channel), got {bias.shape}")


# ---------------------------------------------------------------- public wrappers
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, as PyTorch) of ``x`` (N, C, H, W) with ``weight``
    (O, C, kh, kw) and optional ``bias`` (O,); returns (N, O, OH, OW)."""
    x, weight = _t(x), _t(weight)
    tensors = [x, weight] + ([_t(bias)] if bias is not None else [])
    _same_device("conv2d", tensors)
    _check_4d("conv2d", "input", x, "(N, C, H, W)")
    _check_4d("conv2d", "weight", weight, "(out_channels, in_channels, kh, kw)")
    _same_dtype("conv2d", tensors)
    p = _params("conv2d", stride=stride, padding=padding, dilation=dilation)
    O, C, kh, kw = weight.shape
    if x.shape[1] != C:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but the weight expects "
                         f"{C} (weight shape {weight.shape} is (out, in, kh, kw))")
    _check_bias("conv2d", tensors[2] if bias is not None else None, O)
    H, W = x.shape[2:]
    (ph, pw), (dh, dw) = p["padding"], p["dilation"]
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if eh > H + 2 * ph or ew > W + 2 * pw:
        raise ValueError(f"conv2d: kernel of size {(eh, ew)} (dilated) is larger than the "
                         f"padded input {(H + 2 * ph, W + 2 * pw)}; expected a kernel no larger "
                         f"than the input plus padding")
    return Conv2d.apply(*tensors, **p)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, *,
                     dilation=1):
    """Transposed 2-D convolution (the adjoint of ``conv2d``, as PyTorch) of ``x``
    (N, Cin, H, W) with ``weight`` (Cin, Cout, kh, kw); returns (N, Cout, Hout, Wout) with
    ``Hout = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1``."""
    x, weight = _t(x), _t(weight)
    tensors = [x, weight] + ([_t(bias)] if bias is not None else [])
    _same_device("conv_transpose2d", tensors)
    _check_4d("conv_transpose2d", "input", x, "(N, C, H, W)")
    _check_4d("conv_transpose2d", "weight", weight, "(in_channels, out_channels, kh, kw)")
    _same_dtype("conv_transpose2d", tensors)
    p = _params("conv_transpose2d", stride=stride, padding=padding,
                output_padding=output_padding, dilation=dilation)
    Cin, Cout, kh, kw = weight.shape
    if x.shape[1] != Cin:
        raise ValueError(f"conv_transpose2d: input has {x.shape[1]} channels but the weight "
                         f"expects {Cin} (weight shape {weight.shape} is (in, out, kh, kw))")
    _check_bias("conv_transpose2d", tensors[2] if bias is not None else None, Cout)
    for op, s, in zip(p["output_padding"], p["stride"]):
        if op >= s:
            raise ValueError(f"conv_transpose2d: output_padding {p['output_padding']} must be "
                             f"smaller than stride {p['stride']}")
    for n, k, s, q, d, op in zip(x.shape[2:], (kh, kw), p["stride"], p["padding"],
                                 p["dilation"], p["output_padding"]):
        if (n - 1) * s - 2 * q + d * (k - 1) + op + 1 < 1:
            raise ValueError(f"conv_transpose2d: padding {p['padding']} is too large for input "
                             f"size {x.shape[2:]} and kernel {(kh, kw)}: the output would be "
                             f"empty")
    return ConvTranspose2d.apply(*tensors, **p)


def _dilate_args(name, x, axes, dilation):
    if isinstance(axes, int):
        axes = (axes,)
    out = set()
    for a in axes:
        a = int(a)
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor of shape "
                             f"{x.shape}")
        out.add(a % x.ndim)
    d = int(dilation)
    if d < 0:
        raise ValueError(f"{name}: dilation must be >= 0 (zeros inserted between elements), "
                         f"got {dilation}")
    return tuple(sorted(out)), d


def dilate(x, axes, dilation):
    """Insert ``dilation`` zeros after every element along ``axes`` (needle's dilate: an axis
    of length n becomes n*(dilation+1))."""
    x = _t(x)
    axes, d = _dilate_args("dilate", x, axes, dilation)
    if d == 0 or not axes:
        return x
    return Dilate.apply(x, axes=axes, dilation=d)


def undilate(x, axes, dilation):
    """Every (dilation+1)-th element along ``axes``: the adjoint (and left inverse) of
    ``dilate``."""
    x = _t(x)
    axes, d = _dilate_args("undilate", x, axes, dilation)
    if d == 0 or not axes:
        return x
    return Undilate.apply(x, axes=axes, dilation=d)
