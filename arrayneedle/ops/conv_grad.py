"""The weight gradient of a convolution as a Function of its own, so that it can be
differentiated again: ``Conv2dWeightGrad`` (its backward is a transposed convolution and a
convolution), and the output_padding that makes a transposed convolution the exact adjoint of
a given convolution."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from ..autograd import Function
from . import conv  # conv2d and conv_transpose2d, for the backward (conv imports this module)
from ._conv_layout import channels_first, weight_from_cols

__all__ = ["Conv2dWeightGrad", "adjoint_output_padding"]


def adjoint_output_padding(in_hw, out_hw, kernel_size, stride, padding, dilation):
    """The output_padding of the transposed convolution mapping ``out_hw`` back to ``in_hw``
    (the rows of ``in_hw`` that the convolution's last window did not reach)."""
    return tuple(n - ((o - 1) * s - 2 * q + d * (k - 1) + 1) for n, o, k, s, q, d in
                 zip(in_hw, out_hw, kernel_size, stride, padding, dilation))


class Conv2dWeightGrad(Function):
    """The weight gradient of ``conv2d(x, w, stride, padding, dilation, groups)`` for the
    output gradient ``g``: ``gw[o, c, i, j] = sum g[n, o, p, q] x[n, c, p*s + i*d - pad,
    q*s + j*d - pad]``, of shape (O, C/groups, kh, kw). Bilinear in ``(x, g)``; its backward
    is a transposed convolution (for ``x``) and a convolution (for ``g``) with the incoming
    weight-shaped gradient as the kernel. ``cols``: im2col columns of ``x`` a forward kept.
    With ``x`` and ``g`` swapped it is also the weight gradient of ``conv_transpose2d``."""

    def forward(self, x, g, kernel_size, stride, padding, dilation, groups, cols=None):
        xp = array_namespace(x, g)
        self.geom = (tuple(kernel_size), stride, padding, dilation, groups)
        if cols is None:
            cols = kernels.im2col(x, kernel_size, stride, padding, dilation)
        O, C = g.shape[1], x.shape[1]
        w_shape = (O, C // groups) + tuple(kernel_size)
        return weight_from_cols(xp, channels_first(xp, g), cols, w_shape, groups)

    def backward(self, gw):
        x, g = self.parents
        need = self.needs_input_grad
        ksize, stride, padding, dilation, groups = self.geom
        gx = gg = None
        if need[0]:
            op = adjoint_output_padding(x.shape[2:], g.shape[2:], ksize, stride, padding,
                                        dilation)
            gx = conv.conv_transpose2d(g, gw, None, stride, padding, op, groups, dilation)
        if need[1]:
            gg = conv.conv2d(x, gw, None, stride, padding, dilation, groups)
        return gx, gg
