"""InstanceNorm1d/2d with PyTorch's names, arguments, state_dict keys and repr."""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import ops
from . import init
from ..autograd import Tensor
from ..backend import device as _device, get_dtype
from .module import Module, zeros_parameter

__all__ = ["InstanceNorm1d", "InstanceNorm2d"]


class _InstanceNorm(Module):
    _ndim = 4

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype="float32", *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = self.bias = None
        if affine:
            self.weight = init.ones_(zeros_parameter((self.num_features,), device, dtype))
            if bias:
                self.bias = zeros_parameter((self.num_features,), device, dtype)
        if track_running_stats:
            dev = _device(device)
            xp, dt = dev.xp, get_dtype(dev.xp, dtype)
            self.register_buffer("running_mean", Tensor._wrap(
                xp.zeros((self.num_features,), dtype=dt), dev))
            self.register_buffer("running_var", Tensor._wrap(
                xp.ones((self.num_features,), dtype=dt), dev))
            self.register_buffer("num_batches_tracked", Tensor._wrap(
                xp.zeros((), dtype=xp.int64), dev))

    def _update_running(self, x):
        """PyTorch's update: the batch average of each instance's mean and unbiased
        variance (``num_batches_tracked`` stays 0, as in PyTorch's InstanceNorm)."""
        xp = array_namespace(x)
        N, C = x.shape[:2]
        flat = xp.reshape(x, (N, C, -1))
        n = flat.shape[-1]
        mean = xp.mean(xp.mean(flat, axis=-1), axis=0)
        var = xp.mean(xp.var(flat, axis=-1, correction=1 if n > 1 else 0), axis=0)
        m = self.momentum
        self.running_mean.array = (1 - m) * self.running_mean.array + m * mean
        self.running_var.array = (1 - m) * self.running_var.array + m * var

    def forward(self, x):
        nd = self._ndim
        if x.ndim not in (nd - 1, nd):
            raise ValueError(f"{type(self).__name__}: expected a {nd}-D (batched) or "
                             f"{nd - 1}-D (unbatched) input, got shape {x.shape}")
        if x.ndim == nd - 1:
            return ops.squeeze(self.forward(ops.unsqueeze(x, 0)), 0)
        if (self.affine or self.track_running_stats) and x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels in "
                             f"dim 1, got shape {x.shape}")
        both = self.weight is not None and self.bias is not None
        w, b = (self.weight, self.bias) if both else (None, None)
        if self.track_running_stats and not self.training:
            y = ops.batch_norm(x, self.running_mean, self.running_var, w, b, training=False,
                               eps=self.eps)
        else:
            if self.track_running_stats:
                self._update_running(x.array)
            y = ops.group_norm(x, x.shape[1], w, b, self.eps)
        if self.weight is not None and not both:  # affine=True with bias=False
            y = y * ops.reshape(self.weight, (-1,) + (1,) * (x.ndim - 2))
        return y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalise each (sample, channel) of (N, C, L) over L."""
    _ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """Normalise each (sample, channel) of (N, C, H, W) over H and W; running statistics
    (``track_running_stats``) are used in eval mode, as PyTorch."""
    _ndim = 4
