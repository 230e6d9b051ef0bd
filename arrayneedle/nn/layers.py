"""Layers with PyTorch's names, argument orders, parameter layouts and default initialisation."""
from __future__ import annotations

import math
import numbers
from collections import OrderedDict

from .. import init, ops
from ..autograd import Tensor
from ..backend import device as _device, get_dtype
from .functional.linear import linear
from .module import Module, zeros_parameter
from .sparse import Embedding  # noqa: F401 (exported here too)

__all__ = ["Identity", "Linear", "Flatten", "Sequential", "Residual", "Dropout", "BatchNorm1d",
           "BatchNorm2d", "LayerNorm", "GroupNorm", "Embedding"]


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ W.T + b, W of shape (out_features, in_features) as PyTorch."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype="float32"):
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(n, bool) or not isinstance(n, numbers.Integral):
                raise TypeError(f"Linear: {name} must be an int, got {n!r}")
            if n < 0:
                raise RuntimeError(f"Linear: {name} must be non-negative, got {n}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = zeros_parameter((out_features, in_features), device, dtype)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            self.bias = zeros_parameter((out_features,), device, dtype)
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input with last dimension {self.in_features}, "
                             f"got shape {x.shape}")
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)


class Sequential(Module):
    """Modules applied in order, as ``torch.nn.Sequential``: ``Sequential(m0, m1, ...)``
    registers them as "0", "1"...; ``Sequential(OrderedDict(name=module, ...))`` under those
    names (state_dict keys "name.weight"...). Indexing by position, slicing (a Sequential),
    ``len``, iteration and ``append`` as PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: {name!r} is a {type(m).__name__}, expected a Module")
        object.__setattr__(self, "_names", [str(n) for n, _ in items])
        self.layers = [m for _, m in items]

    def _items(self):  # keys "0.weight" (or the OrderedDict's names), as torch.nn.Sequential
        return list(zip(self._names, self.layers))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(zip(self._names[i], self.layers[i])))
        return self.layers[i]

    def __setitem__(self, i, module):
        self.layers[i] = module

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def append(self, module):
        """Add ``module`` at the end (named by its position); returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append expects a Module, got {type(module).__name__}")
        self._names.append(str(len(self.layers)))
        self.layers.append(module)
        return self

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x


class Residual(Module):
    """x + fn(x)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return x + self.fn(x)


class Dropout(Module):
    """Zeroes elements with probability p in training and scales the rest by 1/(1-p)."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        dev = x.device
        keep = dev.rand(x.shape, x.dtype) >= self.p
        scale = dev.xp.astype(keep, x.dtype) * (1.0 / (1 - self.p))
        return x * Tensor.from_array(scale, dev)

    def extra_repr(self):
        return f"p={self.p}"


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


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, device=None,
                 dtype="float32"):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = init.ones_(zeros_parameter(self.normalized_shape, device, dtype))
            self.bias = zeros_parameter(self.normalized_shape, device, dtype)

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.shape[-k:] != self.normalized_shape:
            raise ValueError(f"LayerNorm: expected trailing dimensions {self.normalized_shape}, "
                             f"got shape {x.shape}")
        return ops.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype="float32"):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = self.bias = None
        if affine:
            self.weight = init.ones_(zeros_parameter((num_channels,), device, dtype))
            self.bias = zeros_parameter((num_channels,), device, dtype)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, ...), "
                             f"got shape {x.shape}")
        return ops.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"
