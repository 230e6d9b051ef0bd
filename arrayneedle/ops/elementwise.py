"""Elementwise ops on two operands (arithmetic with broadcasting, maximum, minimum, where,
comparisons), power, clip and the dtype and device casts.

Mixed integer/float operands follow PyTorch: the integer one takes the float one's dtype
(``int64 tensor * 1.5`` is float32), and true division of integers gives float32."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import SCALARS, as_tensor, operands, same_device
from ..autograd import Function, Tensor
from ..backend import device as _device, device_of, get_dtype
from ._dtypes import float_operands, is_float_dtype, promote, to_float
from ._util import const, formula_operands, result, saved, unbroadcast

__all__ = ["add", "subtract", "multiply", "divide", "negative", "power", "pow", "maximum",
           "minimum", "where", "clip", "astype", "to_device", "equal", "eq", "ne", "lt", "le", "gt",
           "ge", "not_equal", "less", "less_equal", "greater", "greater_equal", "clamp", "isclose",
           "allclose"]


def _crossed(need):
    """The inputs a product's backward reads: ``a`` for b's gradient, ``b`` for a's."""
    return tuple(i for i, n in ((0, need[1]), (1, need[0])) if n)


class _Binary(Function):
    """The binary family: z = f(a, b) with broadcasting. A member defines ``f`` (on arrays) and
    ``grads(g, a, b, out, m)``, the two gradients at the broadcast shape written with the math
    functions of ``m`` (``_util.formula_operands``: Tensors while a graph is recorded, raw
    arrays otherwise; None where ``needs_input_grad`` says no); the family sums each back to
    its input's shape. ``crossed`` members read ``a`` only for b's gradient and ``b`` only for
    a's."""

    crossed = False

    @staticmethod
    def f(xp, a, b):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Binary member defines f")

    def grads(self, g, a, b, out, m):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Binary member defines grads")

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        if self.crossed:
            self.keeps_inputs = _crossed(self.needs_input_grad)
        return self.f(array_namespace(a, b), a, b)

    def backward(self, g):
        a, b = self.parents
        m, gm, am, bm, out = formula_operands(
            g, a, b, self.saved_output() if self.saves_output else None)
        ga, gb = self.grads(gm, am, bm, out, m)
        sa, sb = self.shapes
        return (None if ga is None else unbroadcast(result(ga, g), sa),
                None if gb is None else unbroadcast(result(gb, g), sb))


class Add(_Binary):
    keeps_inputs = False
    f = staticmethod(lambda xp, a, b: a + b)

    def grads(self, g, a, b, out, m):
        return g if self.needs_input_grad[0] else None, g if self.needs_input_grad[1] else None


class Subtract(_Binary):
    keeps_inputs = False
    f = staticmethod(lambda xp, a, b: a - b)

    def grads(self, g, a, b, out, m):
        return g if self.needs_input_grad[0] else None, -g if self.needs_input_grad[1] else None


class Multiply(_Binary):
    crossed = True
    f = staticmethod(lambda xp, a, b: a * b)

    def grads(self, g, a, b, out, m):
        return (g * b if self.needs_input_grad[0] else None,
                g * a if self.needs_input_grad[1] else None)


class Divide(_Binary):
    f = staticmethod(lambda xp, a, b: a / b)

    def forward(self, a, b):
        self.keeps_inputs = (0, 1) if self.needs_input_grad[1] else (1,)
        return super().forward(a, b)

    def grads(self, g, a, b, out, m):
        return (g / b if self.needs_input_grad[0] else None,
                -g * a / (b * b) if self.needs_input_grad[1] else None)


class Negative(Function):
    keeps_inputs = False

    def forward(self, a):
        return -a

    def backward(self, g):
        m, gm = formula_operands(g)
        return result(-gm, g)


class PowerScalar(Function):
    """x ** p for a Python-number exponent p."""

    def forward(self, a, exponent):
        self.p = exponent
        xp = array_namespace(a)
        if exponent == 2:
            return a * a
        return xp.pow(a, xp.asarray(exponent, dtype=a.dtype))

    def backward(self, g):
        p = self.p
        if p == 1:
            return g
        if p == 0:
            return const(g._device.xp.zeros(g.shape, dtype=g.dtype), g)
        m, gm, a = formula_operands(g, self.parents[0])
        return result(gm * (a + a) if p == 2 else gm * (p * a ** (p - 1)), g)


class RPowerScalar(Function):
    """c ** x for a Python-number base c > 0."""

    keeps_inputs = False
    saves_output = True

    def forward(self, a, base):
        xp = array_namespace(a)
        self.logc = float(math.log(base))
        return xp.pow(xp.asarray(base, dtype=a.dtype), a)

    def backward(self, g):
        return g * self.saved_output() * self.logc


class Power(_Binary):
    """a ** b for two tensors, with PyTorch's gradients: zero for ``a`` where b == 0, zero for
    ``b`` where a == 0 and b >= 0 (a negative base gives nan there, as PyTorch)."""

    saves_output = True
    f = staticmethod(lambda xp, a, b: xp.pow(a, b))

    def grads(self, g, a, b, out, m):
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = m.where(b == 0, 0.0, g * b * a ** (b - 1))
        if self.needs_input_grad[1]:
            safe = m.where(a == 0, 1.0, a)
            gb = m.where(m.logical_and(a == 0, b >= 0), 0.0, g * out * m.log(safe))
        return ga, gb


class _Select(_Binary):
    """Picks each element from one of two operands by a mask saved in forward (maximum,
    minimum, where): the gradient goes where the element came from."""

    keeps_inputs = False

    def grads(self, g, a, b, out, m):
        mask = saved(self.mask, g)
        return (m.where(mask, g, 0.0) if self.needs_input_grad[0] else None,
                m.where(mask, 0.0, g) if self.needs_input_grad[1] else None)


class Maximum(_Select):
    def f(self, xp, a, b):
        self.mask = a >= b  # ties go to the first operand
        return xp.maximum(a, b)


class Minimum(_Select):
    def f(self, xp, a, b):
        self.mask = a <= b
        return xp.minimum(a, b)


class Where(_Select):
    """where(cond, a, b); cond is a bool array passed as a parameter (no gradient)."""

    def forward(self, a, b, cond):
        self.mask = cond
        self.shapes = (a.shape, b.shape)
        return array_namespace(a, b).where(cond, a, b)


class Clip(Function):
    keeps_inputs = False

    def forward(self, a, min=None, max=None):
        xp = array_namespace(a)
        out = a
        mask = None
        if min is not None:
            lo = xp.asarray(min, dtype=a.dtype)
            mask = a >= lo
            out = xp.maximum(out, lo)
        if max is not None:
            hi = xp.asarray(max, dtype=a.dtype)
            m2 = a <= hi
            mask = m2 if mask is None else xp.logical_and(mask, m2)
            out = xp.minimum(out, hi)
        self.mask = mask
        return out

    def backward(self, g):
        if self.mask is None:
            return g
        return where(const(self.mask, g), g, 0.0)


class AsType(Function):
    keeps_inputs = False

    def forward(self, a, dtype):
        self.src = a.dtype
        return array_namespace(a).astype(a, dtype)

    def backward(self, g):
        return AsType.apply(g, dtype=self.src)


class ToDevice(Function):
    keeps_inputs = False

    def forward(self, a, device):
        self.src = device_of(a)
        return device.asarray(a)

    def backward(self, g):
        return to_device(g, self.src)


# ---------------------------------------------------------------- public wrappers
def add(a, b, *, alpha=1):
    """a + alpha * b (torch.add)."""
    if alpha != 1:
        b = multiply(b, alpha)
    return Add.apply(*promote(*operands(a, b)))


def subtract(a, b, *, alpha=1):
    """a - alpha * b (torch.sub)."""
    if alpha != 1:
        b = multiply(b, alpha)
    return Subtract.apply(*promote(*operands(a, b)))


def multiply(a, b):
    return Multiply.apply(*promote(*operands(a, b)))


def divide(a, b):
    """True division; integer operands give float32, as PyTorch."""
    return Divide.apply(*float_operands(*operands(a, b)))


def negative(a):
    return Negative.apply(as_tensor(a))


def _number(x):
    # a NumPy scalar or 0-d array as the Python number it holds, so it acts like one
    if not isinstance(x, (Tensor, *SCALARS)) and getattr(x, "ndim", None) == 0:
        return x.item()
    return x


def power(input, exponent):
    """input ** exponent, as torch.pow: either may be a number. An integer tensor stays integer
    with an integer exponent (a negative one is an error, as PyTorch) and becomes float32 with
    a float exponent; a negative base with an integral exponent is well defined."""
    a, exponent = _number(input), _number(exponent)
    if isinstance(a, Tensor) and isinstance(exponent, SCALARS):
        if not is_float_dtype(a.array.dtype):
            if isinstance(exponent, float):
                a = to_float(a)
            elif exponent < 0:
                raise ValueError(f"pow: integers to negative integer powers are not allowed "
                                 f"(exponent {exponent}); convert the tensor with .float()")
        return PowerScalar.apply(a, exponent=exponent)
    if isinstance(a, SCALARS) and isinstance(exponent, Tensor):
        if isinstance(a, float):
            exponent = to_float(exponent)
        if a > 0 and is_float_dtype(exponent.array.dtype):
            return RPowerScalar.apply(exponent, base=a)
    a, b = promote(*operands(a, exponent))
    same_device("pow", (a, b))
    return Power.apply(a, b)


pow = power


def maximum(a, b):
    return Maximum.apply(*operands(a, b))


def minimum(a, b):
    return Minimum.apply(*operands(a, b))


def where(cond, a, b):
    """Elements of ``a`` where ``cond`` is true, else of ``b`` (cond gets no gradient)."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = operands(a, b)
    else:
        a, b = operands(as_tensor(a), b)
    c = cond.array if isinstance(cond, Tensor) else a._device.asarray(cond)
    return Where.apply(a, b, cond=c)


def clip(a, min=None, max=None):
    return Clip.apply(as_tensor(a), min=min, max=max)


def astype(a, dtype):
    a = as_tensor(a)
    return AsType.apply(a, dtype=get_dtype(a._device.xp, dtype))


def to_device(a, device):
    dev = _device(device)
    a = as_tensor(a)
    if a._device is dev:
        return a
    out = ToDevice.apply(a, device=dev)
    out._device = dev
    return out


# ---- comparisons (bool tensors, no gradient) ----
def _cmp(name, xp_name):
    def op(input, other):
        a, b = operands(input, other)
        same_device(name, (a, b))
        xp = array_namespace(a.array, b.array)
        return Tensor._wrap(getattr(xp, xp_name)(a.array, b.array), a._device)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {xp_name} as a bool tensor (no gradient), as torch.{name}."
    return op


eq = _cmp("eq", "equal")
ne = not_equal = _cmp("ne", "not_equal")
lt = less = _cmp("lt", "less")
le = less_equal = _cmp("le", "less_equal")
gt = greater = _cmp("gt", "greater")
ge = greater_equal = _cmp("ge", "greater_equal")


def equal(input, other) -> bool:
    """True when both tensors have the same shape and the same elements (a Python bool, as
    torch.equal; the elementwise comparison is ``eq``)."""
    a, b = as_tensor(input), as_tensor(other)
    if tuple(a.shape) != tuple(b.shape):
        return False
    same_device("equal", (a, b))
    a, b = promote(a, b)
    return bool(array_namespace(a.array, b.array).all(a.array == b.array))


def clamp(input, min=None, max=None):
    """Limit ``input`` to [min, max] (numbers or tensors); the gradient is 0 where clamped."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = as_tensor(input)
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return clip(input, min, max)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |input - other| <= atol + rtol * |other| (a bool tensor)."""
    a, b = operands(input, other)
    same_device("isclose", (a, b))
    xp = array_namespace(a.array, b.array)
    x, y = a.array, b.array
    close = xp.abs(x - y) <= atol + rtol * xp.abs(y)
    close = xp.logical_or(close, x == y)  # equal infinities
    if equal_nan:
        close = xp.logical_or(close, xp.logical_and(xp.isnan(x), xp.isnan(y)))
    return Tensor._wrap(close, a._device)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(array_namespace(input.array if isinstance(input, Tensor) else other.array).all(
        isclose(input, other, rtol, atol, equal_nan).array))
