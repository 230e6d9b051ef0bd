"""nn.RMSNorm (PyTorch 2.4+): ``x / sqrt(mean(x^2 over the normalized dims) + eps) * weight``."""
from __future__ import annotations

from .. import ops
from . import init
from ..tensor_extras import finfo
from .module import Module, zeros_parameter

__all__ = ["RMSNorm", "rms_norm"]


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions;
    ``eps`` defaults to the machine epsilon of the input's dtype, as PyTorch."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    k = len(normalized_shape)
    if tuple(input.shape[-k:]) != tuple(normalized_shape):
        raise RuntimeError(f"rms_norm: expected trailing dimensions {tuple(normalized_shape)}, "
                           f"got shape {tuple(input.shape)}")
    eps = finfo(input.dtype).eps if eps is None else eps
    dims = tuple(range(-k, 0))
    out = input * ops.rsqrt(ops.mean(input * input, dim=dims, keepdim=True) + eps)
    return out * weight if weight is not None else out


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None,
                 dtype="float32"):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        self.weight = None
        if elementwise_affine:
            self.weight = init.ones_(zeros_parameter(self.normalized_shape, device, dtype))

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
