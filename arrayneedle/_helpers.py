"""Argument coercions shared by the ops, the factories, the layers and the optimizers (one
copy of each). It sits below ``ops`` and ``nn``: it imports only tensor, dtypes, backend and
kernels.geometry. ``DeviceMismatchError`` is defined beside ``Tensor``."""
from __future__ import annotations

from .backend import NUMPY_SCALARS, dtype_name, get_dtype
from .dtypes import DEFAULT_FLOAT, FLOAT_DTYPES
from .tensor import DeviceMismatchError, Tensor
from .kernels.geometry import ntuple, pair

__all__ = ["DeviceMismatchError", "as_tensor", "same_device", "shape_arg", "scalar_const",
           "operands", "zero_grads", "pair", "ntuple", "SCALARS", "as_scalar", "promote",
           "wrap_grads"]

# Python numbers and NumPy scalars (np.int64(2), np.float32(0.5), np.bool_(True)): both are
# "numbers" in PyTorch's promotion rules, never arrays that could widen a float32 tensor.
SCALARS = (int, float, bool) + NUMPY_SCALARS
# PyTorch's categories: a higher category's dtype wins over any dtype of a lower one
_CATEGORY = {"bool": 0, "uint8": 1, "int8": 1, "int16": 1, "int32": 1, "int64": 1,
             "float16": 2, "float32": 2, "float64": 2}


def as_scalar(x):
    """A NumPy scalar as the Python number it holds; anything else as is."""
    return x.item() if isinstance(x, NUMPY_SCALARS) else x


def _cast(t, name):
    return t.to(dtype=name)


def promote(a: Tensor, b: Tensor):
    """``a`` and ``b`` cast to PyTorch's result dtype where it differs from the array
    library's: across categories (bool < integer < float) the higher category's dtype wins
    (int64 * float32 -> float32, not float64), and within one a 0-d tensor takes the dtype
    of a tensor with dimensions (float32 * 0-d float64 -> float32)."""
    da, db = a._array.dtype, b._array.dtype
    if da == db:
        return a, b
    na, nb = dtype_name(da), dtype_name(db)
    ca, cb = _CATEGORY[na], _CATEGORY[nb]
    if ca != cb:
        target = na if ca > cb else nb
    elif (a._array.ndim == 0) != (b._array.ndim == 0):
        target = nb if a._array.ndim == 0 else na
    else:
        return a, b  # same category, both with or both without dimensions: the library's rule
    return (a if na == target else _cast(a, target)), (b if nb == target else _cast(b, target))


def as_tensor(x) -> Tensor:
    """``x`` itself if it is a Tensor, else a new Tensor of it (on the default device)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def same_device(name, tensors):
    """Raise DeviceMismatchError, naming both devices, unless all ``tensors`` share one."""
    dev = tensors[0]._device
    for t in tensors[1:]:
        if t._device is not dev:
            raise DeviceMismatchError(
                f"{name}: operands are on different devices ({dev} and {t._device}); "
                f"move them to one device with .to(device)")


def shape_arg(shape):
    """A shape given as ``f(2, 3)`` or ``f((2, 3))`` (``shape`` is the ``*args`` tuple) as a
    tuple of Python ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


# 0-d constants for Python numbers, keyed by (device, dtype, value): on CUDA each new constant
# would be a host-to-device copy, and a training step meets the same few numbers every time.
# Cleared when full, so values that never repeat (a decaying learning rate) cannot grow it.
_CONSTS: dict = {}
CONST_CACHE_SIZE = 256


def scalar_const(x, like: Tensor) -> Tensor:
    """The Python number ``x`` as a 0-d constant of ``like``'s device and dtype (so float32
    stays float32; a float against an integer or bool tensor becomes float32)."""
    x = as_scalar(x)
    dev, dt = like._device, like._array.dtype
    # float.hex tells -0.0 from 0.0 and makes every nan one key; the type tells 1 from True
    key = (dev, dt, x.hex() if type(x) is float else (type(x), x))
    arr = _CONSTS.get(key)
    if arr is None:
        if isinstance(x, float) and dtype_name(dt) not in FLOAT_DTYPES:
            dt = get_dtype(dev.xp, "float32")
        arr = dev.asarray(x, dt)  # on the device's own GPU, whichever is current
        if len(_CONSTS) >= CONST_CACHE_SIZE:
            _CONSTS.clear()
        _CONSTS[key] = arr
    return Tensor._wrap(arr, dev)  # no checks: arr was made here, on dev


def _with_scalar(t: Tensor, x):
    """Tensor ``t`` (cast where PyTorch promotes it) and the number ``x`` as a constant of the
    result dtype: a float with an integer or bool tensor gives the default float dtype, an
    int with a bool tensor int64; otherwise the tensor's dtype is kept."""
    x = as_scalar(x)
    name = dtype_name(t._array.dtype)
    if isinstance(x, float) and name not in FLOAT_DTYPES:
        t = _cast(t, DEFAULT_FLOAT)
    elif name == "bool" and isinstance(x, int) and not isinstance(x, bool):
        t = _cast(t, "int64")
    return t, scalar_const(x, t)


def operands(a, b):
    """The two operands of a binary op as Tensors of PyTorch's result dtype: a number (Python
    or NumPy scalar) becomes a constant on the other operand's device, other data a Tensor
    on the other operand's device."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return promote(a, b)
        if isinstance(b, SCALARS):
            return _with_scalar(a, b)
        return promote(a, Tensor(b, device=a._device))
    if isinstance(b, Tensor):
        if isinstance(a, SCALARS):
            b, a = _with_scalar(b, a)
            return a, b
        return promote(Tensor(a, device=b._device), b)
    return promote(Tensor(a), Tensor(b))


def zero_grads(params, set_to_none=True):
    """``zero_grad`` of modules and optimizers, as PyTorch: ``grad = None`` (no memory held,
    and optimizers skip the parameter), or zeros in the same ``grad`` Tensor. The zeros are a
    new array: a gradient array may be a read-only broadcast view, or shared with another
    parameter's."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            p.grad._array = p.grad.xp.zeros_like(p.grad._array)


def wrap_grads(grads, device):
    """Raw gradient arrays (one array, or a tuple with None where no gradient flows) as the
    Tensors a Function's backward returns: the result of a raw-array fast path."""
    if not isinstance(grads, tuple):
        return Tensor._wrap(grads, device)
    return tuple(None if a is None else Tensor._wrap(a, device) for a in grads)
