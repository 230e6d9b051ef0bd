"""linear with torch.nn.functional's signature."""
from __future__ import annotations

from ... import ops

__all__ = ["linear"]


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``; ``weight`` is (out_features, in_features) as PyTorch."""
    if input.shape[-1:] != weight.shape[-1:]:
        raise ValueError(f"linear: the last dimension of input {input.shape} must equal "
                         f"in_features of weight {weight.shape}")
    out_shape = weight.shape[:-1]
    if bias is not None and tuple(bias.shape) not in ((), (1,), tuple(out_shape)):
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not match "
                           f"out_features of weight {tuple(weight.shape)} (expected shape "
                           f"{tuple(out_shape)})")
    if weight.ndim == 1:
        out = ops.matmul(input, weight)
        return out if bias is None else out + bias
    # leading axes folded into one: NumPy's matmul of a 3-D array and a transposed 2-D weight
    # skips BLAS (a loop of small products), one 2-D matmul does not
    lead = input.shape[:-1]
    x = ops.reshape(input, (-1, input.shape[-1])) if len(lead) > 1 else input
    out = ops.matmul(x, ops.transpose(weight, 0, 1))
    if bias is not None:
        out = out + bias
    return ops.reshape(out, lead + (out.shape[-1],)) if len(lead) > 1 else out
