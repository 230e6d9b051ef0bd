"""Tensor factories: zeros, ones, full, arange, random numbers (from the device's generator)."""
from __future__ import annotations

from ._helpers import shape_arg
from .autograd import Tensor
from .backend import device as _device, get_dtype

__all__ = ["tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "randn",
           "rand", "randint", "randn_like", "rand_like", "arange", "linspace"]


def tensor(data, device=None, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(data, device=device, dtype=dtype, requires_grad=requires_grad)


def _make(array, dev, requires_grad):
    t = Tensor.from_array(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def full(shape, value, device=None, dtype="float32", requires_grad=False):
    dev = _device(device)
    return _make(dev.xp.full(shape_arg((shape,)), value, dtype=get_dtype(dev.xp, dtype)), dev,
                 requires_grad)


def zeros(*shape, device=None, dtype="float32", requires_grad=False):
    dev = _device(device)
    return _make(dev.xp.zeros(shape_arg(shape), dtype=get_dtype(dev.xp, dtype)), dev, requires_grad)


def ones(*shape, device=None, dtype="float32", requires_grad=False):
    dev = _device(device)
    return _make(dev.xp.ones(shape_arg(shape), dtype=get_dtype(dev.xp, dtype)), dev, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, device=t.device, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, device=t.device, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t, value, dtype=None):
    return full(t.shape, value, device=t.device, dtype=dtype or t.dtype)


def randn(*shape, device=None, dtype="float32", requires_grad=False):
    """Standard normal samples from the device's generator (seeded by manual_seed)."""
    dev = _device(device)
    return _make(dev.randn(shape_arg(shape), dtype), dev, requires_grad)


def rand(*shape, device=None, dtype="float32", requires_grad=False):
    dev = _device(device)
    return _make(dev.rand(shape_arg(shape), dtype), dev, requires_grad)


def randint(low, high, shape, device=None, dtype="int64"):
    dev = _device(device)
    return Tensor.from_array(dev.randint(low, high, shape_arg((shape,)), dtype), dev)


def randn_like(t):
    return randn(t.shape, device=t.device, dtype=t.dtype)


def rand_like(t):
    return rand(t.shape, device=t.device, dtype=t.dtype)


def arange(start, stop=None, step=1, device=None, dtype=None):
    dev = _device(device)
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int) for v in (start, stop, step)) else "float32"
    return Tensor.from_array(dev.xp.arange(start, stop, step, dtype=get_dtype(dev.xp, dtype)), dev)


def linspace(start, stop, num, device=None, dtype="float32"):
    dev = _device(device)
    return Tensor.from_array(dev.xp.linspace(start, stop, num, dtype=get_dtype(dev.xp, dtype)), dev)
