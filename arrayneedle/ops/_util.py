"""Helpers shared by the ops."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from ..autograd import Tensor, is_grad_enabled


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``. A
    Tensor gives a Tensor (differentiable where a graph is being recorded), an array an array."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    if isinstance(grad, Tensor):
        if not is_grad_enabled():
            return Tensor._wrap(_unbroadcast(grad._device.xp, grad._array, shape), grad._device)
        extra = grad.ndim - len(shape)
        if extra:
            grad = grad.sum(tuple(range(extra)))
        axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
        return grad.sum(axes, keepdim=True) if axes else grad
    return _unbroadcast(array_namespace(grad), grad, shape)


def _unbroadcast(xp, grad, shape):
    extra = grad.ndim - len(shape)
    if extra:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    axes = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    if axes and axes == tuple(range(grad.ndim - len(axes), grad.ndim)):
        # trailing axes (a per-channel bias over H x W): the kernels' row sums
        return kernels.sum_trailing(grad, len(axes))
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return grad


def normalize_axes(axis, ndim):
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def expand_reduced(grad, shape, axes, keepdims):
    """Re-insert reduced axes into ``grad`` (if they were dropped) and broadcast to ``shape``
    (a Tensor or an array, as ``unbroadcast``)."""
    kshape = tuple(1 if i in axes else s for i, s in enumerate(shape))
    if isinstance(grad, Tensor):
        if not is_grad_enabled():
            return Tensor._wrap(_expand(grad._device.xp, grad._array, shape, kshape, keepdims),
                                grad._device)
        if not keepdims:
            grad = grad.reshape(kshape)
        return grad.broadcast_to(tuple(shape))
    return _expand(array_namespace(grad), grad, shape, kshape, keepdims)


def _expand(xp, grad, shape, kshape, keepdims):
    if not keepdims:
        grad = xp.reshape(grad, kshape)
    return xp.broadcast_to(grad, tuple(shape))


class _TensorMath:
    """The array API's math functions on Tensors, differentiable: ``m.exp(t)`` is ``t.exp()``,
    ``m.where(c, x, y)`` PyTorch's where. One derivative formula written with ``m`` runs on
    Tensors (recording a graph) or, where none is recorded, on raw arrays with ``m`` the array
    namespace: the same values without the cost of graph-less Tensor ops."""

    def __getattr__(self, name):
        def method(t, *args, **kw):
            return getattr(t, name)(*args, **kw)
        return method

    @staticmethod
    def where(cond, x, y):
        if isinstance(x, Tensor):
            return x.where(cond, y)
        return y.where(cond.logical_not(), x)


TENSOR_MATH = _TensorMath()


def formula_operands(g, *tensors):
    """``(m, g, *tensors)`` for a derivative formula: Tensors and ``TENSOR_MATH`` while a graph
    is recorded (create_graph), else their raw arrays and the array namespace. ``result``
    turns what the formula gives back into a Tensor."""
    if is_grad_enabled():
        return (TENSOR_MATH, g) + tensors
    return (g._device.xp, g._array) + tuple(None if t is None else t._array for t in tensors)


def result(x, g):
    """A formula's value as a Tensor on ``g``'s device (None stays None)."""
    if x is None or isinstance(x, Tensor):
        return x
    return Tensor._wrap(x, g._device)


def saved(array, g):
    """A raw array saved by forward (a mask, indices) as an operand of a formula whose
    gradient operand is ``g``: a constant Tensor beside Tensors, the array beside arrays."""
    return Tensor._wrap(array, g._device) if isinstance(g, Tensor) else array


def adjoint(cls, g, **params):
    """``cls.apply(g, **params)`` for an adjoint that is one Function (reshape's is a reshape,
    permute's a permute); where no graph is recorded, just its forward on the raw array."""
    if is_grad_enabled():
        return cls.apply(g, **params)
    fn = cls()
    fn.needs_input_grad = (False,)
    return Tensor._wrap(fn.forward(g._array, **params), g._device)


def const(array, like):
    """A raw array (a mask, indices, a saved constant) as a Tensor on ``like``'s device, for a
    backward formula."""
    return Tensor._wrap(array, like._device)


def dim_arg(dim, axis, name):
    """The reduction axis given as PyTorch's ``dim`` or the array API's ``axis`` (an alias)."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}: got both dim={dim!r} and axis={axis!r}; give one")
        return axis
    return dim


def keep_arg(keepdim, keepdims):
    """``keepdim`` (PyTorch) or its array-API alias ``keepdims`` (None when not given)."""
    return bool(keepdim if keepdims is None else keepdims)


def one_axis(dim, ndim, name):
    """``dim`` as a single non-negative axis of a tensor with ``ndim`` dimensions."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        try:
            dim = int(dim.__index__())
        except (AttributeError, TypeError):
            raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__}") from None
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimension(s) (expected {-n} to {n - 1})")
    return dim % n


def check_index_range(name, index, size, dim, negative=False, exc=RuntimeError, message=None):
    """Raise ``exc`` (PyTorch's error type for ``name``) unless every entry of the integer
    array ``index`` addresses one of ``size`` positions along ``dim``: ``[0, size)``, or
    ``[-size, size)`` where PyTorch counts negative indices from the end. Without it NumPy
    would wrap a negative index, a flat index would reach into the next row, and CuPy wraps
    every index silently."""
    if index.size == 0:
        return
    xp = array_namespace(index)
    lo, hi = int(xp.min(index)), int(xp.max(index))
    low = -size if negative else 0
    if lo < low or hi >= size:
        bad = lo if lo < low else hi
        raise exc(message.format(bad) if message else
                  f"{name}: index {bad} is out of bounds for dimension {dim} with size {size}")


def check_array_index(shape, index):
    """IndexError for an integer array of ``index`` (a raw ``x[index]`` index) outside
    ``[-size, size)`` of the dimension it indexes, as PyTorch and NumPy raise; CuPy would wrap
    it silently, so CUDA tensors call this before indexing."""
    from ..dtypes import is_array
    items = index if isinstance(index, tuple) else (index,)

    def width(i):  # dimensions of ``shape`` that item ``i`` consumes
        if i is None or i is Ellipsis:
            return 0
        if is_array(i) and i.dtype.kind == "b":
            return i.ndim
        return 1
    d = 0
    for i in items:
        if i is Ellipsis:
            d += len(shape) - sum(width(j) for j in items)
        elif is_array(i) and i.dtype.kind in "iu" and d < len(shape):
            check_index_range("index", i, shape[d], d, negative=True, exc=IndexError)
        d += width(i)
