"""Differentiable operations on Tensors.

Each op is a ``Function`` beside its public wrapper, one module per kind (elementwise, unary,
reduce, shape, linalg, conv, dilation, pool, norm). The wrappers accept Tensors and Python
numbers; this module re-exports them and makes them Tensor methods and operators.
"""
from __future__ import annotations

from ..autograd import Tensor
from .conv import conv2d, conv_transpose2d
from .dilation import dilate, undilate
from .elementwise import (add, astype, clip, divide, equal, greater, greater_equal, less,
                          less_equal, maximum, minimum, multiply, negative, not_equal, power,
                          subtract, to_device, where)
from .linalg import matmul
from .norm import batch_norm, channel_affine, group_norm, layer_norm
from .pool import max_pool2d
from .reduce import log_softmax, logsumexp, max, mean, min, softmax, sum, var
from .shape import (broadcast_to, concat, flatten, flip, getitem, pad, permute, reshape, split,
                    squeeze, stack, take, transpose, unsqueeze)
from .unary import abs, cos, exp, log, relu, sigmoid, silu, sin, sqrt, tanh

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "sqrt", "abs",
    "sin", "cos", "tanh", "sigmoid", "relu", "silu", "maximum", "minimum", "where", "clip",
    "matmul", "sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax",
    "reshape", "broadcast_to", "permute", "transpose", "flip", "stack", "concat", "split", "pad",
    "getitem", "take", "astype", "to_device", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "flatten", "unsqueeze", "squeeze",
    "conv2d", "conv_transpose2d", "dilate", "undilate", "max_pool2d",
    "batch_norm", "layer_norm", "group_norm", "channel_affine",
]


def _attach():
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: subtract(a, b)
    T.__rsub__ = lambda a, b: subtract(b, a)
    T.__mul__ = lambda a, b: multiply(a, b)
    T.__rmul__ = lambda a, b: multiply(b, a)
    T.__truediv__ = lambda a, b: divide(a, b)
    T.__rtruediv__ = lambda a, b: divide(b, a)
    T.__pow__ = lambda a, b: power(a, b)
    T.__rpow__ = lambda a, b: power(b, a)
    T.__neg__ = lambda a: negative(a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__abs__ = lambda a: abs(a)
    T.__getitem__ = lambda a, i: getitem(a, i)
    T.__eq__ = lambda a, b: equal(a, b)
    T.__ne__ = lambda a, b: not_equal(a, b)
    T.__lt__ = lambda a, b: less(a, b)
    T.__le__ = lambda a, b: less_equal(a, b)
    T.__gt__ = lambda a, b: greater(a, b)
    T.__ge__ = lambda a, b: greater_equal(a, b)
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "silu", "abs",
                 "sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax",
                 "reshape", "broadcast_to", "permute", "transpose", "flip", "split", "pad",
                 "clip", "flatten", "unsqueeze", "squeeze", "matmul", "maximum", "minimum",
                 "take"):
        setattr(T, name, globals()[name])
    T.T = property(lambda a: transpose(a))


_attach()
