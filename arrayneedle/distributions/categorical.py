"""Categorical and OneHotCategorical (``torch.distributions``): ``probs`` normalised along the
last dimension, ``logits`` as normalised log-probabilities."""
from __future__ import annotations

from .. import ops
from ..tensor import Tensor
from .distribution import Distribution, ProbsMoments, as_param

__all__ = ["Categorical", "OneHotCategorical"]


class Categorical(Distribution):
    """Indices 0..K-1 with probabilities ``probs`` (or ``softmax(logits)``) along the last
    dimension; the leading dimensions are the batch."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            p = as_param(probs)
            if p.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = p / ops.sum(p, dim=-1, keepdim=True)
            self.logits = ops.log(ops.clamp(self.probs, min=_tiny(self.probs)))
        else:
            lg = as_param(logits)
            if lg.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = lg - ops.logsumexp(lg, dim=-1, keepdim=True)
            self.probs = ops.softmax(self.logits, dim=-1)
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1])

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):  # undefined for categories, NaN as PyTorch
        return self.probs[..., 0] * float("nan")

    @property
    def mode(self):
        return ops.argmax(self.probs, dim=-1)

    @property
    def variance(self):
        return self.probs[..., 0] * float("nan")

    def sample(self, sample_shape=()):
        """Draws by inverse CDF on uniform numbers from the device's generator (int64)."""
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        dev = self.probs.device
        xp = dev.xp
        p = self.probs.detach().array
        cdf = xp.cumulative_sum(xp.reshape(p, (-1, self._num_events)), axis=1)
        cdf = cdf / cdf[:, -1:]
        n = 1
        for s in sample_shape:
            n *= int(s)
        u = dev.rand((n, cdf.shape[0]), "float64")
        idx = xp.sum(xp.astype(cdf[None, :, :] <= u[:, :, None], xp.int64), axis=2)
        idx = xp.minimum(idx, xp.asarray(self._num_events - 1, dtype=xp.int64))
        return Tensor.from_array(xp.reshape(idx, shape), dev)

    def log_prob(self, value):
        value = value if isinstance(value, Tensor) else Tensor(value)
        v = value.long()
        lg = self.logits
        if v.ndim > lg.ndim - 1:  # a sample shape in front: broadcast the logits
            lg = ops.broadcast_to(lg, tuple(v.shape) + (self._num_events,))
        else:
            v = ops.broadcast_to(v, tuple(lg.shape[:-1]))
        return ops.squeeze(ops.gather(lg, -1, ops.unsqueeze(v, -1)), -1)

    def entropy(self):
        logits = ops.clamp(self.logits, min=-_max(self.logits))
        return -ops.sum(logits * self.probs, dim=-1)

    def enumerate_support(self, expand=True):
        xp = self.probs.device.xp
        vals = xp.arange(self._num_events, dtype=xp.int64)
        vals = xp.reshape(vals, (-1,) + (1,) * len(self.batch_shape))
        if expand:
            vals = xp.broadcast_to(vals, (self._num_events,) + tuple(self.batch_shape))
        return Tensor.from_array(vals, self.probs.device)


class OneHotCategorical(ProbsMoments, Distribution):
    """A Categorical draw as a one-hot vector."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)
        self.probs, self.logits = self._categorical.probs, self._categorical.logits
        super().__init__(self._categorical.batch_shape, self.probs.shape[-1:])

    def sample(self, sample_shape=()):
        idx = self._categorical.sample(sample_shape)
        from ..nn.functional import one_hot
        return one_hot(idx, self.probs.shape[-1]).to(self.probs.dtype)

    def log_prob(self, value):
        return self._categorical.log_prob(ops.argmax(value, dim=-1))

    def entropy(self):
        return self._categorical.entropy()


def _tiny(t):
    from ..tensor_extras import finfo
    return finfo(t.dtype).tiny


def _max(t):
    from ..tensor_extras import finfo
    return finfo(t.dtype).max
