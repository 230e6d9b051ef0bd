"""Binary elementwise ops beyond the arithmetic of elementwise.py, with PyTorch's names and
dtype rules: remainder (Python's sign), fmod (C's sign), floor_divide and div(rounding_mode=),
atan2, hypot, logaddexp, lerp, and the logical and bitwise families."""
from __future__ import annotations

from array_api_compat import array_namespace

from .._helpers import SCALARS, as_tensor, operands, same_device
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ..dtypes import is_float_dtype
from ._util import saved
from .elementwise import _Binary, add, divide, multiply, subtract
from ._dtypes import float_operands, promote
from .pointwise import is_floating_point

__all__ = ["remainder", "fmod", "floor_divide", "div", "true_divide", "atan2", "arctan2",
           "hypot", "logaddexp", "lerp", "logical_not", "logical_and", "logical_or",
           "logical_xor", "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"]


def _fmod_array(xp, a, b):
    # C's fmod: the sign of the dividend; from the array API's remainder (the divisor's sign)
    r = xp.remainder(a, b)
    fix = xp.logical_and(r != 0, (r < 0) != (a < 0))
    return xp.where(fix, r - b, r)


def _floor_div_array(xp, a, b):
    return xp.floor_divide(a, b)


def _trunc_div_array(xp, a, b):
    if is_float_dtype(a.dtype):
        return xp.trunc(a / b)
    q = xp.floor_divide(a, b)
    # floor rounds towards -inf; trunc wants towards 0 where the quotient is negative, inexact
    return xp.where(xp.logical_and((a < 0) != (b < 0), q * b != a), q + 1, q)


class _Mod(_Binary):
    """remainder / fmod: d/da = 1, d/db = -(a / b rounded) (PyTorch's gradients)."""

    keeps_inputs = False

    def forward(self, a, b, mod=None, rounded=None):
        xp = array_namespace(a, b)
        if self.needs_input_grad[1]:
            self.q = rounded(xp, a, b)
        self.shapes = (a.shape, b.shape)
        return mod(xp, a, b)

    def grads(self, g, a, b, out, m):
        return (g if self.needs_input_grad[0] else None,
                -g * saved(self.q, g) if self.needs_input_grad[1] else None)


class Remainder(_Mod):
    pass


class Fmod(_Mod):
    pass


class FloorDivide(Function):
    """a // b. PyTorch defines no derivative for it: backward through it is an error."""

    keeps_inputs = False

    def forward(self, a, b, rounding=None):
        return rounding(array_namespace(a, b), a, b)

    def backward(self, g):
        raise RuntimeError("the derivative of floor_divide (and of div with rounding_mode) is "
                           "not defined, as in PyTorch; detach() its operands or use a "
                           "differentiable formula")


def _pair(a, b, name):
    a, b = operands(a, b)
    same_device(name, (a, b))
    return promote(a, b)


def remainder(input, other):
    """input - floor(input / other) * other: the result has the divisor's sign, as Python's %
    and torch.remainder."""
    a, b = _pair(input, other, "remainder")
    return Remainder.apply(a, b, mod=lambda xp, x, y: xp.remainder(x, y), rounded=_floor_div_array)


def fmod(input, other):
    """input - trunc(input / other) * other: the result has the dividend's sign (C's fmod),
    as torch.fmod."""
    a, b = _pair(input, other, "fmod")
    return Fmod.apply(a, b, mod=_fmod_array, rounded=_trunc_div_array)


def floor_divide(input, other):
    """input / other rounded down (Python's //), as torch.floor_divide; integers stay integer."""
    a, b = _pair(input, other, "floor_divide")
    return FloorDivide.apply(a, b, rounding=_floor_div_array)


def div(input, other, *, rounding_mode=None):
    """torch.div: true division (integers give float32), or rounded with ``rounding_mode``
    "trunc" or "floor" (integers stay integer; no gradient, as PyTorch)."""
    if rounding_mode is None:
        return divide(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    a, b = _pair(input, other, "div")
    return FloorDivide.apply(a, b, rounding=_floor_div_array if rounding_mode == "floor"
                             else _trunc_div_array)


true_divide = divide


def _float_pair(input, other, name):
    return float_operands(*_pair(input, other, name))


class Atan2(_Binary):
    f = staticmethod(lambda xp, a, b: xp.atan2(a, b))

    def grads(self, g, a, b, out, m):
        r = g / (a * a + b * b)
        return (r * b if self.needs_input_grad[0] else None,
                -r * a if self.needs_input_grad[1] else None)


class Hypot(_Binary):
    saves_output = True
    f = staticmethod(lambda xp, a, b: xp.hypot(a, b))

    def grads(self, g, a, b, out, m):
        r = g / out
        return (r * a if self.needs_input_grad[0] else None,
                r * b if self.needs_input_grad[1] else None)


class LogAddExp(_Binary):
    saves_output = True
    f = staticmethod(lambda xp, a, b: xp.logaddexp(a, b))

    def grads(self, g, a, b, out, m):
        return (g * m.exp(a - out) if self.needs_input_grad[0] else None,
                g * m.exp(b - out) if self.needs_input_grad[1] else None)


def atan2(input, other):
    """The angle of the point (other, input), in (-pi, pi], as torch.atan2."""
    return Atan2.apply(*_float_pair(input, other, "atan2"))


arctan2 = atan2


def hypot(input, other):
    """sqrt(input^2 + other^2) without overflow, as torch.hypot."""
    return Hypot.apply(*_float_pair(input, other, "hypot"))


def logaddexp(input, other):
    """log(exp(input) + exp(other)) without overflow, as torch.logaddexp."""
    return LogAddExp.apply(*_float_pair(input, other, "logaddexp"))


def lerp(input, end, weight):
    """input + weight * (end - input), as torch.lerp; ``weight`` a number or a tensor."""
    return add(input, multiply(weight, subtract(end, input)))


# ---- logical and bitwise ops (no gradient) ----
def _bool(t: Tensor):
    # PyTorch's logical ops read any nonzero element as true
    a = t.array
    return a if dtype_name(a.dtype) == "bool" else a != 0


def _result(array, dev):
    return Tensor._wrap(array, dev)


def logical_not(input):
    t = as_tensor(input)
    return _result(t._device.xp.logical_not(_bool(t)), t._device)


def _logical(name):
    def op(input, other):
        a, b = _pair(input, other, name)
        xp = array_namespace(a.array, b.array)
        return _result(getattr(xp, name)(_bool(a), _bool(b)), a._device)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} as a bool tensor, nonzero meaning true (as torch.{name})."
    return op


logical_and = _logical("logical_and")
logical_or = _logical("logical_or")
logical_xor = _logical("logical_xor")


def _integral(t: Tensor, name):
    if is_floating_point(t):
        raise TypeError(f"{name}: expected integer or bool tensors, got {t.dtype} (PyTorch "
                        f"defines bitwise operations on integers and bools only)")


def bitwise_not(input):
    """~input: logical not for bool tensors, two's complement not for integers."""
    t = as_tensor(input)
    _integral(t, "bitwise_not")
    xp = t._device.xp
    a = t.array
    out = xp.logical_not(a) if dtype_name(a.dtype) == "bool" else xp.bitwise_invert(a)
    return _result(out, t._device)


def _bitwise(name, logical):
    def op(input, other):
        if isinstance(input, SCALARS) and isinstance(other, SCALARS):
            raise TypeError(f"{name}: at least one operand must be a tensor")
        a, b = _pair(input, other, name)
        _integral(a, name)
        _integral(b, name)
        xp = array_namespace(a.array, b.array)
        both_bool = dtype_name(a.array.dtype) == dtype_name(b.array.dtype) == "bool"
        fn = getattr(xp, logical if both_bool else name)
        return _result(fn(a.array, b.array), a._device)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} of integer or bool tensors (as torch.{name})."
    return op


bitwise_and = _bitwise("bitwise_and", "logical_and")
bitwise_or = _bitwise("bitwise_or", "logical_or")
bitwise_xor = _bitwise("bitwise_xor", "logical_xor")
