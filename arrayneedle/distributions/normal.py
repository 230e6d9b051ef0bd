"""Normal, Uniform and Bernoulli (``torch.distributions``), with PyTorch's formulas."""
from __future__ import annotations

import math

from .. import ops
from ..tensor import Tensor
from .distribution import Distribution, ProbsMoments, as_param

__all__ = ["Normal", "Uniform", "Bernoulli"]


class Normal(Distribution):
    """N(loc, scale^2), broadcast over ``loc`` and ``scale``; ``rsample`` is
    ``loc + scale * eps`` (gradients to both)."""

    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        loc = as_param(loc, scale if not hasattr(loc, "array") else None)
        scale = as_param(scale, loc)
        shape = ops.broadcast_to(loc, _bshape(loc, scale)).shape
        self.loc, self.scale = ops.broadcast_to(loc, shape), ops.broadcast_to(scale, shape)
        if validate_args and bool((self.scale.array <= 0).any()):
            raise ValueError("Normal: scale must be positive")
        super().__init__(shape)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale ** 2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        dev = self.loc.device
        eps = Tensor.from_array(dev.randn(tuple(shape), self.loc.array.dtype), dev)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = as_param(value, self.loc)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - ops.log(self.scale) - math.log(
            math.sqrt(2 * math.pi))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + ops.log(self.scale)

    def cdf(self, value):
        value = as_param(value, self.loc)
        return 0.5 * (1 + ops.erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def __repr__(self):
        return f"Normal(loc: {self.loc}, scale: {self.scale})"


class Uniform(Distribution):
    """U[low, high)."""

    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        low = as_param(low, high if not hasattr(low, "array") else None)
        high = as_param(high, low)
        shape = _bshape(low, high)
        self.low, self.high = ops.broadcast_to(low, shape), ops.broadcast_to(high, shape)
        super().__init__(shape)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        dev = self.low.device
        u = Tensor.from_array(dev.rand(tuple(shape), self.low.array.dtype), dev)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        value = as_param(value, self.low)
        inside = ops.logical_and(value >= self.low, value < self.high)
        lp = -ops.log(self.high - self.low)
        return ops.where(inside, lp, lp * 0 - math.inf)

    def entropy(self):
        return ops.log(self.high - self.low)


class Bernoulli(ProbsMoments, Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = as_param(probs)
            p = ops.clamp(self.probs, 1e-7 if self.probs.dtype != "float64" else 1e-15,
                          1 - (1e-7 if self.probs.dtype != "float64" else 1e-15))
            self.logits = ops.log(p) - ops.log1p(-p)
        else:
            self.logits = as_param(logits)
            self.probs = ops.sigmoid(self.logits)
        super().__init__(self.probs.shape)

    def sample(self, sample_shape=()):
        from ..sampling import bernoulli
        shape = self._extended_shape(sample_shape)
        return bernoulli(ops.broadcast_to(self.probs.detach(), tuple(shape)))

    def log_prob(self, value):
        value = as_param(value, self.logits)
        from ..nn.functional import binary_cross_entropy_with_logits
        return -binary_cross_entropy_with_logits(self.logits, value, reduction="none")

    def entropy(self):
        from ..nn.functional import binary_cross_entropy_with_logits
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


def _bshape(a, b):
    sa, sb = tuple(a.shape), tuple(b.shape)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    return tuple(max(x, y) if min(x, y) != 0 else 0 for x, y in zip(sa, sb))
