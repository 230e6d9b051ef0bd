"""Convolution and transposed convolution as single kernel calls (``kernels.conv2d`` & co.),
chosen by ``conv2d`` / ``conv_transpose2d`` where ``kernels.direct_conv`` says the kernels
compute without im2col columns. Nothing but the inputs is kept for backward: no columns, no
buffer of the kernel library, so two forwards awaiting backward share nothing."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from ..autograd import Function

__all__ = ["Conv2dDirect", "ConvTranspose2dDirect"]


class Conv2dDirect(Function):
    """y = conv2d(x, w) (+ b); x (N, C, H, W), w (O, C, kh, kw), b (O,)."""

    def forward(self, x, w, *bias, stride, padding, dilation):
        self.geom = (stride, padding, dilation)
        self.x_shape, self.w_shape = tuple(x.shape), tuple(w.shape)
        need = self.needs_input_grad
        self.x = x if need[1] else None
        self.w = w if need[0] else None
        return kernels.conv2d(x, w, bias[0] if bias else None, *self.geom)

    def backward(self, g):
        need = self.needs_input_grad
        with_bias = len(need) > 2 and need[2]
        gx = gw = gb = None
        if need[0]:
            gx = kernels.conv2d_input_grad(g, self.w, self.x_shape, *self.geom)
        if need[1]:
            gw, gb = kernels.conv2d_weight_grad(self.x, g, self.w_shape, *self.geom,
                                                bias=with_bias)
        elif with_bias:
            gb = array_namespace(g).sum(g, axis=(0, 2, 3))
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


class ConvTranspose2dDirect(Function):
    """y = conv_transpose2d(x, w) (+ b); x (N, Cin, H, W), w (Cin, Cout, kh, kw), b (Cout,):
    the input gradient of ``conv2d`` with ``w``. Its gradients: ``conv2d(g, w)`` for x, the
    weight gradient of ``conv2d`` with input ``g`` and output gradient ``x`` for w."""

    def forward(self, x, w, *bias, stride, padding, output_padding, dilation):
        N, _, H, W = x.shape
        Cin, Cout, kh, kw = w.shape
        out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                       zip((H, W), (kh, kw), stride, padding, dilation, output_padding))
        self.geom = (stride, padding, dilation)
        self.w_shape = tuple(w.shape)
        need = self.needs_input_grad
        self.x = x if need[1] else None
        self.w = w if need[0] else None
        return kernels.conv_transpose2d(x, w, bias[0] if bias else None, (N, Cout) + out_hw,
                                        *self.geom)

    def backward(self, g):
        need = self.needs_input_grad
        gx = gw = gb = None
        if need[0]:
            gx = kernels.conv2d(g, self.w, None, *self.geom)
        if need[1]:
            gw, _ = kernels.conv2d_weight_grad(g, self.x, self.w_shape, *self.geom)
        if len(need) > 2:
            gb = array_namespace(g).sum(g, axis=(0, 2, 3)) if need[2] else None
            return gx, gw, gb
        return gx, gw
