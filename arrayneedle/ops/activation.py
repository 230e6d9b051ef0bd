"""The activations, PyTorch's names and formulas: relu, sigmoid, silu, gelu (exact via erf, or
PyTorch's tanh approximation), leaky_relu, elu, softplus.

relu, sigmoid, silu and gelu compute with the kernels (``kernels.silu`` & co.: oneDNN for float32
NumPy arrays where it pays, threaded NumPy, or the array's namespace), forward and, where no
graph is being recorded, backward; while one is, each backward is made of differentiable ops
of the input (or output), so both paths give the same values. The others' backwards reuse what
forward computed (a mask, the sigmoid) only when no graph is being recorded."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function, Tensor, is_grad_enabled
from ._dtypes import to_float
from ._util import TENSOR_MATH, formula_operands, result, saved
from .special import Erf
from .unary import _KernelUnary, math_op

__all__ = ["relu", "sigmoid", "silu", "gelu", "leaky_relu", "elu", "softplus"]


class Sigmoid(_KernelUnary):
    kernel = staticmethod(kernels.sigmoid)
    kernel_backward = staticmethod(kernels.sigmoid_backward)

    def d(self, a, out, m):
        return out * (1 - out)


class ReLU(Function):
    keeps_inputs = False
    saves_output = True  # backward needs not (out <= 0) (== not (a <= 0)), as PyTorch's

    def forward(self, a):
        # kernels.relu: oneDNN (float32) or threaded NumPy (BENCHMARKS.md)
        return kernels.relu(a)

    def backward(self, g):
        out = self.saved_output()._array
        if not is_grad_enabled():
            return Tensor._wrap(kernels.relu_backward(g._array, out), g._device)
        xp = array_namespace(out)
        return g * Tensor._wrap(xp.astype(xp.logical_not(out <= 0), g._array.dtype), g._device)


class SiLU(Function):
    """x * sigmoid(x); backward is one kernel of the input where no graph is recorded, the
    differentiable formula where one is."""

    def forward(self, a):
        return kernels.silu(a)

    def backward(self, g):
        a = self.parents[0]
        if not is_grad_enabled():
            return Tensor._wrap(kernels.silu_backward(g._array, a._array), g._device)
        s = a.sigmoid()
        return g * (s * (1 + a * (1 - s)))


_K_TANH = math.sqrt(2 / math.pi)


class GELU(Function):
    """x * Phi(x) (``approximate="none"``) or PyTorch's tanh approximation (``"tanh"``).
    Backward is one kernel of the input where no graph is recorded, the differentiable formula
    where one is."""

    def forward(self, a, approximate="none"):
        self.approximate = approximate
        return kernels.gelu(a, approximate)

    def backward(self, g):
        a = self.parents[0]
        if not is_grad_enabled():
            return Tensor._wrap(kernels.gelu_backward(g._array, a._array, self.approximate),
                                g._device)
        if self.approximate == "tanh":
            t = (_K_TANH * (a + 0.044715 * a * a * a)).tanh()
            inner = _K_TANH * (1 + 3 * 0.044715 * a * a)
            return g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * inner)
        cdf = 0.5 * (1 + Erf.apply(a * (1 / math.sqrt(2))))
        pdf = (-0.5 * a * a).exp() * (1 / math.sqrt(2 * math.pi))
        return g * (cdf + a * pdf)


class LeakyReLU(Function):
    keeps_inputs = False

    def forward(self, a, negative_slope=0.01):
        xp = array_namespace(a)
        self.pos, self.slope = a > 0, negative_slope
        return xp.where(self.pos, a, a * negative_slope)

    def backward(self, g):
        m, gm = formula_operands(g)
        return result(m.where(saved(self.pos, gm), gm, gm * self.slope), g)


class ELU(Function):
    """alpha * (exp(x) - 1) for x <= 0; the derivative there is alpha * exp(x)."""

    def forward(self, a, alpha=1.0):
        xp = array_namespace(a)
        self.pos, self.alpha = a > 0, alpha
        self.em1 = xp.expm1(xp.minimum(a, xp.asarray(0, dtype=a.dtype)))
        return xp.where(self.pos, a, alpha * self.em1)

    def backward(self, g):
        m, gm, a = formula_operands(g, self.parents[0])
        e = self.em1 + 1 if m is not TENSOR_MATH else a.clamp(max=0.0).exp()
        return result(m.where(saved(self.pos, gm), gm, gm * (self.alpha * e)), g)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (as PyTorch); the
    derivative is sigmoid(beta x)."""

    def forward(self, a, beta=1.0, threshold=20.0):
        xp = array_namespace(a)
        bx = a * beta
        self.lin, self.beta, self.threshold = bx > threshold, beta, threshold
        capped = xp.minimum(bx, xp.asarray(threshold, dtype=a.dtype))
        self.sig = 0.5 * (xp.tanh(0.5 * capped) + 1)
        soft = (xp.maximum(capped, xp.asarray(0, dtype=a.dtype))
                + xp.log1p(xp.exp(-xp.abs(capped)))) / beta
        return xp.where(self.lin, a, soft)

    def backward(self, g):
        m, gm, a = formula_operands(g, self.parents[0])
        sig = (self.sig if m is not TENSOR_MATH
               else (a * self.beta).clamp(max=self.threshold).sigmoid())
        return result(m.where(saved(self.lin, gm), gm, gm * sig), g)


# ---------------------------------------------------------------- public wrappers
sigmoid = math_op(Sigmoid, "sigmoid")
relu = math_op(ReLU, "relu", keep_int=True)
silu = math_op(SiLU, "silu")


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(to_float(as_tensor(input)), approximate=approximate)


def leaky_relu(input, negative_slope=0.01):
    return LeakyReLU.apply(to_float(as_tensor(input)), negative_slope=float(negative_slope))


def elu(input, alpha=1.0):
    return ELU.apply(to_float(as_tensor(input)), alpha=float(alpha))


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(to_float(as_tensor(input)), beta=float(beta), threshold=float(threshold))
