"""Batch normalisation with PyTorch's names, arguments, state_dict keys and repr: BatchNorm1d,
BatchNorm2d, and SyncBatchNorm.

SyncBatchNorm is BatchNorm whose training statistics cover the whole global batch, i.e. the
batches of every rank together (PyTorch's ``nn.SyncBatchNorm``).

Forward: each rank's per-channel count, mean and centred sum of squares are gathered (one
collective) and combined in rank order on every rank (Chan's parallel formula: exact and
stable), so all ranks normalise with the same statistics and keep the same running ones.
Backward: the input gradient needs the global sums of g and g * (x - mean) (one all-reduce);
weight and bias get their local gradients, which DistributedDataParallel then averages.
Without a process group, or with one process, the collectives are skipped.
"""
from __future__ import annotations

from array_api_compat import array_namespace

from .. import distributed as dist, kernels, ops
from . import init
from .._helpers import wrap_grads
from ..autograd import Function, Tensor, is_grad_enabled
from ..backend import device as _device, device_of, get_dtype
from ..ops.norm import batch_norm_graph_grads, batch_norm_input_grad
from .module import Module, zeros_parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm"]


class _BatchNorm(Module):
    _input_ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype="float32"):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = init.ones_(zeros_parameter((num_features,), device, dtype))
            self.bias = zeros_parameter((num_features,), device, dtype)
        else:
            self.weight = self.bias = None
        dev = _device(device)
        xp = dev.xp
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(xp.zeros((num_features,),
                                 dtype=get_dtype(xp, dtype)), device=dev))
            self.register_buffer("running_var", Tensor(xp.ones((num_features,),
                                 dtype=get_dtype(xp, dtype)), device=dev))
            self.register_buffer("num_batches_tracked", Tensor(xp.zeros((), dtype=xp.int64),
                                 device=dev))

    def forward(self, x):
        if x.ndim not in self._input_ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected a {self._input_ndims[-1]}-D input "
                             f"with {self.num_features} channels in dim 1, got shape {x.shape}")
        track = self.track_running_stats
        w, b = (self.weight, self.bias) if self.affine else (None, None)
        rm, rv = (self.running_mean, self.running_var) if track else (None, None)
        y = ops.batch_norm(x, rm, rv, w, b, training=self.training or not track,
                           momentum=self.momentum, eps=self.eps)
        if self.training and track:
            self.num_batches_tracked.array = self.num_batches_tracked.array + 1
        return y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


class BatchNorm1d(_BatchNorm):
    """BatchNorm over (N, C) or (N, C, L) inputs."""
    _input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """BatchNorm over (N, C, H, W) inputs, with running statistics for eval mode."""
    _input_ndims = (4,)


def _world():
    return dist.get_world_size() if dist.is_initialized() else 1


def _global_moments(x):
    """Per-channel mean and population variance over every rank's ``x`` (N, C, ...), the
    centred ``x - mean`` and the global count per channel."""
    xp = array_namespace(x)
    C = x.shape[1]
    n = x.size // C if C else 0
    mean = kernels.channel_sum(x) / max(n, 1)
    d = kernels.channel_affine(x, center=mean)
    m2 = kernels.channel_dot(d, d)
    W = _world()
    if W == 1:
        return mean, m2 / max(n, 1), d, n
    dev = device_of(x)
    local = Tensor._wrap(xp.concat([xp.full((1,), float(n), dtype=x.dtype), mean, m2]), dev)
    parts = [Tensor._wrap(xp.empty_like(local.array), dev) for _ in range(W)]
    dist.all_gather(parts, local)
    stats = xp.stack([p.array for p in parts])                       # (W, 1 + 2C)
    counts, means, m2s = stats[:, :1], stats[:, 1:C + 1], stats[:, C + 1:]
    total = xp.sum(counts)
    gmean = xp.sum(means * counts, axis=0) / total
    dm = means - gmean
    var = (xp.sum(m2s, axis=0) + xp.sum(dm * dm * counts, axis=0)) / total
    d = kernels.channel_affine(d, None, mean - gmean)               # x - global mean
    return gmean, var, d, int(round(float(total)))


class _SyncBatchNormFn(Function):
    """y = (x - mean) * inv_std * weight + bias with global statistics. Inputs: x, then
    optionally weight and bias; params ``centered``, ``inv_std``, ``count`` (global), ``eps``.

    Under create_graph in one process the gradients are batch norm's differentiable ones;
    across processes the statistics' second derivatives would need collectives inside the
    recorded graph, which is refused with an error (as a once-differentiable op)."""

    def forward(self, x, *affine, centered, inv_std, count, eps):
        w = affine[0] if affine else None
        scale = inv_std if w is None else w * inv_std
        self.d, self.inv_std, self.w, self.count, self.eps = centered, inv_std, w, count, eps
        return kernels.channel_affine(centered, scale, affine[1] if affine else None)

    def backward(self, g):
        if is_grad_enabled():
            if _world() > 1:
                raise RuntimeError("SyncBatchNorm: gradients of gradients (create_graph=True) "
                                   "across several processes are not supported; use "
                                   "BatchNorm2d for double backward, or create_graph=False")
            return batch_norm_graph_grads(g, self.parents, self.needs_input_grad, self.eps)
        return wrap_grads(self._grads(array_namespace(g.array), g.array), g.device)

    def _grads(self, xp, g):
        need = self.needs_input_grad
        d, s, w, n = self.d, self.inv_std, self.w, self.count
        gsum = kernels.channel_sum(g)       # local sum(g)
        gd = kernels.channel_dot(g, d)      # local sum(g * (x - mean))
        gx = None
        if need[0]:
            tsum, tgd = gsum, gd
            if _world() > 1:
                C = gsum.shape[0]
                both = Tensor._wrap(xp.concat([gsum, gd]), device_of(g))
                dist.all_reduce(both, dist.ReduceOp.SUM)
                tsum, tgd = both.array[:C], both.array[C:]
            gx = batch_norm_input_grad(g, d, s, w, tsum, tgd, n)
        if w is None:
            return gx
        return gx, (gd * s if need[1] else None), (gsum if need[2] else None)


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs whose training statistics are those of the global
    batch (all ranks of the default process group). Eval mode uses the running statistics,
    as BatchNorm does."""
    _input_ndims = (2, 3, 4, 5, 6)

    def forward(self, x):
        if x.ndim not in self._input_ndims or x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected an (N, {self.num_features}, ...) input "
                             f"of 2 to 6 dimensions, got shape {x.shape}")
        if not self.training and self.track_running_stats:
            return super().forward(x)
        xp = x.device.xp
        mean, var, d, n = _global_moments(x.array)
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        params = (self.weight, self.bias) if self.affine else ()
        y = _SyncBatchNormFn.apply(x, *params, centered=d, inv_std=inv_std, count=n,
                                   eps=self.eps)
        if self.training and self.track_running_stats:
            m = self.momentum
            rm, rv = self.running_mean, self.running_var
            rm.array = rm.array * (1 - m) + mean * m
            rv.array = rv.array * (1 - m) + var * (n / max(n - 1, 1)) * m
            self.num_batches_tracked.array = self.num_batches_tracked.array + 1
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm layer (at any depth) replaced by a SyncBatchNorm
        holding the same parameters and buffers (PyTorch's helper)."""
        if process_group is not None:
            raise ValueError("convert_sync_batchnorm: only the default process group exists "
                             "here; pass process_group=None")
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            new = cls.__new__(cls)
            Module.__init__(new)
            for k, v in module.__dict__.items():
                object.__setattr__(new, k, v)
            return new
        if isinstance(module, Module):
            for k, v in list(module.__dict__.items()):
                if not k.startswith("_") or k == "_entries":  # containers keep theirs there
                    nv = _convert_value(cls, v)
                    if nv is not v:
                        object.__setattr__(module, k, nv)
        return module


def _convert_value(cls, v):
    """``v`` with BatchNorms converted; lists and dicts of modules are updated in place."""
    if isinstance(v, Module):
        return cls.convert_sync_batchnorm(v)
    if isinstance(v, list):
        v[:] = [_convert_value(cls, x) for x in v]
    elif isinstance(v, dict):
        for k in list(v):
            v[k] = _convert_value(cls, v[k])
    elif isinstance(v, tuple):
        new = tuple(_convert_value(cls, x) for x in v)
        return v if all(a is b for a, b in zip(new, v)) else new
    return v
