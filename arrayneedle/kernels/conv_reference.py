"""The direct-convolution entries of the kernel contract (``conv2d``, ``conv2d_input_grad``,
``conv2d_weight_grad``, ``conv_transpose2d``) for any array library, built from that library's
own ``im2col`` / ``col2im`` / ``swap01`` / ``channel_affine`` kernels (``impl``, the module
``kernels._impl`` picked) and one matmul each. They are the reference the oneDNN kernels are
tested against, and what computes where oneDNN does not (other dtypes, CuPy, other
libraries). Geometry arguments are pairs; weights in PyTorch's layouts."""
from __future__ import annotations

from array_api_compat import array_namespace


def _channels_first(impl, xp, a):
    """NCHW ``a`` as a ``(C, N*H*W)`` matrix (one copy)."""
    N, C, H, W = a.shape
    return xp.reshape(impl.swap01(a), (C, N * H * W))


def conv2d(impl, x, w, bias, k, s, p, d):
    """``conv2d(x, w) + bias``: w (O, C, kh, kw), bias (O,) or None -> new NCHW array."""
    xp = array_namespace(x, w)
    O = w.shape[0]
    cols = impl.im2col(x, k, s, p, d)
    ckk, N, OH, OW = cols.shape
    y = xp.matmul(xp.reshape(w, (O, ckk)), xp.reshape(cols, (ckk, N * OH * OW)))
    y = impl.swap01(xp.reshape(y, (O, N, OH, OW)))
    return y if bias is None else impl.channel_affine(y, None, bias, out=y)


def conv2d_input_grad(impl, g, w, x_shape, k, s, p, d):
    """The adjoint of ``conv2d`` in its input: ``g`` (N, O, OH, OW) -> array of ``x_shape``."""
    xp = array_namespace(g, w)
    O = w.shape[0]
    ckk = w.shape[1] * k[0] * k[1]
    N, _, OH, OW = g.shape
    gcols = xp.matmul(xp.matrix_transpose(xp.reshape(w, (O, ckk))),
                      _channels_first(impl, xp, g))
    return impl.col2im(xp.reshape(gcols, (ckk, N, OH, OW)), x_shape, k, s, p, d)


def conv2d_weight_grad(impl, x, g, w_shape, k, s, p, d, bias):
    """``(grad_weight, grad_bias)`` of ``conv2d`` (grad_bias None unless ``bias``)."""
    xp = array_namespace(x, g)
    cols = impl.im2col(x, k, s, p, d)
    ckk, N, OH, OW = cols.shape
    cols = xp.reshape(cols, (ckk, N * OH * OW))
    gw = xp.matmul(_channels_first(impl, xp, g), xp.matrix_transpose(cols))
    gb = xp.sum(g, axis=(0, 2, 3)) if bias else None
    return xp.reshape(gw, tuple(w_shape)), gb


def conv2d_backward(impl, g, w, x, x_shape, w_shape, k, s, p, d, need_x, need_w, bias):
    """``(gx, gw, gb)`` of ``conv2d`` (each None unless asked for; ``bias`` needs
    ``need_w``): the two functions above."""
    gx = conv2d_input_grad(impl, g, w, x_shape, k, s, p, d) if need_x else None
    gw = gb = None
    if need_w:
        gw, gb = conv2d_weight_grad(impl, x, g, w_shape, k, s, p, d, bias)
    return gx, gw, gb


def conv_transpose2d(impl, x, w, bias, out_shape, k, s, p, d):
    """``conv_transpose2d(x, w) + bias`` (w: (Cin, Cout, kh, kw)) into ``out_shape`` (output
    padding included): the input gradient of ``conv2d`` with the same weight."""
    y = conv2d_input_grad(impl, x, w, out_shape, k, s, p, d)
    return y if bias is None else impl.channel_affine(y, None, bias, out=y)
