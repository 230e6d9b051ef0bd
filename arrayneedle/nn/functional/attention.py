"""Scaled dot-product attention with torch.nn.functional's signature and mask conventions."""
from __future__ import annotations

import math

from ... import ops
from ..._helpers import as_tensor
from ...autograd import Tensor

__all__ = ["scaled_dot_product_attention"]


def dropout_mask(x, p):
    """x with each element zeroed with probability p and the rest scaled by 1 / (1 - p)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if p == 0:
        return x
    dev = x.device
    keep = dev.rand(x.shape, x.dtype) >= p
    return x * Tensor._wrap(dev.xp.astype(keep, x.dtype) * (1.0 / (1 - p)), dev)


def _mask_array(mask, like):
    return mask.array if isinstance(mask, Tensor) else like.device.asarray(mask)


def additive_mask(mask, like, keep_where_true):
    """A mask as an additive float array of ``like``'s dtype: bool masks give 0 where kept and
    -inf elsewhere (True means keep for ``keep_where_true``, else True means masked out, as
    nn.MultiheadAttention's masks); float masks are used as they are."""
    xp = like.device.xp
    m = _mask_array(mask, like)
    if xp.isdtype(m.dtype, "bool"):
        keep = m if keep_where_true else xp.logical_not(m)
        zero = xp.asarray(0.0, dtype=like.dtype)
        return xp.where(keep, zero, xp.asarray(-math.inf, dtype=like.dtype))
    if not xp.isdtype(m.dtype, "real floating"):
        raise TypeError(f"attention masks must be bool or floating point, got dtype {m.dtype}")
    return xp.astype(m, like.dtype)


def causal_mask(n_query, n_key, like):
    """Additive mask keeping key j <= query i (top-left aligned, as PyTorch's is_causal)."""
    xp = like.device.xp
    keep = xp.arange(n_query)[:, None] >= xp.arange(n_key)[None, :]
    return xp.where(keep, xp.asarray(0.0, dtype=like.dtype),
                    xp.asarray(-math.inf, dtype=like.dtype))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(q k^T * scale + mask) v over (..., L, E) queries, (..., S, E) keys and
    (..., S, Ev) values.

    ``attn_mask`` broadcasts to (..., L, S): a bool mask keeps positions where it is True, a
    float mask is added to the scores. ``is_causal`` keeps key j <= query i (no ``attn_mask``
    with it). A query row with every key masked gives zeros, as PyTorch. ``dropout_p`` drops
    attention weights (pass 0.0 in evaluation, as with PyTorch's function).
    """
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: query, key and value need (..., L, E) "
                         f"shapes, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query {q.shape} and key {k.shape} need "
                         f"the same last dimension, key and value {v.shape} the same length")
    if enable_gqa:
        raise ValueError("scaled_dot_product_attention: enable_gqa=True (grouped-query "
                         "attention) is not supported; repeat the key/value heads instead")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give either attn_mask or is_causal, "
                         "not both")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = ops.matmul(q, ops.transpose(k)) * scale
    n_query, n_key = q.shape[-2], k.shape[-2]
    dead = None
    if is_causal:
        scores = scores + Tensor._wrap(causal_mask(n_query, n_key, scores), scores.device)
    elif attn_mask is not None:
        mask = additive_mask(attn_mask, scores, keep_where_true=True)
        scores = scores + Tensor._wrap(mask, scores.device)
        xp = scores.device.xp
        # rows with every key masked: softmax them as zeros (finite scores in, zeros out) so
        # neither the output nor the gradient turns into nan
        dead = xp.all(xp.isinf(scores.array) & (scores.array < 0), axis=-1, keepdims=True)
        scores = ops.where(dead, 0.0, scores)
    attn = ops.softmax(scores, axis=-1)
    if dead is not None:
        attn = ops.where(dead, 0.0, attn)
    if dropout_p:
        attn = dropout_mask(attn, dropout_p)
    return ops.matmul(attn, v)
