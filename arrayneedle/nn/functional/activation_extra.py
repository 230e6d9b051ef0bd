"""More activation functions with torch.nn.functional's signatures: relu6, hardtanh,
hardsigmoid, hardswish, mish, selu, celu, logsigmoid, softsign, glu, prelu. Composed from
differentiable ops; ``inplace=`` follows activation.py's policy."""
from __future__ import annotations

import math

from ... import ops
from .activation import _result

__all__ = ["relu6", "hardtanh", "hardsigmoid", "hardswish", "mish", "selu", "celu",
           "logsigmoid", "softsign", "glu", "prelu"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return _result(input, ops.clamp(input, min_val, max_val), inplace)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    return _result(input, ops.clamp(input / 6.0 + 0.5, 0.0, 1.0), inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _result(input, input * ops.clamp(input / 6.0 + 0.5, 0.0, 1.0), inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _result(input, input * ops.tanh(ops.softplus(input)), inplace)


def selu(input, inplace=False):
    return _result(input, ops.elu(input, _SELU_ALPHA) * _SELU_SCALE, inplace)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _result(input, ops.elu(input / alpha, 1.0) * alpha, inplace)


def logsigmoid(input):
    """log(sigmoid(x)) without overflow: -softplus(-x)."""
    return -ops.softplus(-input)


def softsign(input):
    return input / (ops.abs(input) + 1.0)


def glu(input, dim=-1):
    """a * sigmoid(b) for the two halves a, b of ``input`` along ``dim``."""
    n = input.shape[dim]
    if n % 2:
        raise ValueError(f"glu: dim {dim} must have an even size, got {n}")
    a, b = ops.chunk(input, 2, dim)
    return a * ops.sigmoid(b)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x), ``weight`` one value or one per channel (dim 1, as
    PyTorch; inputs of fewer than 2 dims have one channel)."""
    w = weight
    n = math.prod(w.shape)
    if n != 1:
        c = input.shape[1] if input.ndim >= 2 else 1
        if n != c:
            raise ValueError(f"prelu: weight has {n} values, expected 1 or the number "
                             f"of channels {c} (dim 1 of input shape {input.shape})")
        w = ops.reshape(w, (c,) + (1,) * (input.ndim - 2))
    return ops.where(input > 0, input, w * input)
