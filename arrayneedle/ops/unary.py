"""Unary elementwise ops: exp, log, sqrt, abs, sin, cos, tanh and the activations."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function, Tensor, is_grad_enabled
from ._dtypes import to_float

__all__ = ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "silu"]


class _Unary(Function):
    """The unary math family: y = f(x) with dy/dx = ``d(a, out)``, a Tensor expression of the
    input ``a`` and/or the output ``out`` (so the derivative is itself differentiable).
    ``saves`` names what ``d`` reads: "a", "out", both ("a out") or neither ("")."""

    saves = "a"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.keeps_inputs = "a" in cls.saves.split()
        cls.saves_output = "out" in cls.saves.split()

    @staticmethod
    def f(xp, a):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Unary member defines f")

    def d(self, a, out):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Unary member defines d")

    def forward(self, a):
        return self.f(array_namespace(a), a)

    def backward(self, g):
        a = self.parents[0] if self.keeps_inputs else None
        out = self.saved_output() if self.saves_output else None
        return g * self.d(a, out)


class Exp(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.exp(a))

    def d(self, a, out):
        return out


class Log(_Unary):
    f = staticmethod(lambda xp, a: xp.log(a))

    def d(self, a, out):
        return 1 / a


class Sqrt(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.sqrt(a))

    def d(self, a, out):
        return 0.5 / out


class Abs(_Unary):
    f = staticmethod(lambda xp, a: xp.abs(a))

    def d(self, a, out):
        return a.sign()


class Sin(_Unary):
    f = staticmethod(lambda xp, a: xp.sin(a))

    def d(self, a, out):
        return a.cos()


class Cos(_Unary):
    f = staticmethod(lambda xp, a: xp.cos(a))

    def d(self, a, out):
        return -a.sin()


class Tanh(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.tanh(a))

    def d(self, a, out):
        return 1 - out * out


def _sigmoid(xp, a):
    # 0.5 * (1 + tanh(a / 2)): one transcendental, no overflow for large |a|
    return 0.5 * (xp.tanh(0.5 * a) + 1)


class Sigmoid(_Unary):
    saves = "out"
    f = staticmethod(_sigmoid)

    def d(self, a, out):
        return out * (1 - out)


class ReLU(Function):
    keeps_inputs = False
    saves_output = True  # backward needs out > 0 (== a > 0, nan included), as PyTorch's

    def forward(self, a):
        # kernels.relu: on NumPy threaded, and maximum against a 0-d zero of a's dtype (a
        # Python 0 misses NumPy's vectorised loop; figure in BENCHMARKS.md)
        return kernels.relu(a)

    def backward(self, g):
        out = self.saved_output()._array
        if not is_grad_enabled():
            # g * (out > 0): differs from where(out > 0, g, 0) only where the input was <= 0
            # and g is inf or nan (nan instead of 0)
            return Tensor._wrap(kernels.relu_backward(g._array, out), g._device)
        xp = array_namespace(out)
        return g * Tensor._wrap(xp.astype(out > 0, g._array.dtype), g._device)


class SiLU(Function):
    def forward(self, a):
        xp = array_namespace(a)
        s = _sigmoid(xp, a)
        self.s = s if self.needs_input_grad[0] else None
        return a * s

    def backward(self, g):
        a = self.parents[0]
        # the sigmoid kept by forward where no graph is recorded, recomputed (differentiable)
        # where one is
        s = a.sigmoid() if is_grad_enabled() else Tensor._wrap(self.s, a._device)
        return g * (s * (1 + a * (1 - s)))


# ---------------------------------------------------------------- public wrappers
def math_op(fn_cls, name, keep_int=False):
    """The public function of a one-input Function, with PyTorch's dtype rule: a float function
    of an integer (or bool) tensor gives float32, the default float dtype (NumPy would give
    float64); ``keep_int`` for the functions that keep integers (abs, relu, square)."""
    def op(input):
        t = as_tensor(input)
        return fn_cls.apply(t if keep_int else to_float(t))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (as torch.{name}; differentiable)."
    return op


exp = math_op(Exp, "exp")
log = math_op(Log, "log")
sqrt = math_op(Sqrt, "sqrt")
abs = math_op(Abs, "abs", keep_int=True)
sin = math_op(Sin, "sin")
cos = math_op(Cos, "cos")
tanh = math_op(Tanh, "tanh")
sigmoid = math_op(Sigmoid, "sigmoid")
relu = math_op(ReLU, "relu", keep_int=True)
silu = math_op(SiLU, "silu")
