"""Differentiable operations on Tensors.

Each op is a ``Function`` (in elementwise.py, reduce.py, shape.py, linalg.py, conv.py, pool.py)
computing through the array namespace of its inputs; the wrappers here accept Tensors and
Python numbers, and the same operations are available as Tensor methods and operators.
"""
from __future__ import annotations

import builtins
import math

from array_api_compat import array_namespace

from ..autograd import Tensor
from ..backend import dtype_name, get_dtype
from . import elementwise as E
from . import linalg as L
from . import reduce as R
from . import shape as S

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "sqrt", "abs",
    "sin", "cos", "tanh", "sigmoid", "relu", "silu", "maximum", "minimum", "where", "clip",
    "matmul", "sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax",
    "reshape", "broadcast_to", "permute", "transpose", "flip", "stack", "concat", "split", "pad",
    "getitem", "take", "astype", "to_device", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "flatten", "unsqueeze", "squeeze",
]

_SCALARS = (int, float, bool)


def _const(x, like: Tensor) -> Tensor:
    """A Python number as a 0-d constant of ``like``'s dtype (so float32 stays float32)."""
    xp = like._device.xp
    dt = like.data.dtype
    if isinstance(x, float) and dtype_name(dt) not in ("float16", "float32", "float64"):
        dt = get_dtype(xp, "float32")
    return Tensor._wrap(xp.asarray(x, dtype=dt), like._device)


def _pair(a, b):
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a, b
    if isinstance(a, Tensor):
        if isinstance(b, _SCALARS):
            return a, _const(b, a)
        return a, Tensor(b, device=a._device)
    if isinstance(b, Tensor):
        if isinstance(a, _SCALARS):
            return _const(a, b), b
        return Tensor(a, device=b._device), b
    return Tensor(a), Tensor(b)


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---- elementwise ----
def add(a, b):
    return E.Add.apply(*_pair(a, b))


def subtract(a, b):
    return E.Subtract.apply(*_pair(a, b))


def multiply(a, b):
    return E.Multiply.apply(*_pair(a, b))


def divide(a, b):
    return E.Divide.apply(*_pair(a, b))


def negative(a):
    return E.Negative.apply(_t(a))


def power(a, exponent):
    """a ** exponent for a Python-number exponent (or a Python-number base and a Tensor)."""
    if isinstance(a, Tensor) and isinstance(exponent, _SCALARS):
        return E.PowerScalar.apply(a, exponent=exponent)
    if isinstance(a, _SCALARS) and isinstance(exponent, Tensor):
        if a <= 0:
            raise ValueError(f"power: a scalar base must be positive, got {a}")
        return E.RPowerScalar.apply(exponent, base=a)
    a, b = _pair(a, exponent)
    return exp(multiply(b, log(a)))


def exp(a):
    return E.Exp.apply(_t(a))


def log(a):
    return E.Log.apply(_t(a))


def sqrt(a):
    return E.Sqrt.apply(_t(a))


def abs(a):
    return E.Abs.apply(_t(a))


def sin(a):
    return E.Sin.apply(_t(a))


def cos(a):
    return E.Cos.apply(_t(a))


def tanh(a):
    return E.Tanh.apply(_t(a))


def sigmoid(a):
    return E.Sigmoid.apply(_t(a))


def relu(a):
    return E.ReLU.apply(_t(a))


def silu(a):
    return E.SiLU.apply(_t(a))


def maximum(a, b):
    return E.Maximum.apply(*_pair(a, b))


def minimum(a, b):
    return E.Minimum.apply(*_pair(a, b))


def where(cond, a, b):
    """Elements of ``a`` where ``cond`` is true, else of ``b`` (cond gets no gradient)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = _pair(a, b)
    else:
        a, b = _pair(_t(a), b)
    c = cond.data if isinstance(cond, Tensor) else a._device.asarray(cond)
    return E.Where.apply(a, b, cond=c)


def clip(a, min=None, max=None):
    return E.Clip.apply(_t(a), min=min, max=max)


def astype(a, dtype):
    a = _t(a)
    return E.AsType.apply(a, dtype=get_dtype(a._device.xp, dtype))


def to_device(a, device):
    from ..backend import device as _device
    dev = _device(device)
    a = _t(a)
    if a._device is dev:
        return a
    out = E.ToDevice.apply(a, device=dev)
    out._device = dev
    return out


# ---- comparisons (bool tensors, no gradient) ----
def _cmp(name):
    def op(a, b):
        a, b = _pair(a, b)
        if a._device is not b._device:
            raise RuntimeError(f"{name}: operands are on different devices "
                               f"({a._device} and {b._device})")
        xp = array_namespace(a.data, b.data)
        return Tensor._wrap(getattr(xp, name)(a.data, b.data), a._device)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} as a bool tensor (no gradient)."
    return op


equal = _cmp("equal")
not_equal = _cmp("not_equal")
less = _cmp("less")
less_equal = _cmp("less_equal")
greater = _cmp("greater")
greater_equal = _cmp("greater_equal")


# ---- linear algebra ----
def matmul(a, b):
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must have at least 1 dimension, "
                         f"got shapes {a.shape} and {b.shape}")
    squeeze_a = squeeze_b = False
    if a.ndim == 1:
        a, squeeze_a = reshape(a, (1, a.shape[0])), True
    if b.ndim == 1:
        b, squeeze_b = reshape(b, (b.shape[0], 1)), True
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shape mismatch, {a.shape} @ {b.shape} "
                         f"(inner dimensions {a.shape[-1]} and {b.shape[-2]} differ)")
    try:
        out = L.MatMul.apply(a, b)
    except ValueError as e:
        raise ValueError(f"matmul: cannot broadcast batch dimensions of {a.shape} and "
                         f"{b.shape}: {e}") from None
    if squeeze_a:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if squeeze_b:
        out = reshape(out, out.shape[:-1])
    return out


# ---- reductions ----
def sum(a, axis=None, keepdims=False):
    return R.Sum.apply(_t(a), axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims=False):
    return R.Mean.apply(_t(a), axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False):
    return R.Max.apply(_t(a), axis=axis, keepdims=keepdims)


def min(a, axis=None, keepdims=False):
    return negative(max(negative(a), axis=axis, keepdims=keepdims))


def var(a, axis=None, keepdims=False, correction=0):
    """Variance; ``correction=0`` (population) as the array API standard, 1 for unbiased."""
    return R.Var.apply(_t(a), axis=axis, keepdims=keepdims, correction=correction)


def logsumexp(a, axis=None, keepdims=False):
    return R.LogSumExp.apply(_t(a), axis=axis, keepdims=keepdims)


def log_softmax(a, axis=-1):
    return subtract(a, logsumexp(a, axis=axis, keepdims=True))


def softmax(a, axis=-1):
    return exp(log_softmax(a, axis=axis))


# ---- shape ----
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(a, *shape):
    a = _t(a)
    shape = _shape_arg(shape)
    if shape == a.shape:
        return a
    known = math.prod(s for s in shape if s != -1)
    if (-1 not in shape and known != a.size) or (-1 in shape and (known == 0 or a.size % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                         f"({a.size} elements) into {shape}")
    return S.Reshape.apply(a, shape=shape)


def flatten(a, start_dim=0, end_dim=-1):
    a = _t(a)
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = start_dim % a.ndim, end_dim % a.ndim
    return reshape(a, a.shape[:s] + (math.prod(a.shape[s:e + 1]),) + a.shape[e + 1:])


def unsqueeze(a, axis):
    a = _t(a)
    axis = axis % (a.ndim + 1)
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def squeeze(a, axis=None):
    a = _t(a)
    if axis is None:
        return reshape(a, tuple(s for s in a.shape if s != 1))
    axis = axis % a.ndim
    if a.shape[axis] != 1:
        return a
    return reshape(a, a.shape[:axis] + a.shape[axis + 1:])


def broadcast_to(a, *shape):
    a = _t(a)
    shape = _shape_arg(shape)
    if shape == a.shape:
        return a
    ok = len(shape) >= a.ndim and builtins.all(
        s == d or s == 1 for s, d in zip(a.shape[::-1], shape[::-1]))
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast shape {a.shape} to {shape}")
    return S.BroadcastTo.apply(a, shape=shape)


def permute(a, *axes):
    a = _t(a)
    axes = _shape_arg(axes)
    if sorted(ax % a.ndim for ax in axes) != list(range(a.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {a.ndim} axes")
    axes = tuple(ax % a.ndim for ax in axes)
    if axes == tuple(range(a.ndim)):
        return a
    return S.Permute.apply(a, axes=axes)


def transpose(a, dim0=-2, dim1=-1):
    """Swap two axes (by default the last two, as needle's transpose)."""
    a = _t(a)
    axes = list(range(a.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return permute(a, tuple(axes))


def flip(a, axis=None):
    return S.Flip.apply(_t(a), axis=axis)


def _same_device(name, tensors):
    dev = tensors[0]._device
    for t in tensors[1:]:
        if t._device is not dev:
            raise RuntimeError(f"{name}: tensors are on different devices ({dev} and {t._device})")


def concat(tensors, axis=0):
    tensors = [_t(t) for t in tensors]
    if not tensors:
        raise ValueError("concat: need at least one tensor")
    _same_device("concat", tensors)
    ref = tensors[0].shape
    ax = axis % len(ref)
    for t in tensors[1:]:
        if t.ndim != len(ref) or builtins.any(
                s != r for i, (s, r) in enumerate(zip(t.shape, ref)) if i != ax):
            raise ValueError(f"concat: shapes {ref} and {t.shape} differ outside axis {axis}")
    return S.Concat.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    tensors = [_t(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    _same_device("stack", tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors need the same shape, got {tensors[0].shape} "
                             f"and {t.shape}")
    return S.Stack.apply(*tensors, axis=axis)


def split(a, sections, axis=0):
    """Split into ``sections`` equal parts (an int) or at the given indices (a list)."""
    a = _t(a)
    n = a.shape[axis]
    ax = axis % a.ndim
    if isinstance(sections, int):
        if n % sections:
            raise ValueError(f"split: axis {axis} of length {n} does not divide into "
                             f"{sections} equal parts")
        bounds = [i * (n // sections) for i in range(sections + 1)]
    else:
        bounds = [0] + [int(i) for i in sections] + [n]
    return [getitem(a, (slice(None),) * ax + (slice(lo, hi), Ellipsis))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


def pad(a, pad_width, value=0.0):
    """Constant padding; ``pad_width`` is ((before, after), ...) per axis as numpy.pad."""
    a = _t(a)
    pw = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if len(pw) != a.ndim or builtins.any(lo < 0 or hi < 0 for lo, hi in pw):
        raise ValueError(f"pad: need one non-negative (before, after) pair per axis of "
                         f"{a.shape}, got {pad_width}")
    return S.Pad.apply(a, pad_width=pw, value=value)


def _raw_index(index, dev):
    if isinstance(index, tuple):
        return tuple(_raw_index(i, dev) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return dev.asarray(index)
    return index


def getitem(a, index):
    a = _t(a)
    return S.GetItem.apply(a, index=_raw_index(index, a._device))


def take(a, indices, axis=0):
    """Gather along ``axis`` by an integer tensor of any shape (the shape replaces that axis)."""
    a = _t(a)
    idx = indices.data if isinstance(indices, Tensor) else a._device.asarray(indices)
    return S.Take.apply(a, indices=idx, axis=axis)


# ---- Tensor methods and operators ----
def _attach():
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: subtract(a, b)
    T.__rsub__ = lambda a, b: subtract(b, a)
    T.__mul__ = lambda a, b: multiply(a, b)
    T.__rmul__ = lambda a, b: multiply(b, a)
    T.__truediv__ = lambda a, b: divide(a, b)
    T.__rtruediv__ = lambda a, b: divide(b, a)
    T.__pow__ = lambda a, b: power(a, b)
    T.__rpow__ = lambda a, b: power(b, a)
    T.__neg__ = lambda a: negative(a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__abs__ = lambda a: abs(a)
    T.__getitem__ = lambda a, i: getitem(a, i)
    T.__eq__ = lambda a, b: equal(a, b)
    T.__ne__ = lambda a, b: not_equal(a, b)
    T.__lt__ = lambda a, b: less(a, b)
    T.__le__ = lambda a, b: less_equal(a, b)
    T.__gt__ = lambda a, b: greater(a, b)
    T.__ge__ = lambda a, b: greater_equal(a, b)
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "silu", "abs",
                 "sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax",
                 "reshape", "broadcast_to", "permute", "transpose", "flip", "split", "pad",
                 "clip", "flatten", "unsqueeze", "squeeze", "matmul", "maximum", "minimum",
                 "take"):
        setattr(T, name, globals()[name])
    T.T = property(lambda a: transpose(a))


_attach()

from .conv import conv2d, conv_transpose2d, dilate, undilate  # noqa: E402
from .pool import max_pool2d  # noqa: E402

__all__ += ["conv2d", "conv_transpose2d", "dilate", "undilate", "max_pool2d"]
