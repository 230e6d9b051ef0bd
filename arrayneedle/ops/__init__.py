"""Differentiable operations on Tensors.

Each op is a ``Function`` beside its public wrapper, one module per kind (elementwise and
binary: the binary family; unary, pointwise, special: the unary math family; activation;
reduce and sorting: reductions, max/min; shape, views, indexing, linalg, einsum, conv,
dilation, pool, norm).
The wrappers take PyTorch's arguments (``dim``/``keepdim``, with the array API's
``axis``/``keepdims`` as aliases) and accept Tensors and Python numbers; this module
re-exports them. ``Tensor`` (arrayneedle/tensor.py, arrayneedle/tensor_ops.py) declares which
of them are its methods and operators.
"""
from __future__ import annotations

import warnings

from . import return_types
from .activation import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus
from .binary import (arctan2, atan2, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, div, fmod,
                     floor_divide, hypot, lerp, logaddexp, logical_and, logical_not, logical_or,
                     logical_xor, remainder, true_divide)
from .conv import conv2d, conv_transpose2d
from .dilation import dilate, undilate
from .einsum import einsum
from .elementwise import (add, allclose, astype, clamp, clip, divide, eq, equal, ge, greater,
                          greater_equal, gt, isclose, le, less, less_equal, lt, maximum, minimum,
                          multiply, ne, negative, not_equal, pow, power, subtract, to_device,
                          where)
from .indexing import cumprod, cumsum, diag, masked_fill, scatter, scatter_add, tril, triu
from .linalg import bmm, matmul, mm, outer
from .norm import batch_norm, channel_affine, group_norm, group_norm_silu, layer_norm
from .pointwise import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctanh, asin,
                        asinh, atan, atanh, ceil, cosh, exp2, expm1, fix, floor, frac,
                        is_floating_point, isfinite, isinf, isnan, isneginf, isposinf, log1p,
                        log2, log10, nan_to_num, reciprocal, round, rsqrt, sgn, sign, sinh,
                        square, tan, trunc)
from .pool import max_pool2d
from .rearrange import cross, diff, repeat_interleave, roll, tile, unique
from .reduce import (all, amax, amin, any, log_softmax, logsumexp, mean, norm, prod, softmax,
                     std, sum, var)
from .shape import (broadcast_to, cat, chunk, concat, flatten, flip, getitem, index_select, pad,
                    permute, reshape, split, squeeze, stack, take, tensor_split, transpose,
                    unsqueeze)
from .sorting import argmax, argmin, argsort, gather, max, min, sort, topk
from .special import erf
from .unary import abs, cos, exp, log, sin, sqrt, tanh
from ._util import unbroadcast  # noqa: F401  (the shared gradient reduction, for inplace.py)
from .views import (clone, contiguous, expand, expand_as, movedim, narrow, repeat, reshape_as,
                    t, unflatten, view, view_as)

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "power", "exp", "log", "sqrt", "abs",
    "sin", "cos", "tanh", "sigmoid", "relu", "silu", "erf", "gelu", "leaky_relu", "elu",
    "softplus", "maximum", "minimum", "where", "clip", "clamp", "isclose", "allclose",
    "matmul", "mm", "bmm", "outer", "einsum",
    "sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
    "logsumexp", "norm", "all", "any", "softmax", "log_softmax", "topk", "sort", "argsort",
    "return_types",
    "reshape", "view", "view_as", "reshape_as", "broadcast_to", "expand", "expand_as", "repeat",
    "permute", "transpose", "t", "movedim", "flip", "stack", "concat", "cat", "split", "chunk",
    "tensor_split", "narrow", "unflatten", "pad", "getitem", "take", "index_select", "gather",
    "scatter", "scatter_add", "masked_fill", "tril", "triu", "diag", "cumsum", "cumprod",
    "clone", "contiguous", "astype", "to_device", "equal", "not_equal", "less", "less_equal",
    "greater",
    "greater_equal", "flatten", "unsqueeze", "squeeze",
    "conv2d", "conv_transpose2d", "dilate", "undilate", "max_pool2d",
    "batch_norm", "layer_norm", "group_norm", "group_norm_silu", "channel_affine",
    "pow", "eq", "ne", "lt", "le", "gt", "ge", "sub", "mul", "neg",
    "remainder", "fmod", "floor_divide", "div", "true_divide", "atan2", "arctan2", "hypot",
    "logaddexp", "lerp", "logical_not", "logical_and", "logical_or", "logical_xor",
    "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor",
    "sign", "sgn", "floor", "ceil", "trunc", "fix", "frac", "round", "square", "rsqrt",
    "reciprocal", "log1p", "expm1", "log2", "log10", "exp2", "tan", "asin", "acos", "atan",
    "arcsin", "arccos", "arctan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsinh",
    "arccosh", "arctanh", "nan_to_num", "isnan", "isinf", "isfinite", "isposinf", "isneginf",
    "is_floating_point", "roll", "tile", "repeat_interleave", "diff", "cross", "unique",
]

# PyTorch's short spellings of the arithmetic
sub, mul, neg = subtract, multiply, negative


def silence_ieee_warnings():
    """IEEE results (1/0 = inf, log(0) = -inf, 0/0 = nan) without NumPy's RuntimeWarning, as
    PyTorch: one warnings filter for the warnings raised in arrayneedle's own op, kernel and
    functional code (the frame NumPy attributes them to), so no op pays for an errstate context
    and the user's own NumPy code keeps its warnings. Installed on import; a
    ``warnings.catch_warnings()`` block around that import (pytest's collection) drops it when
    it ends, and calling this again reinstalls it."""
    warnings.filterwarnings(
        "ignore", r"(divide by zero|invalid value|overflow|underflow) encountered",
        RuntimeWarning, r"arrayneedle\.(ops|kernels|nn\.functional)(\.|$)")


silence_ieee_warnings()
