"""Convolution and transposed convolution as single kernel calls (``kernels.conv2d`` & co.),
chosen by ``conv2d`` / ``conv_transpose2d`` where ``kernels.direct_conv`` says the kernels
compute without im2col columns. Nothing but the inputs is kept for backward: no columns, no
buffer of the kernel library, so two forwards awaiting backward share nothing. The gradients
while a graph is recorded (``create_graph=True``) are the base classes' (convolutions of
Tensors); otherwise ``_grads`` calls the kernels on raw arrays."""
from __future__ import annotations

from .. import kernels
from .._helpers import wrap_grads
from ..autograd import is_grad_enabled
from .conv import Conv2d, ConvTranspose2d

__all__ = ["Conv2dDirect", "ConvTranspose2dDirect"]


class Conv2dDirect(Conv2d):
    """y = conv2d(x, w) (+ b, fused into the kernel); x (N, C, H, W), w (O, C, kh, kw)."""

    def forward(self, x, w, *bias, stride, padding, dilation):
        self.x_shape, self.w_shape = tuple(x.shape), tuple(w.shape)
        y = kernels.conv2d(x, w, bias[0] if bias else None, stride, padding, dilation)
        return self._finish(y, (), w, x, stride, padding, dilation)

    def backward(self, g):
        """Without a graph to record: the input, weight and bias gradients in one kernel call
        (``kernels.conv2d_backward``: on oneDNN one reorder of ``g`` for both primitives, the
        bias gradient fused into the weight gradient's pass)."""
        need = self.needs_input_grad
        if is_grad_enabled() or (len(need) > 2 and need[2] and not need[1]):
            return super().backward(g)
        bias = len(need) > 2 and need[2]
        gx, gw, gb = kernels.conv2d_backward(g.array, self.for_gx, self.for_gw, self.x_shape,
                                             self.w_shape, *self.conv_args,
                                             need_input=need[0], need_weight=need[1],
                                             bias=bias)
        return wrap_grads((gx, gw, gb) if len(need) > 2 else (gx, gw), g.device)

    def _grads(self, xp, g, need_x, need_w):
        gx, gw, _ = kernels.conv2d_backward(g, self.for_gx, self.for_gw, self.x_shape,
                                            self.w_shape, *self.conv_args, need_input=need_x,
                                            need_weight=need_w)
        return gx, gw


class ConvTranspose2dDirect(ConvTranspose2d):
    """y = conv_transpose2d(x, w) (+ b, fused); x (N, Cin, H, W), w (Cin, Cout, kh, kw): the
    input gradient of ``conv2d`` with ``w``. Its gradients: ``conv2d(g, w)`` for x, the weight
    gradient of ``conv2d`` with input ``g`` and output gradient ``x`` for w."""

    def forward(self, x, w, *bias, stride, padding, output_padding, dilation):
        N, _, H, W = x.shape
        Cin, Cout, kh, kw = w.shape
        out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                       zip((H, W), (kh, kw), stride, padding, dilation, output_padding))
        self.w_shape = tuple(w.shape)
        y = kernels.conv_transpose2d(x, w, bias[0] if bias else None, (N, Cout) + out_hw,
                                     stride, padding, dilation)
        return self._finish(y, (), w, x, stride, padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        gx = gw = None
        if need_x:
            gx = kernels.conv2d(g, self.for_gx, None, *self.conv_args)
        if need_w:
            gw, _ = kernels.conv2d_weight_grad(g, self.for_gw, self.w_shape, *self.conv_args)
        return gx, gw
