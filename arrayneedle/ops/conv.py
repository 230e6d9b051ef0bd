"""Convolution and transposed convolution (NCHW, PyTorch weight layouts).

``conv2d`` picks one of three Functions (measured on the CPU; see kernels/cpu.py for the
column layout, _conv_layout.py for the raw-array building blocks):

- ``Conv2dPointwise`` (1x1 kernel, stride 1, no padding): a batched matmul straight on NCHW.
- ``Conv2dAdjoint`` (few output channels: stride 1, ``2*O <= C``): the adjoint of a
  transposed convolution, ``col2im(Wf.T @ x)`` with the flipped, transposed kernel ``Wf``; its
  gradients share one ``im2col(g)``. Its column arrays have O*kh*kw rows instead of C*kh*kw.
- ``Conv2dIm2col`` otherwise: ``cols = im2col(x)`` of shape ``(C*kh*kw, N, OH, OW)``, one
  matmul ``W(O, C*kh*kw) @ cols`` -> ``(O, N, OH, OW)``, one copy into contiguous NCHW (from
  32x32 up instead one matmul per image on a strided view of ``cols``, whose products are the
  NCHW blocks: ``matmul_nchw``). ``cols`` is kept for the weight gradient when the weight
  needs one (k*k times the input's memory, for one im2col less in backward). Weight gradient:
  ``g(O, N*OH*OW) @ cols.T`` (one matmul; BLAS reads the transposed view). Input gradient:
  ``col2im(W.T @ g)``; for stride 1 and ``O < 2*C`` instead the 'full' convolution of ``g``
  with the flipped, transposed kernel (im2col + one matmul), because an im2col copy costs
  about half a col2im scatter-add per element.

``conv_transpose2d`` is the adjoint of ``conv2d``: forward ``col2im(W.T @ x)`` (for stride 1
and ``Cin < 2*Cout``, a convolution with the flipped kernel), backward ``im2col(g)`` and two
matmuls.

Those raw-array gradients run while no graph is recorded. Under ``create_graph=True`` the
gradients are themselves convolutions of Tensors, differentiable to any order: conv2d's input
gradient is ``conv_transpose2d(g, w)``, conv_transpose2d's is ``conv2d(g, w)``, and both weight
gradients are a ``Conv2dWeightGrad`` (a transposed convolution and a convolution backward).
"""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor, same_device, wrap_grads
from ..autograd import Function, is_grad_enabled
from ..kernels.geometry import padding_string, same_padding
from ._conv_layout import (add_bias, channels_first, check_4d, check_bias, check_channels,
                           check_groups, check_same_dtype, conv_params, conv_raw,
                           flipped_transposed, full_padding, matmul_nchw, weight_from_cols)
from .conv_grad import Conv2dWeightGrad, adjoint_output_padding
from .dilation import Dilate, Undilate, dilate, undilate
from .shape import getitem, pad, reshape, squeeze, unsqueeze

__all__ = ["conv2d", "conv_transpose2d", "dilate", "undilate", "Conv2d", "Conv2dIm2col",
           "Conv2dAdjoint", "Conv2dPointwise", "ConvTranspose2d", "Conv2dGrouped",
           "ConvTranspose2dGrouped", "Conv2dWeightGrad", "Dilate", "Undilate"]


# ---------------------------------------------------------------- Functions
class _ConvFunction(Function):
    """The convolutions' common parts. ``backward`` has two paths with equal values: while
    no graph is recorded (``create_graph=False``) the raw-array ``_grads`` reuse what forward
    kept (im2col columns, reshaped weights); while one is, the gradients are convolutions of
    Tensors (``_graph_grads``), differentiable again."""

    groups = 1
    cols_kept = False  # True where ``for_gw`` holds the im2col columns of the input

    def _finish(self, y, bias, for_gx, for_gw, stride, padding, dilation):
        """End of a forward: add the bias to the new array ``y`` in place and keep what each
        gradient needs, only when that gradient is wanted."""
        if bias:
            y = add_bias(y, bias[0])
        self.conv_args = (stride, padding, dilation)
        self.for_gx = for_gx if self.needs_input_grad[0] else None
        self.for_gw = for_gw if self.needs_input_grad[1] else None
        return y

    def backward(self, g):
        need = self.needs_input_grad
        if is_grad_enabled():
            grads = self._graph_grads(g, *self.parents[:2])
        else:
            grads = wrap_grads(self._grads(array_namespace(g.array), g.array, *need[:2]),
                               g.device)
        if len(need) > 2:
            return grads + ((g.sum(dim=(0, 2, 3)) if need[2] else None),)
        return grads


class Conv2d(_ConvFunction):
    """y = conv2d(x, w) (+ b); x (N, C, H, W), w (O, C, kh, kw), b (O,).

    The base of the three algorithms ``conv2d`` chooses from: each subclass has its own
    ``forward`` (ending in ``_finish``) and ``_grads(xp, g, need_x, need_w) -> (gx, gw)``
    on raw arrays; the bias gradient and the differentiable gradients are common: the input
    gradient is the transposed convolution of ``g`` with ``w``, the weight gradient a
    ``Conv2dWeightGrad``."""

    def _graph_grads(self, g, x, w):
        need = self.needs_input_grad
        stride, padding, dilation = self.conv_args
        ksize = tuple(w.shape[2:])
        gx = gw = None
        if need[0]:
            op = adjoint_output_padding(x.shape[2:], g.shape[2:], ksize, stride, padding,
                                        dilation)
            gx = conv_transpose2d(g, w, None, stride, padding, op, self.groups, dilation)
        if need[1]:
            cols = self.for_gw if self.cols_kept else None
            gw = Conv2dWeightGrad.apply(x, g, kernel_size=ksize, stride=stride, padding=padding,
                                        dilation=dilation, groups=self.groups, cols=cols)
        return gx, gw


class Conv2dIm2col(Conv2d):
    """Any geometry: im2col and one matmul (see the module docstring)."""

    cols_kept = True

    def forward(self, x, w, *bias, stride, padding, dilation):
        xp = array_namespace(x, w)
        O, C, kh, kw = w.shape
        self.geom = ((kh, kw), stride, padding, dilation)
        self.x_shape, self.w_shape = tuple(x.shape), tuple(w.shape)
        y, cols = conv_raw(x, xp.reshape(w, (O, C * kh * kw)), *self.geom)
        return self._finish(y, bias, w, cols, stride, padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        ksize, stride, padding, dilation = self.geom
        O, C, kh, kw = self.w_shape
        N, _, OH, OW = g.shape
        gx = gw = None
        full = full_padding(ksize, padding, dilation) if stride == (1, 1) else None
        data_as_conv = full is not None and O < 2 * C
        if need_w or (need_x and not data_as_conv):
            gt = channels_first(xp, g)  # (O, N*OH*OW)
        if need_w:
            gw = weight_from_cols(xp, gt, self.for_gw, self.w_shape)
        if need_x and data_as_conv:
            gx, _ = conv_raw(g, flipped_transposed(xp, self.for_gx), ksize, (1, 1), full,
                             dilation)
        elif need_x:
            w2 = xp.reshape(self.for_gx, (O, C * kh * kw))
            gcols = xp.reshape(xp.matmul(xp.matrix_transpose(w2), gt), (C * kh * kw, N, OH, OW))
            gx = kernels.col2im(gcols, self.x_shape, *self.geom)
        return gx, gw


class Conv2dAdjoint(Conv2d):
    """Stride 1 and few output channels (``2*O <= C``, e.g. a UNet up block's 2C -> C/2 conv):
    the adjoint of a transposed convolution, ``col2im(Wf.T @ x)``, whose columns have O*kh*kw
    rows instead of im2col's C*kh*kw (faster than im2col there; BENCHMARKS.md)."""

    def forward(self, x, w, *bias, stride, padding, dilation):
        xp = array_namespace(x, w)
        O, C, kh, kw = w.shape
        N, _, H, W = x.shape
        self.full = full_padding((kh, kw), padding, dilation)
        self.dilation = dilation
        self.x_shape, self.w_shape = tuple(x.shape), tuple(w.shape)
        wf = flipped_transposed(xp, w)  # (C, O*kh*kw)
        xcf = channels_first(xp, x)  # (C, N*H*W)
        cols = xp.reshape(xp.matmul(xp.matrix_transpose(wf), xcf), (O * kh * kw, N, H, W))
        OH, OW = (n + 2 * q - d * (k - 1) for n, q, d, k in
                  zip((H, W), padding, dilation, (kh, kw)))
        y = kernels.col2im(cols, (N, O, OH, OW), (kh, kw), (1, 1), self.full, dilation)
        return self._finish(y, bias, wf, xcf, (1, 1), padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        """One im2col of ``g`` (O*kh*kw rows) serves both gradients."""
        O, C, kh, kw = self.w_shape
        N, _, H, W = self.x_shape
        cols = kernels.im2col(g, (kh, kw), (1, 1), self.full, self.dilation)  # (O*kh*kw, N, H, W)
        cols = xp.reshape(cols, (O * kh * kw, N * H * W))
        gx = gw = None
        if need_x:
            gx = matmul_nchw(xp, self.for_gx, cols, N, H, W)
        if need_w:
            gwf = xp.reshape(xp.matmul(self.for_gw, xp.matrix_transpose(cols)), (C, O, kh, kw))
            # undo the flip and transpose of flipped_transposed; the reshape to 1-D copies
            # the view into a contiguous array
            gw = xp.flip(xp.permute_dims(gwf, (1, 0, 2, 3)), axis=(2, 3))
            gw = xp.reshape(xp.reshape(gw, (-1,)), self.w_shape)
        return gx, gw


class Conv2dPointwise(Conv2d):
    """1x1 kernel, stride 1, no padding: a batched matmul straight on the NCHW layout."""

    def forward(self, x, w, *bias, stride, padding, dilation):
        xp = array_namespace(x, w)
        O, C = w.shape[:2]
        N, _, H, W = x.shape
        self.x_shape, self.w_shape = tuple(x.shape), tuple(w.shape)
        x3 = xp.reshape(x, (N, C, H * W))
        y = xp.reshape(xp.matmul(xp.reshape(w, (O, C)), x3), (N, O, H, W))
        return self._finish(y, bias, w, x3, stride, padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        O, C = self.w_shape[:2]
        N, _, H, W = g.shape
        g3 = xp.reshape(g, (N, O, H * W))
        gx = gw = None
        if need_x:
            w2 = xp.reshape(self.for_gx, (O, C))
            gx = xp.reshape(xp.matmul(xp.matrix_transpose(w2), g3), self.x_shape)
        if need_w:
            gw = xp.sum(xp.matmul(g3, xp.matrix_transpose(self.for_gw)), axis=0)
            gw = xp.reshape(gw, self.w_shape)
        return gx, gw


class ConvTranspose2d(_ConvFunction):
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
        full = full_padding(ksize, padding, dilation)
        if stride == (1, 1) and output_padding == (0, 0) and full is not None and Cin < 2 * Cout:
            y, _ = conv_raw(x, flipped_transposed(xp, w), ksize, (1, 1), full, dilation)
        else:
            w2 = xp.reshape(w, (Cin, Cout * kh * kw))
            cols = xp.matmul(xp.matrix_transpose(w2), channels_first(xp, x))
            cols = xp.reshape(cols, (Cout * kh * kw, N, H, W))
            y = kernels.col2im(cols, (N, Cout) + out_hw, *self.geom)
        # col2im and conv_raw allocate y
        return self._finish(y, bias, w, x, stride, padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        """One im2col of ``g`` serves both gradients."""
        Cin, Cout, kh, kw = self.w_shape
        gx = gw = None
        if need_x or need_w:
            cols = kernels.im2col(g, *self.geom)  # (Cout*kh*kw, N, H, W)
            ckk, N, H, W = cols.shape
            cols = xp.reshape(cols, (ckk, N * H * W))
            if need_x:
                gx = matmul_nchw(xp, xp.reshape(self.for_gx, (Cin, ckk)), cols, N, H, W)
            if need_w:
                gw = xp.matmul(channels_first(xp, self.for_gw), xp.matrix_transpose(cols))
                gw = xp.reshape(gw, self.w_shape)
        return gx, gw

    def _graph_grads(self, g, x, w):
        """The input gradient is the convolution of ``g`` with ``w``, the weight gradient
        conv2d's with input and output gradient swapped."""
        need = self.needs_input_grad
        stride, padding, dilation = self.conv_args
        gx = gw = None
        if need[0]:
            gx = conv2d(g, w, None, stride, padding, dilation, self.groups)
        if need[1]:
            gw = Conv2dWeightGrad.apply(g, x, kernel_size=tuple(w.shape[2:]), stride=stride,
                                        padding=padding, dilation=dilation, groups=self.groups)
        return gx, gw


from .conv_grouped import Conv2dGrouped, ConvTranspose2dGrouped  # noqa: E402 (subclasses)


# ---------------------------------------------------------------- public wrappers
def _operands(name, x, weight, bias, weight_layout):
    """x, weight (and bias) as Tensors on one device with one dtype, x and weight 4-D."""
    tensors = [as_tensor(x), as_tensor(weight)] + ([as_tensor(bias)] if bias is not None else [])
    same_device(name, tensors)
    check_4d(name, "input", tensors[0], "(N, C, H, W)")
    check_4d(name, "weight", tensors[1], weight_layout)
    check_same_dtype(name, tensors)
    return tensors


def _same_padding(x, ksize, dilation):
    """PyTorch's padding="same" (stride 1, checked by ``padding_string``): the input
    (explicitly padded after when the total is odd) and the symmetric part."""
    pads = same_padding(ksize, dilation)
    sym = tuple(lo for lo, _ in pads)
    extra = [hi - lo for lo, hi in pads]
    if any(extra):
        x = pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    return x, sym


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch) of ``x`` (N, C, H, W) or (C, H, W) with
    ``weight`` (O, C/groups, kh, kw) and optional ``bias`` (O,); returns (N, O, OH, OW).
    ``padding`` is an int, a pair, or "valid" / "same" (PyTorch's rule: stride 1, any extra
    padding after)."""
    if getattr(x, "ndim", None) == 3:  # unbatched, as PyTorch
        y = conv2d(unsqueeze(as_tensor(x), 0), weight, bias, stride, padding, dilation, groups)
        return squeeze(y, 0)
    tensors = _operands("conv2d", x, weight, bias, "(out_channels, in_channels/groups, kh, kw)")
    x, weight = tensors[:2]
    p = conv_params("conv2d", stride=stride, padding=0 if isinstance(padding, str) else padding,
                    dilation=dilation)
    mode = padding_string("conv2d", padding, p["stride"])
    O, Cg, kh, kw = weight.shape
    G = check_groups("conv2d", groups, x.shape[1], O)
    check_channels("conv2d", x, weight, G, Cg * G)
    check_bias("conv2d", tensors[2] if bias is not None else None, O)
    if mode == "same":
        x, p["padding"] = _same_padding(x, (kh, kw), p["dilation"])
        tensors[0] = x
    H, W = x.shape[2:]
    (ph, pw), (dh, dw) = p["padding"], p["dilation"]
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if eh > H + 2 * ph or ew > W + 2 * pw:
        raise ValueError(f"conv2d: kernel of size {(eh, ew)} (dilated) is larger than the "
                         f"padded input {(H + 2 * ph, W + 2 * pw)}; expected a kernel no larger "
                         f"than the input plus padding")
    if G > 1:
        return Conv2dGrouped.apply(*tensors, groups=G, **p)
    stride1 = p["stride"] == (1, 1)
    if stride1 and (kh, kw) == (1, 1) and p["padding"] == (0, 0):
        fn = Conv2dPointwise
    elif (stride1 and 2 * O <= Cg
          and full_padding((kh, kw), p["padding"], p["dilation"]) is not None):
        fn = Conv2dAdjoint
    else:
        fn = Conv2dIm2col
    return fn.apply(*tensors, **p)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 2-D convolution (the adjoint of ``conv2d``, as PyTorch) of ``x``
    (N, Cin, H, W) or (Cin, H, W) with ``weight`` (Cin, Cout/groups, kh, kw); returns
    (N, Cout, Hout, Wout) with
    ``Hout = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1``.
    ``output_padding`` must be smaller than the stride or the dilation (as PyTorch)."""
    if getattr(x, "ndim", None) == 3:
        y = conv_transpose2d(unsqueeze(as_tensor(x), 0), weight, bias, stride, padding,
                             output_padding, groups, dilation)
        return squeeze(y, 0)
    tensors = _operands("conv_transpose2d", x, weight, bias,
                        "(in_channels, out_channels/groups, kh, kw)")
    x, weight = tensors[:2]
    p = conv_params("conv_transpose2d", stride=stride, padding=padding,
                    output_padding=output_padding, dilation=dilation)
    Cin, Coutg, kh, kw = weight.shape
    G = check_groups("conv_transpose2d", groups, Cin,
                     Coutg * groups if int(groups) > 0 else 0)
    check_channels("conv_transpose2d", x, weight, G, Cin)
    check_bias("conv_transpose2d", tensors[2] if bias is not None else None, Coutg * G)
    for op, s, d in zip(p["output_padding"], p["stride"], p["dilation"]):
        if op >= s and op >= d:
            raise ValueError(f"conv_transpose2d: output padding must be smaller than either "
                             f"stride or dilation, but got output_padding="
                             f"{p['output_padding']}, stride={p['stride']}, dilation="
                             f"{p['dilation']}")
    for n, k, s, q, d, op in zip(x.shape[2:], (kh, kw), p["stride"], p["padding"],
                                 p["dilation"], p["output_padding"]):
        if (n - 1) * s - 2 * q + d * (k - 1) + op + 1 < 1:
            raise ValueError(f"conv_transpose2d: padding {p['padding']} is too large for input "
                             f"size {x.shape[2:]} and kernel {(kh, kw)}: the output would be "
                             f"empty")
    if all(o < s for o, s in zip(p["output_padding"], p["stride"])):
        fn = ConvTranspose2dGrouped if G > 1 else ConvTranspose2d
        return fn.apply(*tensors, **p, **({"groups": G} if G > 1 else {}))
    # output_padding >= stride (allowed below the dilation): col2im needs op < stride, so
    # take the uncropped output (no padding) and cut PyTorch's window out of it, zeros where
    # that window runs past the end; the bias is added afterwards (it covers those too)
    full = dict(p, padding=(0, 0), output_padding=(0, 0))
    fn = ConvTranspose2dGrouped if G > 1 else ConvTranspose2d
    y = fn.apply(x, weight, **full, **({"groups": G} if G > 1 else {}))
    L = y.shape[2:]
    stops = tuple(q + (n - 1) * s - 2 * q + d * (k - 1) + o + 1 for n, k, s, q, d, o in
                  zip(x.shape[2:], (kh, kw), p["stride"], p["padding"], p["dilation"],
                      p["output_padding"]))
    y = pad(y, ((0, 0), (0, 0)) + tuple((0, max(0, e - n)) for e, n in zip(stops, L)))
    (ph, pw) = p["padding"]
    y = getitem(y, (slice(None), slice(None), slice(ph, stops[0]), slice(pw, stops[1])))
    if bias is not None:
        y = y + reshape(tensors[2], (-1, 1, 1))
    return y
