"""Unary elementwise ops: exp, log, sqrt, abs, sin, cos, tanh and the activations."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function
from ._dtypes import to_float

__all__ = ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "silu"]


class Exp(Function):
    def forward(self, a):
        self.out = array_namespace(a).exp(a)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    def forward(self, a):
        self.a = a
        return array_namespace(a).log(a)

    def backward(self, g):
        return g / self.a


class Sqrt(Function):
    def forward(self, a):
        self.out = array_namespace(a).sqrt(a)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Abs(Function):
    def forward(self, a):
        self.a = a
        return array_namespace(a).abs(a)

    def backward(self, g):
        xp = array_namespace(g)
        return g * xp.sign(self.a)


class Sin(Function):
    def forward(self, a):
        self.a = a
        return array_namespace(a).sin(a)

    def backward(self, g):
        return g * array_namespace(g).cos(self.a)


class Cos(Function):
    def forward(self, a):
        self.a = a
        return array_namespace(a).cos(a)

    def backward(self, g):
        return -g * array_namespace(g).sin(self.a)


class Tanh(Function):
    def forward(self, a):
        self.out = array_namespace(a).tanh(a)
        return self.out

    def backward(self, g):
        o = self.out
        return g * (1 - o * o)


def _sigmoid(xp, a):
    # 0.5 * (1 + tanh(a / 2)): one transcendental, no overflow for large |a|
    return 0.5 * (xp.tanh(0.5 * a) + 1)


class Sigmoid(Function):
    def forward(self, a):
        self.out = _sigmoid(array_namespace(a), a)
        return self.out

    def backward(self, g):
        o = self.out
        return g * o * (1 - o)


class ReLU(Function):
    def forward(self, a):
        # kernels.relu: on NumPy threaded, and maximum against a 0-d zero of a's dtype (a
        # Python 0 misses NumPy's vectorised loop; figure in BENCHMARKS.md)
        out = kernels.relu(a)
        # backward needs out > 0 (== a > 0, nan included): keep the output, as PyTorch does,
        # instead of a mask pass in forward (never under no_grad)
        self.out = out if self.needs_input_grad[0] else None
        return out

    def backward(self, g):
        # g * (out > 0): differs from where(out > 0, g, 0) only where the input was <= 0 and
        # g is inf or nan (nan instead of 0)
        return kernels.relu_backward(g, self.out)


class SiLU(Function):
    def forward(self, a):
        xp = array_namespace(a)
        self.a = a
        self.s = _sigmoid(xp, a)
        return a * self.s

    def backward(self, g):
        s = self.s
        return g * (s * (1 + self.a * (1 - s)))


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
