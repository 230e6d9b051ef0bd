"""linear with torch.nn.functional's signature."""
from __future__ import annotations

from ... import ops

__all__ = ["linear"]


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; ``weight`` is (out_features, in_features) as PyTorch."""
    if input.shape[-1:] != weight.shape[-1:]:
        raise ValueError(f"linear: the last dimension of input {input.shape} must equal "
                         f"in_features of weight {weight.shape}")
    w = weight if weight.ndim == 1 else ops.transpose(weight, 0, 1)
    out = ops.matmul(input, w)
    return out if bias is None else out + bias
