"""PyTorch's dtype rules for mixed integer/float operands (the array API leaves mixed-kind
promotion to the library: NumPy would give float64 where PyTorch gives float32)."""
from __future__ import annotations

from ..backend import get_dtype
from ..dtypes import DEFAULT_FLOAT, is_float_dtype  # noqa: F401  (is_float_dtype: for the ops)
from ..tensor import Tensor


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
