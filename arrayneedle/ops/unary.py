"""The unary math family (``_Unary``: y = f(x) with a differentiable derivative d(x, y)):
exp, log, sqrt, abs, sin, cos, tanh here; the rest of the family (tan, asin, log1p...) in
pointwise.py, erf in special.py, sigmoid with the activations (activation.py)."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function, Tensor, is_grad_enabled
from ._dtypes import to_float
from ._util import formula_operands, result

__all__ = ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "math_op"]


class _Unary(Function):
    """The unary math family: y = f(x) with dy/dx = ``d(a, out, m)``, an expression of the input
    ``a`` and/or the output ``out`` with the math functions of ``m`` (``_util.formula_operands``:
    Tensors while a graph is recorded, so the derivative is itself differentiable; raw arrays
    otherwise). ``saves`` names what ``d`` reads: "a", "out", both ("a out") or neither ("")."""

    saves = "a"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.keeps_inputs = "a" in cls.saves.split()
        cls.saves_output = "out" in cls.saves.split()

    @staticmethod
    def f(xp, a):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Unary member defines f")

    def d(self, a, out, m):  # pragma: no cover - every member defines it
        raise NotImplementedError("a _Unary member defines d")

    def forward(self, a):
        return self.f(array_namespace(a), a)

    def backward(self, g):
        m, gm, a, out = formula_operands(g, self.parents[0] if self.keeps_inputs else None,
                                         self.saved_output() if self.saves_output else None)
        return result(gm * self.d(a, out, m), g)


class _KernelUnary(_Unary):
    """A member computed by a kernel pair (``kernels.tanh`` & co.: threaded on NumPy, oneDNN
    where it pays): ``kernel(x)`` forward, ``kernel_backward(g, out)`` for the gradient where
    no graph is recorded; while one is, the differentiable formula ``d`` of the output."""

    saves = "out"

    def forward(self, a):  # in place of f
        return self.kernel(a)

    def backward(self, g):
        if is_grad_enabled():
            return super().backward(g)
        return Tensor._wrap(self.kernel_backward(g._array, self.saved_output()._array),
                            g._device)


class Exp(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.exp(a))

    def d(self, a, out, m):
        return out


class Log(_Unary):
    f = staticmethod(lambda xp, a: xp.log(a))

    def d(self, a, out, m):
        return 1 / a


class Sqrt(_Unary):
    saves = "out"
    f = staticmethod(lambda xp, a: xp.sqrt(a))

    def d(self, a, out, m):
        return 0.5 / out


class Abs(_Unary):
    f = staticmethod(lambda xp, a: xp.abs(a))

    def d(self, a, out, m):
        return m.sign(a)


class Sin(_Unary):
    f = staticmethod(lambda xp, a: xp.sin(a))

    def d(self, a, out, m):
        return m.cos(a)


class Cos(_Unary):
    f = staticmethod(lambda xp, a: xp.cos(a))

    def d(self, a, out, m):
        return -m.sin(a)


class Tanh(_KernelUnary):
    kernel, kernel_backward = staticmethod(kernels.tanh), staticmethod(kernels.tanh_backward)

    def d(self, a, out, m):
        return 1 - out * out


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
