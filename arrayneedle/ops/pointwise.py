"""More unary elementwise ops with PyTorch's names and dtype rules: the rounding family (sign,
floor, ceil, trunc, frac, round), square, rsqrt, reciprocal, the log/exp variants, the
trigonometric and hyperbolic functions, nan_to_num and the float-class tests.

dtype rules as PyTorch: the transcendental functions give the default float dtype (float32)
for integer or bool input; sign, floor, ceil, trunc, round and square keep an integer dtype.
The rounding family has a zero gradient (as PyTorch's), not "no gradient": a result still
requires grad when its input does, so a graph through it backpropagates zeros."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import as_tensor
from ..autograd import Function, Tensor
from ..backend import dtype_name
from ._dtypes import is_float_dtype
from ._util import const
from .unary import _Unary, math_op

__all__ = ["sign", "sgn", "floor", "ceil", "trunc", "fix", "frac", "round", "square", "rsqrt",
           "reciprocal", "log1p", "expm1", "log2", "log10", "exp2", "tan", "asin", "acos", "atan",
           "arcsin", "arccos", "arctan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsinh",
           "arccosh", "arctanh", "nan_to_num", "isnan", "isinf", "isfinite", "isposinf",
           "isneginf", "is_floating_point"]

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def is_floating_point(input) -> bool:
    return is_float_dtype(as_tensor(input).array.dtype)


class _Step(Function):
    """A piecewise-constant function: zero gradient, as PyTorch's floor/ceil/round/sign."""

    keeps_inputs = False

    def forward(self, a, fn=None):
        self.shape, self.dtype = a.shape, a.dtype
        return fn(array_namespace(a), a)

    def backward(self, g):
        return Tensor._wrap(array_namespace(g._array).zeros(self.shape, dtype=self.dtype),
                            g._device)


class Sign(_Step):
    pass


class Floor(_Step):
    pass


class Ceil(_Step):
    pass


class Trunc(_Step):
    pass


class Round(_Step):
    pass


def _stepfun(cls, name, f, int_identity=True):
    def op(input):
        t = as_tensor(input)
        if int_identity and not is_floating_point(t):
            return Tensor._wrap(t.array, t._device)  # integers are already whole (PyTorch: a copy)
        return cls.apply(t, fn=f)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (as torch.{name}); its gradient is zero."
    return op


def _sign(xp, a):
    if dtype_name(a.dtype) == "bool":
        return a
    return xp.sign(a)


sign = _stepfun(Sign, "sign", _sign, int_identity=False)
sgn = sign
floor = _stepfun(Floor, "floor", lambda xp, a: xp.floor(a))
ceil = _stepfun(Ceil, "ceil", lambda xp, a: xp.ceil(a))
trunc = _stepfun(Trunc, "trunc", lambda xp, a: xp.trunc(a))
fix = trunc


def round(input, *, decimals=0):
    """Round half to even (as torch.round); with ``decimals``, as PyTorch: round(x * 10^d) /
    10^d (or round(x / 10^-d) * 10^-d for negative d). The gradient is zero."""
    t = as_tensor(input)
    if not is_floating_point(t):
        return Tensor._wrap(t.array, t._device)
    d = int(decimals)
    if d == 0:
        return Round.apply(t, fn=lambda xp, a: xp.round(a))
    s = 10.0 ** abs(d)
    if d > 0:
        return Round.apply(t, fn=lambda xp, a: xp.round(a * s) / s)
    return Round.apply(t, fn=lambda xp, a: xp.round(a / s) * s)


class Frac(_Unary):
    saves = ""
    f = staticmethod(lambda xp, a: a - xp.trunc(a))

    def d(self, a, out, m):
        return 1.0


class Square(_Unary):
    f = staticmethod(lambda xp, a: a * a)

    def d(self, a, out, m):
        return 2 * a


class Rsqrt(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: 1 / xp.sqrt(a))

    def d(self, a, out, m):
        return -0.5 * out * out * out


class Reciprocal(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: 1 / a)

    def d(self, a, out, m):
        return -(out * out)


class Log1p(_Unary):
    f = staticmethod(lambda xp, a: xp.log1p(a))

    def d(self, a, out, m):
        return 1 / (1 + a)


class Expm1(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.expm1(a))

    def d(self, a, out, m):
        return out + 1


class Log2(_Unary):
    f = staticmethod(lambda xp, a: xp.log2(a))

    def d(self, a, out, m):
        return 1 / (a * _LN2)


class Log10(_Unary):
    f = staticmethod(lambda xp, a: xp.log10(a))

    def d(self, a, out, m):
        return 1 / (a * _LN10)


class Exp2(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.exp(a * _LN2))  # the array API has no exp2

    def d(self, a, out, m):
        return out * _LN2


class Tan(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.tan(a))

    def d(self, a, out, m):
        return 1 + out * out


class Asin(_Unary):
    f = staticmethod(lambda xp, a: xp.asin(a))

    def d(self, a, out, m):
        return 1 / m.sqrt(1 - a * a)


class Acos(_Unary):
    f = staticmethod(lambda xp, a: xp.acos(a))

    def d(self, a, out, m):
        return -1 / m.sqrt(1 - a * a)


class Atan(_Unary):
    f = staticmethod(lambda xp, a: xp.atan(a))

    def d(self, a, out, m):
        return 1 / (1 + a * a)


class Sinh(_Unary):
    f = staticmethod(lambda xp, a: xp.sinh(a))

    def d(self, a, out, m):
        return m.cosh(a)


class Cosh(_Unary):
    f = staticmethod(lambda xp, a: xp.cosh(a))

    def d(self, a, out, m):
        return m.sinh(a)


class Asinh(_Unary):
    f = staticmethod(lambda xp, a: xp.asinh(a))

    def d(self, a, out, m):
        return 1 / m.sqrt(a * a + 1)


class Acosh(_Unary):
    f = staticmethod(lambda xp, a: xp.acosh(a))

    def d(self, a, out, m):
        return 1 / m.sqrt(a * a - 1)


class Atanh(_Unary):
    f = staticmethod(lambda xp, a: xp.atanh(a))

    def d(self, a, out, m):
        return 1 / (1 - a * a)


frac = math_op(Frac, "frac")
square = math_op(Square, "square", keep_int=True)
rsqrt = math_op(Rsqrt, "rsqrt")
reciprocal = math_op(Reciprocal, "reciprocal")
log1p = math_op(Log1p, "log1p")
expm1 = math_op(Expm1, "expm1")
log2 = math_op(Log2, "log2")
log10 = math_op(Log10, "log10")
exp2 = math_op(Exp2, "exp2")
tan = math_op(Tan, "tan")
asin = arcsin = math_op(Asin, "asin")
acos = arccos = math_op(Acos, "acos")
atan = arctan = math_op(Atan, "atan")
sinh = math_op(Sinh, "sinh")
cosh = math_op(Cosh, "cosh")
asinh = arcsinh = math_op(Asinh, "asinh")
acosh = arccosh = math_op(Acosh, "acosh")
atanh = arctanh = math_op(Atanh, "atanh")


class NanToNum(Function):
    keeps_inputs = False

    """nan -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf``; the gradient passes where the
    input was finite and is zero elsewhere (PyTorch's rule)."""

    def forward(self, a, nan=0.0, posinf=None, neginf=None):
        xp = array_namespace(a)
        fi = xp.finfo(a.dtype)
        hi = fi.max if posinf is None else posinf
        lo = fi.min if neginf is None else neginf
        self.finite = xp.isfinite(a)
        out = xp.where(xp.isnan(a), xp.asarray(nan, dtype=a.dtype), a)
        out = xp.where(out == xp.inf, xp.asarray(hi, dtype=a.dtype), out)
        return xp.where(out == -xp.inf, xp.asarray(lo, dtype=a.dtype), out)

    def backward(self, g):
        return g.where(const(self.finite, g), 0.0)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """Replace nan by ``nan`` and +/-inf by ``posinf``/``neginf`` (default: the dtype's
    largest/lowest finite value), as torch.nan_to_num. Integer tensors are returned as they
    are (they hold no nan or inf)."""
    t = as_tensor(input)
    if not is_floating_point(t):
        return Tensor._wrap(t.array, t._device)
    return NanToNum.apply(t, nan=float(nan), posinf=posinf, neginf=neginf)


def _test(name, f, int_value=False):
    def op(input):
        t = as_tensor(input)
        xp = t._device.xp
        if not is_floating_point(t):
            full = xp.ones if int_value else xp.zeros
            return Tensor._wrap(full(t.shape, dtype=xp.bool), t._device)
        return Tensor._wrap(f(xp, t.array), t._device)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} as a bool tensor (no gradient), as torch.{name}."
    return op


isnan = _test("isnan", lambda xp, a: xp.isnan(a))
isinf = _test("isinf", lambda xp, a: xp.isinf(a))
isfinite = _test("isfinite", lambda xp, a: xp.isfinite(a), int_value=True)
isposinf = _test("isposinf", lambda xp, a: a == xp.inf)
isneginf = _test("isneginf", lambda xp, a: a == -xp.inf)
