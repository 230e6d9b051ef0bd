"""nn.MultiheadAttention with PyTorch's parameters, state_dict keys, masks and return values."""
from __future__ import annotations

import math

from .. import ops
from . import init
from ..autograd import Tensor
from .functional.attention import additive_mask, dropout_mask
from .functional.linear import linear
from .linear import Linear
from .module import Module, zeros_parameter

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of ``embed_dim // num_heads`` features.

    Parameters as PyTorch: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) when keys and
    values have ``embed_dim`` features, else ``q_proj_weight``/``k_proj_weight``/
    ``v_proj_weight``; ``out_proj`` a Linear(E, E). Inputs are (L, N, E) (``batch_first``:
    (N, L, E)) or unbatched (L, E).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype="float32"):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise ValueError("MultiheadAttention: add_bias_kv and add_zero_attn are not "
                             "supported; pass False")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.batch_first, self.head_dim = batch_first, embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = init.xavier_uniform_(zeros_parameter((3 * E, E), device, dtype))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = init.xavier_uniform_(zeros_parameter((E, E), device, dtype))
            self.k_proj_weight = init.xavier_uniform_(
                zeros_parameter((E, self.kdim), device, dtype))
            self.v_proj_weight = init.xavier_uniform_(
                zeros_parameter((E, self.vdim), device, dtype))
        self.in_proj_bias = zeros_parameter((3 * E,), device, dtype) if bias else None
        self.out_proj = Linear(E, E, bias=bias, device=device, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _project(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None,) * 3 if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one matmul for q, k and v
                qkv = linear(query, w, b)
                return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
            wq, wk, wv = w[:E, :], w[E:2 * E, :], w[2 * E:, :]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """Returns (attn_output, attn_weights): weights (N, L, S) averaged over heads (or
        (N, heads, L, S)), None unless ``need_weights``. Bool masks: True means *not* allowed
        to attend; float masks are added to the scores. ``is_causal`` is a hint that
        ``attn_mask`` is the causal mask, as PyTorch (it needs ``attn_mask``)."""
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint and needs attn_mask "
                             "(the causal mask) too")
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (ops.unsqueeze(t, 1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _unsqueeze0(key_padding_mask)
        elif self.batch_first:
            same_kv = key is value
            same_qk = query is key
            query = ops.transpose(query, 0, 1)
            key = query if same_qk else ops.transpose(key, 0, 1)
            value = key if same_kv else ops.transpose(value, 0, 1)
        if query.ndim != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(f"MultiheadAttention: expected query (L, N, {self.embed_dim}) "
                             f"(or (N, L, E) with batch_first, or (L, E)), got {query.shape}")
        if key.shape[:2] != value.shape[:2] or key.shape[1] != query.shape[1]:
            raise ValueError(f"MultiheadAttention: key {key.shape} and value {value.shape} "
                             f"must share length and batch with query {query.shape}")
        L, N, E = query.shape
        S, H, hd = key.shape[0], self.num_heads, self.head_dim
        q, k, v = self._project(query, key, value)
        # (L, N, E) -> (N, H, L, hd)
        q = ops.permute(ops.reshape(q, (L, N, H, hd)), (1, 2, 0, 3))
        k = ops.permute(ops.reshape(k, (S, N, H, hd)), (1, 2, 0, 3))
        v = ops.permute(ops.reshape(v, (S, N, H, hd)), (1, 2, 0, 3))
        scores = ops.matmul(q * (1.0 / math.sqrt(hd)), ops.transpose(k))  # (N, H, L, S)
        mask = self._merged_mask(attn_mask, key_padding_mask, scores, N, L, S)
        if mask is not None:
            scores = scores + Tensor._wrap(mask, scores.device)
        attn = ops.softmax(scores, axis=-1)
        if self.training and self.dropout > 0:
            attn = dropout_mask(attn, self.dropout)
        out = ops.matmul(attn, v)  # (N, H, L, hd)
        out = ops.reshape(ops.permute(out, (2, 0, 1, 3)), (L, N, E))
        out = linear(out, self.out_proj.weight, self.out_proj.bias)
        if unbatched:
            out = ops.squeeze(out, axis=1)
        elif self.batch_first:
            out = ops.transpose(out, 0, 1)
        if not need_weights:
            return out, None
        weights = ops.mean(attn, axis=1) if average_attn_weights else attn
        if unbatched:
            weights = ops.squeeze(weights, axis=0)
        return out, weights

    def _merged_mask(self, attn_mask, key_padding_mask, like, N, L, S):
        xp = like.device.xp
        mask = None
        if attn_mask is not None:
            m = additive_mask(attn_mask, like, keep_where_true=False)
            if m.ndim == 3:  # (N * H, L, S)
                if tuple(m.shape) != (N * self.num_heads, L, S):
                    raise ValueError(f"MultiheadAttention: a 3-D attn_mask must be "
                                     f"{(N * self.num_heads, L, S)}, got {tuple(m.shape)}")
                m = xp.reshape(m, (N, self.num_heads, L, S))
            elif tuple(m.shape) != (L, S):
                raise ValueError(f"MultiheadAttention: attn_mask must be {(L, S)} or "
                                 f"{(N * self.num_heads, L, S)}, got {tuple(m.shape)}")
            mask = m
        if key_padding_mask is not None:
            kp = additive_mask(key_padding_mask, like, keep_where_true=False)
            if tuple(kp.shape) != (N, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be {(N, S)}, got "
                                 f"{tuple(kp.shape)}")
            kp = xp.reshape(kp, (N, 1, 1, S))
            mask = kp if mask is None else mask + kp
        return mask

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


def _unsqueeze0(mask):
    if isinstance(mask, Tensor):
        return ops.unsqueeze(mask, 0)
    return mask[None]

from .sdpa import SDPBackend, sdpa_kernel  # noqa: E402,F401  (torch.nn.attention's names)
