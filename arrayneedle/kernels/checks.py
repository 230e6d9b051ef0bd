"""Shape checks the kernels run before they compute, shared by every backend.

The adjoint kernels (``col2im``, ``maxpool_backward``) get the input shape as an argument and
derive the shape of their array argument from it; on CUDA a mismatch reads out of bounds and
leaves a sticky error in the CUDA context, so each backend calls these checks first. All
geometry arguments are pairs of ints (``_geometry.normalize``).
"""
from __future__ import annotations

from .geometry import conv_geometry

__all__ = ["check_col2im", "check_maxpool_backward", "check_x_shape"]


def check_x_shape(name, x_shape, kernel_size, stride, padding, dilation=(1, 1)):
    """``x_shape`` as a tuple of 4 non-negative ints, after checking it and the geometry."""
    try:
        shape = tuple(int(v) for v in x_shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: x_shape must be 4 ints (N, C, H, W), got {x_shape!r}") from None
    if len(shape) != 4 or min(shape) < 0:
        raise ValueError(f"{name}: x_shape must be 4 non-negative ints (N, C, H, W), "
                         f"got {x_shape!r}")
    if min(kernel_size) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: need kernel_size, stride and dilation >= 1 and padding >= 0, "
                         f"got kernel_size={kernel_size}, stride={stride}, padding={padding}, "
                         f"dilation={dilation}")
    return shape


def check_col2im(cols_shape, x_shape, kernel_size, stride, padding, dilation):
    """Raise ValueError unless ``cols`` has im2col's shape ``(C*kh*kw, N, OH, OW)`` for
    ``x_shape``; returns ``x_shape`` as a tuple of ints."""
    shape = check_x_shape("col2im", x_shape, kernel_size, stride, padding, dilation)
    N, C = shape[:2]
    OH, OW = conv_geometry(shape, kernel_size, stride, padding, dilation)
    expected = (C * kernel_size[0] * kernel_size[1], N, OH, OW)
    if tuple(cols_shape) != expected:
        raise ValueError(f"col2im: cols has shape {tuple(cols_shape)}, expected (C*kh*kw, N, OH, "
                         f"OW) = {expected} for x_shape {shape}, kernel_size {kernel_size}, "
                         f"stride {stride}, padding {padding}, dilation {dilation}")
    return shape


def check_maxpool_backward(grad_shape, arg_shape, x_shape, kernel_size, stride, padding):
    """Raise ValueError unless ``grad`` and ``arg`` both have the pooled shape
    ``(N, C, OH, OW)`` of ``x_shape``; returns ``x_shape`` as a tuple of ints."""
    shape = check_x_shape("maxpool_backward", x_shape, kernel_size, stride, padding)
    expected = shape[:2] + tuple(conv_geometry(shape, kernel_size, stride, padding, (1, 1)))
    for what, got in (("grad", grad_shape), ("arg", arg_shape)):
        if tuple(got) != expected:
            raise ValueError(f"maxpool_backward: {what} has shape {tuple(got)}, expected the "
                             f"pooled shape (N, C, OH, OW) = {expected} for x_shape {shape}, "
                             f"kernel_size {kernel_size}, stride {stride}, padding {padding}")
    return shape
