"""Argument coercions shared by the ops, the factories, the layers and the optimizers (one
copy of each). It sits below ``ops`` and ``nn``: it imports only autograd, backend and
kernels.geometry. ``DeviceMismatchError`` is defined in autograd, whose ``Function.apply``
raises it too."""
from __future__ import annotations

from .autograd import DeviceMismatchError, Tensor
from .backend import dtype_name, get_dtype
from .kernels.geometry import pair

__all__ = ["DeviceMismatchError", "as_tensor", "same_device", "shape_arg", "scalar_const",
           "operands", "zero_grads", "pair", "SCALARS"]

SCALARS = (int, float, bool)
_FLOATS = ("float16", "float32", "float64")


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
    dev, dt = like._device, like.array.dtype
    # float.hex tells -0.0 from 0.0 and makes every nan one key; the type tells 1 from True
    key = (dev, dt, x.hex() if type(x) is float else (type(x), x))
    arr = _CONSTS.get(key)
    if arr is None:
        if isinstance(x, float) and dtype_name(dt) not in _FLOATS:
            dt = get_dtype(dev.xp, "float32")
        arr = dev.asarray(x, dt)  # on the device's own GPU, whichever is current
        if len(_CONSTS) >= CONST_CACHE_SIZE:
            _CONSTS.clear()
        _CONSTS[key] = arr
    return Tensor._wrap(arr, dev)  # no checks: arr was made here, on dev


def operands(a, b):
    """The two operands of a binary op as Tensors: a Python number becomes a constant of the
    other operand's dtype and device, other data a Tensor on the other operand's device."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            return a, b
        return a, (scalar_const(b, a) if isinstance(b, SCALARS) else Tensor(b, device=a._device))
    if isinstance(b, Tensor):
        return (scalar_const(a, b) if isinstance(a, SCALARS) else Tensor(a, device=b._device)), b
    return Tensor(a), Tensor(b)


def zero_grads(params, set_to_none=True):
    """``zero_grad`` of modules and optimizers, as PyTorch: ``grad = None`` (no memory held,
    and optimizers skip the parameter), or zeros in the same ``grad`` Tensor. The zeros are a
    new array: a gradient array may be a read-only broadcast view, or shared with another
    parameter's."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            p.grad.array = p.grad.xp.zeros_like(p.grad.array)
