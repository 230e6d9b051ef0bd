"""PyTorch's dtype rules for mixed integer/float operands (the array API leaves mixed-kind
promotion to the library: NumPy would give float64 where PyTorch gives float32)."""
from __future__ import annotations

from ..autograd import Tensor
from ..backend import dtype_name, get_dtype

DEFAULT_FLOAT = "float32"  # PyTorch's default dtype: what integer inputs to float ops become
_FLOATS = frozenset(("float16", "float32", "float64"))
_IS_FLOAT: dict = {}


def is_float_dtype(dt) -> bool:
    # cached per dtype object: this sits on the arithmetic hot path. The key holds the dtype's
    # class first so that dtypes of different libraries are never compared with each other
    key = (type(dt), dt)
    r = _IS_FLOAT.get(key)
    if r is None:
        r = _IS_FLOAT[key] = dtype_name(dt) in _FLOATS
    return r


def cast(t: Tensor, dt) -> Tensor:
    """``t`` as dtype ``dt`` outside the graph (only integer/bool tensors, which hold no grad)."""
    xp = t._device.xp
    return Tensor._wrap(xp.astype(t.array, dt), t._device)


def to_float(t: Tensor) -> Tensor:
    """``t`` itself when floating, else a float32 copy (the result dtype of a float function of
    integers, as PyTorch)."""
    if is_float_dtype(t.array.dtype):
        return t
    return cast(t, get_dtype(t._device.xp, DEFAULT_FLOAT))


def promote(a: Tensor, b: Tensor):
    """Operands of one dtype kind: an integer/bool operand beside a float one takes the float
    one's dtype (PyTorch: int64 tensor + float32 tensor -> float32; NumPy gives float64)."""
    da, db = a.array.dtype, b.array.dtype
    if a._device is not b._device or da == db:
        return a, b  # same dtype, or different devices (the op reports the mismatch)
    fa, fb = is_float_dtype(da), is_float_dtype(db)
    if fa and not fb:
        return a, cast(b, da)
    if fb and not fa:
        return cast(a, db), b
    return a, b


def float_operands(a: Tensor, b: Tensor):
    """Both operands floating, of one dtype (true division, atan2, hypot)."""
    a, b = promote(a, b)
    return to_float(a), to_float(b)
