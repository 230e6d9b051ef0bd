"""The building blocks of diffusers' ``UNet2DModel``, with diffusers' attribute names (so a
``state_dict`` has the keys of ``diffusion_pytorch_model.safetensors``) and its arithmetic.

Each class mirrors the diffusers class of the same name (``models/resnet.py``,
``models/attention_processor.py``, ``models/downsampling.py``, ``models/upsampling.py``,
``models/embeddings.py``, ``models/unets/unet_2d_blocks.py``), reduced to what ``UNet2DModel``
builds: pre-norm residual blocks, the self-attention of ``_from_deprecated_attn_block``, and
convolutional down/up sampling.
"""
from __future__ import annotations

import math

import numpy as np

import arrayneedle.nn.functional as F
from arrayneedle import nn, ops
from arrayneedle.autograd import Tensor

from ..unet import norm_silu

__all__ = ["ACTIVATIONS", "timestep_embedding", "Timesteps", "TimestepEmbedding",
           "ResnetBlock2D", "Attention", "Downsample2D", "Upsample2D", "DownBlock2D",
           "AttnDownBlock2D", "UpBlock2D", "AttnUpBlock2D", "UNetMidBlock2D"]

# diffusers' get_activation names
ACTIVATIONS = {"swish": ops.silu, "silu": ops.silu, "mish": F.mish, "gelu": F.gelu,
               "relu": ops.relu}


def activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unsupported act_fn {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def timestep_embedding(t, dim, flip_sin_to_cos, shift, max_period=10000):
    """diffusers' ``get_timestep_embedding``: (B, dim) of [sin(t f_k), cos(t f_k)] (or cos
    first) with f_k = max_period^(-k / (dim/2 - shift)), computed in float32 as diffusers
    does. ``t``: a (B,) Tensor of (possibly fractional) timesteps; no gradient flows."""
    dev = t.device
    xp = dev.xp
    half = dim // 2
    exponent = np.float32(-math.log(max_period)) * np.arange(half, dtype=np.float32)
    freqs = np.exp(exponent / np.float32(half - shift)).astype(np.float32)
    args = xp.astype(t.array, xp.float32)[:, None] * dev.asarray(freqs)[None, :]
    parts = (xp.cos(args), xp.sin(args)) if flip_sin_to_cos else (xp.sin(args), xp.cos(args))
    emb = xp.concat(parts, axis=-1)
    if dim % 2:
        emb = xp.concat((emb, xp.zeros((emb.shape[0], 1), dtype=emb.dtype)), axis=-1)
    return Tensor.from_array(emb, dev)


class Timesteps(nn.Module):
    """No parameters: the sinusoidal embedding of the timesteps (``time_proj``)."""

    def __init__(self, num_channels, flip_sin_to_cos, downscale_freq_shift):
        super().__init__()
        self.num_channels, self.flip_sin_to_cos = int(num_channels), bool(flip_sin_to_cos)
        self.downscale_freq_shift = float(downscale_freq_shift)
        if self.num_channels // 2 - self.downscale_freq_shift == 0:
            raise ValueError(f"freq_shift {downscale_freq_shift} equals half the embedding width "
                             f"{self.num_channels}: the frequencies divide by zero")

    def forward(self, timesteps):
        return timestep_embedding(timesteps, self.num_channels, self.flip_sin_to_cos,
                                  self.downscale_freq_shift)


class TimestepEmbedding(nn.Module):
    """linear_1 -> act -> linear_2."""

    def __init__(self, in_channels, time_embed_dim, act_fn="silu"):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)
        self.act_fn = act_fn
        self._act = activation(act_fn)

    def forward(self, sample):
        return self.linear_2(self._act(self.linear_1(sample)))


class ResnetBlock2D(nn.Module):
    """GroupNorm -> act -> conv3x3, + time_emb_proj(act(temb)) (``"default"``) or a scale and
    shift after norm2 (``"scale_shift"``), GroupNorm -> act -> dropout -> conv3x3, plus the input
    (through the 1x1 ``conv_shortcut`` when the width changes), divided by
    ``output_scale_factor``."""

    def __init__(self, in_channels, out_channels, temb_channels, eps, groups, dropout,
                 time_embedding_norm, act_fn, output_scale_factor=1.0):
        super().__init__()
        if time_embedding_norm not in ("default", "scale_shift"):
            raise ValueError(f"unsupported resnet_time_scale_shift {time_embedding_norm!r}; "
                             f"choose default or scale_shift")
        self.out_channels, self.time_embedding_norm = out_channels, time_embedding_norm
        self.output_scale_factor = float(output_scale_factor)
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        proj = 2 * out_channels if time_embedding_norm == "scale_shift" else out_channels
        self.time_emb_proj = nn.Linear(temb_channels, proj)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) \
            if in_channels != out_channels else None
        self._act = activation(act_fn)

    def _norm_act(self, norm, x):
        """``act(norm(x))``: one fused op for SiLU (``norm_silu``)."""
        return norm_silu(norm, x) if self._act is ops.silu else self._act(norm(x))

    def forward(self, input_tensor, temb):
        act = self._act
        h = self.conv1(self._norm_act(self.norm1, input_tensor))
        b = input_tensor.shape[0]
        t = self.time_emb_proj(act(temb))
        if self.time_embedding_norm == "default":
            h = self._norm_act(self.norm2, h + ops.reshape(t, (b, self.out_channels, 1, 1)))
        else:
            t = ops.reshape(t, (b, 2, self.out_channels, 1, 1))
            h = act(self.norm2(h) * (t[:, 0, ...] + 1.0) + t[:, 1, ...])
        h = self.conv2(self.dropout(h))
        x = input_tensor if self.conv_shortcut is None else self.conv_shortcut(input_tensor)
        out = x + h
        return out if self.output_scale_factor == 1.0 else out * (1.0 / self.output_scale_factor)


class Attention(nn.Module):
    """Self-attention over the H*W positions with a residual connection, as diffusers'
    ``Attention(..., residual_connection=True, _from_deprecated_attn_block=True)``: optional
    ``group_norm``, ``to_q`` / ``to_k`` / ``to_v`` (with bias), ``heads`` heads of ``dim_head``,
    softmax(q k^T / sqrt(dim_head)) v, ``to_out[0]``; (out + x) / ``rescale_output_factor``.

    The projections are applied by matmul to the (B, C, H*W) view (one matmul for q, k, v)."""

    def __init__(self, query_dim, heads, dim_head, norm_num_groups, eps,
                 rescale_output_factor=1.0):
        super().__init__()
        inner = heads * dim_head
        if heads < 1:
            raise ValueError(f"attention_head_dim {dim_head} is wider than the {query_dim} "
                             f"channels it attends over")
        self.heads, self.dim_head, self.inner = heads, dim_head, inner
        self.rescale_output_factor = float(rescale_output_factor)
        self.group_norm = None if norm_num_groups is None else \
            nn.GroupNorm(norm_num_groups, query_dim, eps=eps)
        self.to_q = nn.Linear(query_dim, inner)
        self.to_k = nn.Linear(query_dim, inner)
        self.to_v = nn.Linear(query_dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])

    def forward(self, x):
        b, c, h, w = x.shape
        n, nh, d = h * w, self.heads, self.dim_head
        y = x if self.group_norm is None else self.group_norm(x)
        y = ops.reshape(y, (b, c, n))
        wqkv = ops.concat((self.to_q.weight, self.to_k.weight, self.to_v.weight), axis=0)
        bqkv = ops.concat((self.to_q.bias, self.to_k.bias, self.to_v.bias), axis=0)
        qkv = ops.matmul(wqkv, y) + ops.reshape(bqkv, (3 * self.inner, 1))   # (B, 3 inner, N)
        qkv = ops.reshape(qkv, (b, 3, nh, d, n))
        q, k, v = qkv[:, 0, ...], qkv[:, 1, ...], qkv[:, 2, ...]           # (B, heads, d, N)
        sim = ops.matmul(ops.transpose(q * (1.0 / math.sqrt(d))), k)       # (B, heads, N, N)
        attn = ops.softmax(sim, axis=-1)
        out = ops.matmul(v, ops.transpose(attn))                           # (B, heads, d, N)
        proj = self.to_out[0]
        out = ops.matmul(proj.weight, ops.reshape(out, (b, self.inner, n))) \
            + ops.reshape(proj.bias, (c, 1))
        out = ops.reshape(out, (b, c, h, w)) + x
        if self.rescale_output_factor != 1.0:
            out = out * (1.0 / self.rescale_output_factor)
        return out


class Downsample2D(nn.Module):
    """A 3x3 stride-2 convolution (``conv``); with ``padding=0`` the input is first padded by
    one row and column on the bottom and right, as diffusers does."""

    def __init__(self, channels, padding):
        super().__init__()
        self.padding = int(padding)
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=self.padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    """Nearest-neighbour x2 (a broadcast, no gather), then a 3x3 convolution (``conv``)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        b, c, h, w = x.shape
        x = ops.broadcast_to(ops.reshape(x, (b, c, h, 1, w, 1)), (b, c, h, 2, w, 2))
        return self.conv(ops.reshape(x, (b, c, 2 * h, 2 * w)))


def _attention(channels, head_dim, groups, eps, scale=1.0):
    head_dim = channels if head_dim is None else head_dim
    return Attention(channels, channels // head_dim, head_dim, groups, eps, scale)


class DownBlock2D(nn.Module):
    """``num_layers`` residual blocks [each followed by attention], then [the downsampler].
    Returns the output and the tuple of states the up path takes as skips."""

    def __init__(self, in_channels, out_channels, temb_channels, num_layers, add_downsample,
                 resnet, attention_head_dim=None, downsample_padding=1, with_attention=False):
        super().__init__()
        self.resnets = nn.ModuleList([
            ResnetBlock2D(in_channels if i == 0 else out_channels, out_channels, temb_channels,
                          **resnet) for i in range(num_layers)])
        if with_attention:
            self.attentions = nn.ModuleList([
                _attention(out_channels, attention_head_dim, resnet["groups"], resnet["eps"])
                for _ in range(num_layers)])
        self.downsamplers = nn.ModuleList([Downsample2D(out_channels, downsample_padding)]) \
            if add_downsample else None

    def forward(self, x, temb):
        states = []
        attns = self.attentions if hasattr(self, "attentions") else [None] * len(self.resnets)
        for resnet, attn in zip(self.resnets, attns):
            x = resnet(x, temb)
            if attn is not None:
                x = attn(x)
            states.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            states.append(x)
        return x, states


class AttnDownBlock2D(DownBlock2D):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, with_attention=True, **kwargs)


class UpBlock2D(nn.Module):
    """``num_layers`` residual blocks, each on (x, the next skip) concatenated [and followed by
    attention], then [the upsampler]."""

    def __init__(self, in_channels, prev_output_channel, out_channels, temb_channels,
                 num_layers, add_upsample, resnet, attention_head_dim=None,
                 with_attention=False):
        super().__init__()
        blocks = []
        for i in range(num_layers):
            skip = in_channels if i == num_layers - 1 else out_channels
            first = prev_output_channel if i == 0 else out_channels
            blocks.append(ResnetBlock2D(first + skip, out_channels, temb_channels, **resnet))
        self.resnets = nn.ModuleList(blocks)
        if with_attention:
            self.attentions = nn.ModuleList([
                _attention(out_channels, attention_head_dim, resnet["groups"], resnet["eps"])
                for _ in range(num_layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels)]) if add_upsample else None

    def forward(self, x, skips, temb):
        attns = self.attentions if hasattr(self, "attentions") else [None] * len(self.resnets)
        for resnet, attn in zip(self.resnets, attns):
            x = resnet(ops.concat((x, skips.pop()), axis=1), temb)
            if attn is not None:
                x = attn(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class AttnUpBlock2D(UpBlock2D):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, with_attention=True, **kwargs)


class UNetMidBlock2D(nn.Module):
    """resnets[0], [attentions[0]], resnets[1], all with ``output_scale_factor``; the attention
    has no group norm when ``resnet_time_scale_shift`` is scale_shift and ``attn_groups`` is
    unset (diffusers' rule)."""

    def __init__(self, channels, temb_channels, resnet, attention_head_dim, attn_groups,
                 add_attention, output_scale_factor):
        super().__init__()
        r = dict(resnet, output_scale_factor=output_scale_factor)
        if attn_groups is None and r["time_embedding_norm"] == "default":
            attn_groups = r["groups"]
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb_channels, **r)
                                      for _ in range(2)])
        self.attentions = nn.ModuleList([
            _attention(channels, attention_head_dim, attn_groups, r["eps"],
                       output_scale_factor)]) if add_attention else None

    def forward(self, x, temb):
        x = self.resnets[0](x, temb)
        if self.attentions is not None:
            x = self.attentions[0](x)
        return self.resnets[1](x, temb)
