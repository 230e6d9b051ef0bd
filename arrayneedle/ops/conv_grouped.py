"""Grouped convolutions (``groups > 1``, depthwise included): one batched matmul over the
groups, no Python loop.

im2col's rows are ordered channel-major (``c*kh*kw + tap``), so the rows of group ``g`` are
one contiguous block: ``cols`` (C*kh*kw, N, OH, OW) reshapes for free to (G, Cg*kh*kw, P)
and the weight (O, Cg, kh, kw) to (G, Og, Cg*kh*kw); their batched product (G, Og, P) is the
output in (O, N, OH, OW) order. ``groups == 1`` never comes here (ops.conv's three Functions).
"""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .conv import Conv2d, ConvTranspose2d
from ._conv_layout import channels_first, weight_from_cols

__all__ = ["Conv2dGrouped", "ConvTranspose2dGrouped"]


class Conv2dGrouped(Conv2d):
    """y = conv2d(x, w, groups=G); x (N, C, H, W), w (O, C/G, kh, kw)."""

    cols_kept = True

    def forward(self, x, w, *bias, stride, padding, dilation, groups):
        xp = array_namespace(x, w)
        O, Cg, kh, kw = w.shape
        G = groups
        self.geom = ((kh, kw), stride, padding, dilation)
        self.x_shape, self.w_shape, self.groups = tuple(x.shape), tuple(w.shape), G
        cols = kernels.im2col(x, *self.geom)  # (C*kh*kw, N, OH, OW)
        _, N, OH, OW = cols.shape
        c3 = xp.reshape(cols, (G, Cg * kh * kw, N * OH * OW))
        w3 = xp.reshape(w, (G, O // G, Cg * kh * kw))
        y = kernels.swap01(xp.reshape(xp.matmul(w3, c3), (O, N, OH, OW)))
        return self._finish(y, bias, w3, c3, stride, padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        O, Cg, kh, kw = self.w_shape
        G = self.groups
        N, _, OH, OW = g.shape
        gt = xp.reshape(channels_first(xp, g), (G, O // G, N * OH * OW))
        gx = gw = None
        if need_w:
            gw = weight_from_cols(xp, gt, self.for_gw, self.w_shape, G)
        if need_x:
            gcols = xp.matmul(xp.matrix_transpose(self.for_gx), gt)  # (G, Cg*kh*kw, P)
            gcols = xp.reshape(gcols, (G * Cg * kh * kw, N, OH, OW))
            gx = kernels.col2im(gcols, self.x_shape, *self.geom)
        return gx, gw


class ConvTranspose2dGrouped(ConvTranspose2d):
    """y = conv_transpose2d(x, w, groups=G); x (N, Cin, H, W), w (Cin, Cout/G, kh, kw): the
    adjoint of Conv2dGrouped."""

    def forward(self, x, w, *bias, stride, padding, output_padding, dilation, groups):
        xp = array_namespace(x, w)
        N, Cin, H, W = x.shape
        _, Coutg, kh, kw = w.shape
        G = groups
        ksize = (kh, kw)
        self.geom = (ksize, stride, padding, dilation)
        self.w_shape, self.groups = tuple(w.shape), G
        out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                       zip((H, W), ksize, stride, padding, dilation, output_padding))
        K = Coutg * kh * kw
        w3 = xp.reshape(w, (G, Cin // G, K))
        xcf = xp.reshape(channels_first(xp, x), (G, Cin // G, N * H * W))
        cols = xp.reshape(xp.matmul(xp.matrix_transpose(w3), xcf), (G * K, N, H, W))
        y = kernels.col2im(cols, (N, G * Coutg) + out_hw, *self.geom)
        return self._finish(y, bias, w3, xcf, stride, padding, dilation)

    def _grads(self, xp, g, need_x, need_w):
        """One im2col of ``g`` serves both gradients (``_graph_grads``: ConvTranspose2d's)."""
        Cin, Coutg, kh, kw = self.w_shape
        G = self.groups
        gx = gw = None
        if need_x or need_w:
            cols = kernels.im2col(g, *self.geom)  # (Cout*kh*kw, N, H, W)
            _, N, H, W = cols.shape
            cols = xp.reshape(cols, (G, Coutg * kh * kw, N * H * W))
            if need_x:
                gx = xp.reshape(xp.matmul(self.for_gx, cols), (Cin, N, H, W))
                gx = kernels.swap01(gx)
            if need_w:
                gw = xp.matmul(self.for_gw, xp.matrix_transpose(cols))
                gw = xp.reshape(gw, self.w_shape)
        return gx, gw
