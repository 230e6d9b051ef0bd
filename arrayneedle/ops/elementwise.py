"""Elementwise ops: arithmetic with broadcasting, unary math, activations, comparisons."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import kernels
from ..autograd import Function
from ._util import unbroadcast


class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return (unbroadcast(g, sa) if self.needs_input_grad[0] else None,
                unbroadcast(g, sb) if self.needs_input_grad[1] else None)


class Subtract(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        return (unbroadcast(g, sa) if self.needs_input_grad[0] else None,
                unbroadcast(-g, sb) if self.needs_input_grad[1] else None)


class Multiply(Function):
    def forward(self, a, b):
        self.a, self.b = (a if self.needs_input_grad[1] else None,
                          b if self.needs_input_grad[0] else None)
        self.shapes = (a.shape, b.shape)
        return a * b

    def backward(self, g):
        sa, sb = self.shapes
        return (unbroadcast(g * self.b, sa) if self.needs_input_grad[0] else None,
                unbroadcast(g * self.a, sb) if self.needs_input_grad[1] else None)


class Divide(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        a, b = self.a, self.b
        ga = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Negative(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class PowerScalar(Function):
    """x ** p for a Python-number exponent p."""

    def forward(self, a, exponent):
        self.a, self.p = a, exponent
        xp = array_namespace(a)
        if exponent == 2:
            return a * a
        return xp.pow(a, xp.asarray(exponent, dtype=a.dtype))

    def backward(self, g):
        a, p = self.a, self.p
        xp = array_namespace(a)
        if p == 2:
            return g * (a + a)
        if p == 1:
            return g
        return g * (p * xp.pow(a, xp.asarray(p - 1, dtype=a.dtype)))


class RPowerScalar(Function):
    """c ** x for a Python-number base c > 0."""

    def forward(self, a, base):
        xp = array_namespace(a)
        self.out = xp.pow(xp.asarray(base, dtype=a.dtype), a)
        self.logc = float(__import__("math").log(base))
        return self.out

    def backward(self, g):
        return g * self.out * self.logc


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
        # Python 0 misses NumPy's vectorised loop: 2.5 ms against 0.7 ms at (12, 64, 32, 32))
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


class Maximum(Function):
    def forward(self, a, b):
        xp = array_namespace(a, b)
        self.mask = a >= b  # ties go to the first operand
        self.shapes = (a.shape, b.shape)
        return xp.maximum(a, b)

    def backward(self, g):
        xp = array_namespace(g)
        zero = xp.asarray(0, dtype=g.dtype)
        sa, sb = self.shapes
        return (unbroadcast(xp.where(self.mask, g, zero), sa) if self.needs_input_grad[0] else None,
                unbroadcast(xp.where(self.mask, zero, g), sb) if self.needs_input_grad[1] else None)


class Minimum(Function):
    def forward(self, a, b):
        xp = array_namespace(a, b)
        self.mask = a <= b
        self.shapes = (a.shape, b.shape)
        return xp.minimum(a, b)

    backward = Maximum.backward


class Where(Function):
    """where(cond, a, b); cond is a bool array passed as a parameter (no gradient)."""

    def forward(self, a, b, cond):
        xp = array_namespace(a, b)
        self.cond = cond
        self.shapes = (a.shape, b.shape)
        return xp.where(cond, a, b)

    def backward(self, g):
        xp = array_namespace(g)
        zero = xp.asarray(0, dtype=g.dtype)
        sa, sb = self.shapes
        return (unbroadcast(xp.where(self.cond, g, zero), sa) if self.needs_input_grad[0] else None,
                unbroadcast(xp.where(self.cond, zero, g), sb) if self.needs_input_grad[1] else None)


class Clip(Function):
    def forward(self, a, min=None, max=None):
        xp = array_namespace(a)
        self.mask = None
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
        xp = array_namespace(g)
        return xp.where(self.mask, g, xp.asarray(0, dtype=g.dtype))


class AsType(Function):
    def forward(self, a, dtype):
        xp = array_namespace(a)
        self.src = a.dtype
        return xp.astype(a, dtype)

    def backward(self, g):
        return array_namespace(g).astype(g, self.src)


class ToDevice(Function):
    def forward(self, a, device):
        from ..backend import device_of
        self.src = device_of(a)
        return device.asarray(a)

    def backward(self, g):
        return self.src.asarray(g)
