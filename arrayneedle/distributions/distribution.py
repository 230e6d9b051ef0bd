"""The Distribution base class (``torch.distributions.Distribution``)."""
from __future__ import annotations

from ..tensor import Size, Tensor

__all__ = ["Distribution", "ProbsMoments"]


def as_param(x, like=None):
    """A parameter as a float Tensor (numbers take the dtype and device of ``like``)."""
    if isinstance(x, Tensor):
        return x if x.is_floating_point() else x.float()
    if like is not None:
        return Tensor(like.device.xp.full((), float(x), dtype=like.array.dtype),
                      device=like.device)
    return Tensor(float(x))


class Distribution:
    """Batch and event shapes, ``sample`` (no gradient) from ``rsample`` where one exists,
    and the common properties."""

    has_rsample = False
    arg_constraints: dict = {}

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    def _extended_shape(self, sample_shape=()):
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def sample(self, sample_shape=()):
        return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()):
        raise RuntimeError(f"{type(self).__name__} has no reparameterized sampler "
                           f"(rsample); use sample()")

    def sample_n(self, n):
        return self.sample((n,))

    @property
    def stddev(self):
        return self.variance ** 0.5

    def perplexity(self):
        from .. import ops
        return ops.exp(self.entropy())

    def __repr__(self):
        return f"{type(self).__name__}()"


class ProbsMoments:
    """Mean ``probs`` and variance ``probs * (1 - probs)``: a Bernoulli draw, and each entry
    of a one-hot categorical draw."""

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)
