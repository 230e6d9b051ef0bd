"""Activation functions with torch.nn.functional's signatures.

``inplace=True`` writes the result into ``input``'s memory and returns ``input`` when no
gradient flows through ``input``; when one does, the result is returned as a new tensor and
``input`` is left as it was (the graph needs the original values)."""
from __future__ import annotations

from ... import ops
from ...autograd import Tensor, is_grad_enabled

__all__ = ["relu", "relu_", "gelu", "silu", "leaky_relu", "elu", "softplus", "sigmoid", "tanh",
           "softmax", "log_softmax", "dropout"]


def _result(input, out, inplace):
    if not inplace or (input.requires_grad and is_grad_enabled()):
        return out
    input.array[...] = out.array
    return input


def relu(input, inplace=False):
    return _result(input, ops.relu(input), inplace)


def relu_(input):
    return relu(input, inplace=True)


def gelu(input, approximate="none"):
    """x * Phi(x) with the exact normal CDF (through erf), or PyTorch's tanh approximation
    with ``approximate="tanh"``."""
    return ops.gelu(input, approximate=approximate)


def silu(input, inplace=False):
    return _result(input, ops.silu(input), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _result(input, ops.leaky_relu(input, negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _result(input, ops.elu(input, alpha), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    return ops.softplus(input, beta, threshold)


def sigmoid(input):
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return ops.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return ops.log_softmax(input, dim, dtype)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` when
    ``training``; the identity otherwise. The mask comes from the device's generator."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    dev = input.device
    xp = dev.xp
    if p == 1:
        scale = xp.zeros(input.shape, dtype=input.dtype)
    else:
        keep = dev.rand(input.shape, input.dtype) >= p
        scale = xp.astype(keep, input.dtype) * (1.0 / (1 - p))
    return _result(input, input * Tensor._wrap(scale, dev), inplace)
