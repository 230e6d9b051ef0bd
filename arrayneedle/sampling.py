"""Random sampling with PyTorch's names: ``bernoulli`` (and ``Tensor.bernoulli`` /
``bernoulli_``) and ``normal``, drawn from the device's generator (seeded by ``manual_seed``)."""
from __future__ import annotations

import numbers

from .tensor import Tensor
from .backend import dtype_name
from .dtypes import FLOAT_DTYPES

__all__ = ["bernoulli", "normal"]

def _draw_bernoulli(p, shape, dev, dtype, name):
    """0/1 of ``dtype`` with P(1) = p (a number or an array of probabilities)."""
    xp = dev.xp
    if isinstance(p, numbers.Number):
        if not 0 <= p <= 1:
            raise RuntimeError(f"{name} expects p to be in [0, 1], but got p={p}")
    elif bool(xp.any((p < 0) | (p > 1))) or bool(xp.any(xp.isnan(p))):
        raise RuntimeError(f"{name}: every probability must be in [0, 1]")
    u = dev.rand(tuple(shape), "float64")
    return xp.astype(u < p, dtype)


def bernoulli(input, p=None, *, generator=None):
    """0/1 draws of ``input``'s shape and dtype, each 1 with probability ``input`` (or with
    ``p`` when given). No gradient flows through a draw."""
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli expects a Tensor, got {type(input).__name__}")
    if generator is not None and generator is not input.device:
        raise TypeError("bernoulli: generator must be None or the tensor's Device")
    dev = input.device
    if p is None:
        if dtype_name(input.dtype) not in FLOAT_DTYPES:
            raise RuntimeError(f"bernoulli expects a floating point tensor of probabilities, "
                               f"got {dtype_name(input.dtype)}")
        prob = input.array
    else:
        prob = p.array if isinstance(p, Tensor) else float(p)
    out = _draw_bernoulli(prob, input.shape, dev, input.array.dtype, "bernoulli")
    return Tensor.from_array(out, dev)


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 0/1 draws, 1 with probability ``p`` (a number or a Tensor broadcast to this
    shape); returns self."""
    prob = p.array if isinstance(p, Tensor) else p
    out = _draw_bernoulli(prob, self.shape, self.device, self.array.dtype, "bernoulli_")
    return self.copy_(Tensor.from_array(out, self.device))


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False):
    """Draws from N(mean, std^2): ``normal(mean_tensor, std_tensor_or_number)`` (shape of the
    broadcast, differentiable in ``mean`` and ``std``: the draw is ``mean + std * eps``) or
    ``normal(mean_number, std_number, size)`` (float32 unless ``dtype``)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        m = mean if isinstance(mean, Tensor) else ref * 0 + mean
        s = std if isinstance(std, Tensor) else std
        if bool((s.array < 0).any()) if isinstance(s, Tensor) else s < 0:
            raise RuntimeError("normal expects std >= 0.0")
        shape = (m + (s if isinstance(s, Tensor) else 0)).shape
        dev = ref.device
        eps = Tensor.from_array(dev.randn(tuple(shape), ref.array.dtype), dev)
        return m + s * eps
    if size is None:
        raise TypeError("normal(mean, std, size): size is needed when mean and std are numbers")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    from .creation import randn
    out = randn(size, dtype=dtype, device=device) * std + mean
    return out.requires_grad_(True) if requires_grad else out

