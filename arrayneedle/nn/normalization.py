"""LayerNorm and GroupNorm with PyTorch's names, arguments, state_dict keys and repr."""
from __future__ import annotations

from .. import ops
from . import init
from .module import Module, zeros_parameter

__all__ = ["LayerNorm", "GroupNorm"]


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype="float32"):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = init.ones_(zeros_parameter(self.normalized_shape, device, dtype))
            if bias:  # bias=False: a scale only (PyTorch 2.1+)
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
