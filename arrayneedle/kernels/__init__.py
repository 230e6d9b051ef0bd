"""Performance-critical array kernels, dispatched by the array's library.

Only this package (and ``backend.py``) may know whether NumPy or CuPy is underneath. Each
public function picks ``cpu`` (NumPy), ``cuda`` (CuPy RawKernels, imported lazily) or
``portable`` (any other array-API namespace) from its first array argument. Before computing,
the adjoint kernels check their arrays against ``x_shape`` (``checks.py``, shared by all three).

Convolution geometry arguments (``kernel_size``, ``stride``, ``padding``, ``dilation``) are
ints or pairs; arrays are NCHW.

- ``im2col(x, kernel_size, stride=1, padding=0, dilation=1)`` -> ``cols`` of shape
  ``(C*kh*kw, N, OH, OW)``, rows ordered as the columns of ``weight.reshape(O, -1)``
  (zero where a window reaches into the padding).
- ``col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1)`` -> the adjoint:
  an array of ``x_shape`` summing every column entry into the pixel it came from.
- ``swap01(a)`` -> ``a`` with its first two axes swapped, as a new C-contiguous array (the
  layout change between a matmul's ``(O, N, OH, OW)`` and NCHW, either way).
- ``channel_affine(x, scale, shift, out=None, center=None, add=None, post_scale=None)`` ->
  ``((x - center[c]) * scale[c] + shift[c] + add) * post_scale[c]`` over axis 1 of ``x``
  (N, C, ...): ``center``/``scale``/``shift``/``post_scale`` (C,) or None, ``add`` an array of
  ``x``'s shape or None; ``out`` may be ``x`` (in place). On float32 NumPy arrays one oneDNN
  pass where it loads (batch normalisation's forward and input gradient are each one call).
- ``sum_trailing(a, k)`` -> the sum of ``a`` over its last ``k`` axes, kept as axes of size
  1 (a broadcast add's gradient; short float rows on NumPy summed by ``einsum``).
- ``channel_sum(a)`` -> the sum of ``a`` (N, C, ...) over every axis but 1, shape (C,);
  ``channel_dot(a, b)`` -> that of ``a * b`` (no product array). Pairwise sums / dot products
  per image row: as precise as NumPy's own reductions.
- ``group_norm_forward(x, groups, weight, bias, eps, keep)`` -> ``(y, saved)``: group
  normalisation of ``x`` (N, C, ...) over each sample's ``groups`` (statistics in two passes
  per group), ``saved`` what the backward needs (None unless ``keep``; opaque: each library
  keeps its own); ``group_norm_backward(g, saved, weight, need)`` -> ``(gx, gw, gb)``, the
  gradients that ``need`` (input, weight, bias) asks for (gx of ``g``'s size, any shape).
  ``group_norm_silu(x, groups, weight, bias, eps)`` -> SiLU of the group normalisation, for
  inference (nothing kept): on oneDNN the SiLU is a post-op of the affine pass.
- Activations, each a new array of ``x``'s shape and dtype (float32 NumPy arrays through
  oneDNN's eltwise primitive where it loads and measured faster, see ``cpu_eltwise.py``), with
  PyTorch's formulas; each backward takes the incoming gradient ``g`` and the forward's output
  ``y`` or input ``x`` as named:
  ``relu(x)`` -> ``max(x, 0)`` (nan stays nan), ``relu_backward(g, y)`` -> ``g`` where
  not ``y <= 0`` (nan passes, as PyTorch), else 0 (or nan where ``g`` is inf or nan);
  ``silu(x)`` -> ``x * sigmoid(x)``, ``silu_backward(g, x)``;
  ``gelu(x, approximate="none")`` -> ``x * Phi(x)`` (``"tanh"``: PyTorch's tanh
  approximation), ``gelu_backward(g, x, approximate="none")``;
  ``sigmoid(x)``, ``sigmoid_backward(g, y)`` -> ``g * y * (1 - y)``;
  ``tanh(x)``, ``tanh_backward(g, y)`` -> ``g * (1 - y * y)``.
- ``softmax(x, axis)`` -> ``exp(x - max) / sum(exp(x - max))`` along the one ``axis`` (an
  int, negative counts from the end), a new array of ``x``'s shape and dtype; a row holding
  nan or +inf, or all -inf, gives nan, as PyTorch. ``softmax_backward(g, y, axis)`` ->
  ``y * (g - sum(g * y, axis))`` from the incoming gradient ``g`` and the forward's output
  ``y``. Float32 NumPy arrays through oneDNN's softmax primitive where it loads and measured
  faster (the axis the last one, see ``cpu_softmax.py``).
- ``dilate(x, axes, dilation)``: ``dilation`` zeros after every element along ``axes``;
  ``undilate`` is its adjoint (every ``dilation+1``-th element).
- ``maxpool_forward(x, kernel_size, stride, padding)`` -> ``(out, arg)``, ``arg`` an integer
  array of ``out``'s shape holding the flat tap ``i*kw + j`` of each window's first maximum;
  ``maxpool_backward(grad, arg, x_shape, kernel_size, stride, padding)`` routes each window's
  gradient to that one element. With ``with_arg=False`` (no gradient needed) ``arg`` is
  ``None`` and only the maximum is computed.
- Direct convolutions (float32 NumPy arrays through oneDNN where it loads, see
  ``cpu_kernels()``; otherwise ``conv_reference.py``: im2col/col2im and one matmul), weights in
  PyTorch's layouts, bias (O,) or None, all new arrays:
  ``conv2d(x, weight, bias, stride, padding, dilation)`` -> (N, O, OH, OW);
  ``conv2d_input_grad(grad, weight, x_shape, stride, padding, dilation)`` -> gradient of x;
  ``conv2d_weight_grad(x, grad, w_shape, stride, padding, dilation, bias=False)`` ->
  ``(grad_weight, grad_bias or None)``;
  ``conv2d_backward(grad, weight, x, x_shape, w_shape, stride, padding, dilation,
  need_input=True, need_weight=True, bias=False)`` -> ``(gx, gw, gb)``, each None unless
  asked for (the bias gradient comes with the weight gradient; ``weight`` may be None without
  ``need_input``, ``x`` None without ``need_weight``): the two above in one call, which on
  oneDNN reorders ``grad`` once for both;
  ``conv_transpose2d(x, weight, bias, out_shape, stride, padding, dilation)`` with weight
  (Cin, Cout, kh, kw) and the output shape (output padding included) -> the adjoint of
  ``conv2d`` in its input, plus bias. ``direct_conv(x)`` says whether these compute without
  im2col columns (then they beat the im2col algorithms of ``ops/conv.py``).
- ``matmul(a, b)`` -> ``a @ b`` for arrays of at least 2 dimensions, batch axes broadcast as
  NumPy's ``matmul`` (operands of one dtype), a new C-contiguous array; float32 NumPy products
  large enough to repay a call go through oneDNN's matmul primitive where it loads (strided
  views without a copy), others through the library's ``matmul`` (``cpu_matmul.py``).
  ``matmul_batch_sum(a, b)`` -> the sum over the batch of ``a_i @ b_i`` for ``a`` (..., M, K)
  and ``b`` (..., K, N) of one batch shape: (M, N) (a weight's gradient when the weight was
  applied to every matrix of a batch), one product over the folded batch.
  ``weight_matmul_grads(w, x, g, need_w, need_x)`` -> ``(gw, gx)`` of ``y = w @ x`` for a
  weight ``w`` (M, K) applied to every matrix of ``x`` (..., K, N) and the output gradient
  ``g`` (..., M, N) (None where not needed): both from one folded copy of ``g`` on oneDNN.
- ``index_add(shape, index, values)`` -> ``zeros(shape)`` with ``values`` added at ``index``
  (repeated indices accumulate: the gradient of integer-array indexing). The portable path
  takes one integer array along axis 0.
"""
from __future__ import annotations

import array_api_compat

from . import conv_reference, cpu, onednn, portable
from ._parallel import num_threads, set_num_threads  # noqa: F401  (arrayneedle re-exports)
from .geometry import normalize

__all__ = ["index_add", "swap01", "channel_affine", "sum_trailing", "channel_sum", "channel_dot",
           "group_norm_forward", "group_norm_backward", "group_norm_silu", "relu",
           "relu_backward", "silu", "silu_backward", "gelu", "gelu_backward", "sigmoid",
           "sigmoid_backward", "tanh", "tanh_backward", "softmax", "softmax_backward", "im2col",
           "col2im", "dilate", "undilate",
           "maxpool_forward", "maxpool_backward", "conv2d",
           "conv2d_input_grad", "conv2d_weight_grad", "conv2d_backward", "conv_transpose2d",
           "direct_conv",
           "cpu_kernels", "matmul", "matmul_batch_sum", "weight_matmul_grads"]


def _impl(array):
    if array_api_compat.is_numpy_array(array):
        return cpu
    if array_api_compat.is_cupy_array(array):
        from . import cuda
        return cuda
    return portable


def index_add(shape, index, values):
    return _impl(values).index_add(tuple(int(n) for n in shape), index, values)


def swap01(a):
    if a.ndim < 2:
        raise ValueError(f"swap01 needs an array of at least 2 dimensions, got shape {a.shape}")
    return _impl(a).swap01(a)


def channel_affine(x, scale=None, shift=None, out=None, center=None, add=None,
                   post_scale=None):
    if x.ndim < 2:
        raise ValueError(f"channel_affine needs an (N, C, ...) array, got shape {x.shape}")
    C = x.shape[1]
    for name, a in (("center", center), ("scale", scale), ("shift", shift),
                    ("post_scale", post_scale)):
        if a is not None and tuple(a.shape) != (C,):
            raise ValueError(f"channel_affine: {name} must have shape ({C},) for an input "
                             f"of shape {tuple(x.shape)}, got {tuple(a.shape)}")
    for name, a in (("add", add), ("out", out)):
        if a is not None and tuple(a.shape) != tuple(x.shape):
            raise ValueError(f"channel_affine: {name} has shape {tuple(a.shape)}, "
                             f"expected {tuple(x.shape)}")
    return _impl(x).channel_affine(x, scale, shift, out, center, add, post_scale)


def _check_channels(name, *arrays):
    if arrays[0].ndim < 2:
        raise ValueError(f"{name} needs an (N, C, ...) array, got shape {arrays[0].shape}")
    if len(arrays) > 1 and tuple(arrays[1].shape) != tuple(arrays[0].shape):
        raise ValueError(f"{name}: the arrays have shapes {tuple(arrays[0].shape)} and "
                         f"{tuple(arrays[1].shape)}, expected the same")


def sum_trailing(a, k):
    k = int(k)
    if not 0 <= k <= a.ndim:
        raise ValueError(f"sum_trailing: k={k} axes of an array of shape {tuple(a.shape)}")
    return _impl(a).sum_trailing(a, k)


def channel_sum(a):
    _check_channels("channel_sum", a)
    return _impl(a).channel_sum(a)


def channel_dot(a, b):
    _check_channels("channel_dot", a, b)
    return _impl(a).channel_dot(a, b)


def _check_groups(name, x, groups):
    if x.ndim < 2 or groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{name}: expected (N, C, ...) with C divisible by "
                         f"groups={groups}, got shape {tuple(x.shape)}")


def group_norm_forward(x, groups, weight=None, bias=None, eps=1e-5, keep=True):
    _check_groups("group_norm_forward", x, groups)
    return _impl(x).group_norm_forward(x, int(groups), weight, bias, eps, bool(keep))


def group_norm_silu(x, groups, weight=None, bias=None, eps=1e-5):
    _check_groups("group_norm_silu", x, groups)
    return _impl(x).group_norm_silu(x, int(groups), weight, bias, eps)


def group_norm_backward(g, saved, weight=None, need=(True, True, True)):
    if saved is None:
        raise ValueError("group_norm_backward: nothing was saved (the forward ran with "
                         "keep=False)")
    return _impl(g).group_norm_backward(g, saved, weight, tuple(bool(n) for n in need))


def relu(x):
    return _impl(x).relu(x)


def relu_backward(g, y):
    return _impl(g).relu_backward(g, y)


def silu(x):
    return _impl(x).silu(x)


def silu_backward(g, x):
    return _impl(g).silu_backward(g, x)


def _approximate(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def gelu(x, approximate="none"):
    return _impl(x).gelu(x, _approximate(approximate))


def gelu_backward(g, x, approximate="none"):
    return _impl(g).gelu_backward(g, x, _approximate(approximate))


def sigmoid(x):
    return _impl(x).sigmoid(x)


def sigmoid_backward(g, y):
    return _impl(g).sigmoid_backward(g, y)


def tanh(x):
    return _impl(x).tanh(x)


def tanh_backward(g, y):
    return _impl(g).tanh_backward(g, y)


def _softmax_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(f"softmax: axis must be an int in [{-ndim}, {ndim}) for an array of "
                         f"{ndim} dimension(s), got {axis!r}")
    return axis % ndim


def softmax(x, axis):
    return _impl(x).softmax(x, _softmax_axis(axis, x.ndim))


def softmax_backward(g, y, axis):
    if tuple(g.shape) != tuple(y.shape):
        raise ValueError(f"softmax_backward: g has shape {tuple(g.shape)} and y "
                         f"{tuple(y.shape)}, expected the same")
    return _impl(g).softmax_backward(g, y, _softmax_axis(axis, g.ndim))


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    k, s, p, d = normalize(kernel_size, stride, padding, dilation)
    return _impl(x).im2col(x, k, s, p, d)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):
    k, s, p, d = normalize(kernel_size, stride, padding, dilation)
    return _impl(cols).col2im(cols, tuple(int(v) for v in x_shape), k, s, p, d)


def _axes(axes, ndim):
    if isinstance(axes, int):
        axes = (axes,)
    return tuple(sorted({int(a) % ndim for a in axes}))


# one implementation for every library: a zero fill and one strided copy
def dilate(x, axes, dilation):
    return portable.dilate(x, _axes(axes, x.ndim), int(dilation))


def undilate(x, axes, dilation):
    return portable.undilate(x, _axes(axes, x.ndim), int(dilation))


def maxpool_forward(x, kernel_size, stride, padding=0, with_arg=True):
    k, s, p, _ = normalize(kernel_size, stride, padding)
    return _impl(x).maxpool_forward(x, k, s, p, bool(with_arg))


def maxpool_backward(grad, arg, x_shape, kernel_size, stride, padding=0):
    k, s, p, _ = normalize(kernel_size, stride, padding)
    return _impl(grad).maxpool_backward(grad, arg, tuple(int(v) for v in x_shape), k, s, p)


def matmul(a, b):
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"matmul: the kernel takes operands of at least 2 dimensions, got "
                         f"shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shape mismatch, {tuple(a.shape)} @ {tuple(b.shape)} (inner "
                         f"dimensions {a.shape[-1]} and {b.shape[-2]} differ)")
    return _impl(a).matmul(a, b)


def weight_matmul_grads(w, x, g, need_w=True, need_x=True):
    if (w.ndim != 2 or x.ndim < 3 or w.shape[1] != x.shape[-2]
            or tuple(g.shape) != tuple(x.shape[:-2]) + (w.shape[0], x.shape[-1])):
        raise ValueError(f"weight_matmul_grads: expected w (M, K), x (..., K, N) and g "
                         f"(..., M, N), got {tuple(w.shape)}, {tuple(x.shape)} and "
                         f"{tuple(g.shape)}")
    return _impl(g).weight_matmul_grads(w, x, g, bool(need_w), bool(need_x))


def matmul_batch_sum(a, b):
    if (a.ndim < 2 or a.ndim != b.ndim or tuple(a.shape[:-2]) != tuple(b.shape[:-2])
            or a.shape[-1] != b.shape[-2]):
        raise ValueError(f"matmul_batch_sum: expected (..., M, K) and (..., K, N) with one "
                         f"batch shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return _impl(a).matmul_batch_sum(a, b)


# ---------------------------------------------------------------- direct convolutions
def cpu_kernels():
    """Which kernels compute on NumPy arrays: ``{"kernels": "onednn" or "numpy", "reason":
    why not oneDNN, or None}`` (``ARRAYNEEDLE_KERNELS=numpy`` forces NumPy)."""
    return onednn.info()


def direct_conv(x):
    return _impl(x) is cpu and cpu.direct_conv(x)


def _geom(w_shape, stride, padding, dilation):
    return normalize(tuple(int(v) for v in w_shape[2:]), stride, padding, dilation)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    g = _geom(weight.shape, stride, padding, dilation)
    impl = _impl(x)
    if impl is cpu:
        return cpu.conv2d(x, weight, bias, *g)
    return conv_reference.conv2d(impl, x, weight, bias, *g)


def conv2d_input_grad(grad, weight, x_shape, stride=1, padding=0, dilation=1):
    g = _geom(weight.shape, stride, padding, dilation)
    x_shape = tuple(int(v) for v in x_shape)
    impl = _impl(grad)
    if impl is cpu:
        return cpu.conv2d_input_grad(grad, weight, x_shape, *g)
    return conv_reference.conv2d_input_grad(impl, grad, weight, x_shape, *g)


def conv2d_weight_grad(x, grad, w_shape, stride=1, padding=0, dilation=1, bias=False):
    g = _geom(w_shape, stride, padding, dilation)
    w_shape = tuple(int(v) for v in w_shape)
    impl = _impl(x)
    if impl is cpu:
        return cpu.conv2d_weight_grad(x, grad, w_shape, *g, bool(bias))
    return conv_reference.conv2d_weight_grad(impl, x, grad, w_shape, *g, bool(bias))


def conv2d_backward(grad, weight, x, x_shape, w_shape, stride=1, padding=0, dilation=1,
                    need_input=True, need_weight=True, bias=False):
    g = _geom(w_shape, stride, padding, dilation)
    x_shape, w_shape = tuple(int(v) for v in x_shape), tuple(int(v) for v in w_shape)
    if bias and not need_weight:
        raise ValueError("conv2d_backward: the bias gradient comes with the weight gradient "
                         "(need_weight=True)")
    impl = _impl(grad)
    if impl is cpu:
        return cpu.conv2d_backward(grad, weight, x, x_shape, w_shape, *g, bool(need_input),
                                   bool(need_weight), bool(bias))
    return conv_reference.conv2d_backward(impl, grad, weight, x, x_shape, w_shape, *g,
                                          bool(need_input), bool(need_weight), bool(bias))


def conv_transpose2d(x, weight, bias, out_shape, stride=1, padding=0, dilation=1):
    g = _geom(weight.shape, stride, padding, dilation)
    out_shape = tuple(int(v) for v in out_shape)
    impl = _impl(x)
    if impl is cpu:
        return cpu.conv_transpose2d(x, weight, bias, out_shape, *g)
    return conv_reference.conv_transpose2d(impl, x, weight, bias, out_shape, *g)
