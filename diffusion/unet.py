"""Noise-prediction networks: ``SimpleUnet`` (the original project's) and ``Unet`` (improved DDPM).

Both are called as ``model(x, t)`` with images ``x`` (B, C, H, W) and integer timesteps ``t`` (B,)
and return a tensor of the shape of ``x``. H and W must be divisible by the model's
``downsampling_factor``.
"""
from __future__ import annotations

import math

import numpy as np

from arrayneedle import nn, ops
from arrayneedle.autograd import Tensor
from arrayneedle.compat import renamed_argument

__all__ = ["SinusoidalPosEmb", "Block", "SimpleUnet", "ResBlock", "Attention", "Unet"]


def _widths(name, widths, channels, default):
    """The layer widths as a tuple of ints; ``channels`` is their older keyword name
    (deprecated: ``arrayneedle.compat``)."""
    w = renamed_argument(name, "channels", "widths", channels, widths, stacklevel=3)
    return tuple(int(c) for c in (default if w is None else w))


def _check_input(name, x, t, in_channels, factor):
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"{name}: expected images of shape (B, C, H, W), got "
                         f"{x.shape if isinstance(x, Tensor) else type(x).__name__}")
    b, c, h, w = x.shape
    if c != in_channels:
        raise ValueError(f"{name}: expected {in_channels} input channel(s), got {c} "
                         f"(input shape {x.shape})")
    if h % factor or w % factor:
        raise ValueError(f"{name}: image size {h}x{w} is not divisible by the downsampling "
                         f"factor {factor}; use a height and width that are multiples of "
                         f"{factor}")
    if not isinstance(t, Tensor):
        t = Tensor(np.broadcast_to(np.asarray(t, dtype=np.int64), (b,)).copy(), device=x.device)
    if t.shape != (b,):
        raise ValueError(f"{name}: expected timesteps of shape ({b},), got {t.shape}")
    return t


class SinusoidalPosEmb(nn.Module):
    """Transformer-style embedding of timesteps: for each of dim/2 frequencies
    f_k = 10000^(-k/(dim/2 - 1)), the pair (sin(t f_k), cos(t f_k)), interleaved per
    frequency. No parameters; t carries no gradient, so it is computed on raw arrays."""

    def __init__(self, dim, max_period=10000.0):
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"SinusoidalPosEmb: dim must be an even number >= 4, got {dim}")
        self.dim = dim
        half = dim // 2
        self._freqs = np.exp(np.arange(half, dtype=np.float64)
                             * -(math.log(max_period) / (half - 1))).astype(np.float32)
        self._on_device = {}

    def forward(self, t):
        dev = t.device
        xp = dev.xp
        f = self._on_device.get(dev)
        if f is None:
            f = self._on_device[dev] = dev.asarray(self._freqs)
        args = xp.astype(t.array, f.dtype)[:, None] * f[None, :]
        emb = xp.stack((xp.sin(args), xp.cos(args)), axis=-1)  # (B, dim/2, 2): interleaved
        return Tensor.from_array(xp.reshape(emb, (t.shape[0], self.dim)), dev)

    def extra_repr(self):
        return str(self.dim)


# ---------------------------------------------------------------------------------------------
# SimpleUnet: the original project's architecture, with its attribute names
# ---------------------------------------------------------------------------------------------
class Block(nn.Module):
    """conv3x3 -> ReLU -> BN, + ReLU(Linear(t)), conv3x3 -> ReLU -> BN, then ``transform``:
    MaxPool 2 (down) or ConvTranspose2d(4, stride 2, padding 1) (up, whose input is the
    2*in_ch channels of x and its skip)."""

    def __init__(self, in_ch, out_ch, time_emb_dim, up=False):
        super().__init__()
        self.time_mlp = nn.Linear(time_emb_dim, out_ch)
        if up:
            self.conv1 = nn.Conv2d(2 * in_ch, out_ch, 3, padding=1)
            self.transform = nn.ConvTranspose2d(out_ch, out_ch, 4, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
            self.transform = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.bnorm1 = nn.BatchNorm2d(out_ch)
        self.bnorm2 = nn.BatchNorm2d(out_ch)
        self.out_ch = out_ch

    def forward(self, x, t):
        h = self.bnorm1(ops.relu(self.conv1(x)))
        time_emb = ops.relu(self.time_mlp(t))
        h = h + ops.reshape(time_emb, (time_emb.shape[0], self.out_ch, 1, 1))
        h = self.bnorm2(ops.relu(self.conv2(h)))
        return self.transform(h)


class SimpleUnet(nn.Module):
    """The original needle project's UNet.

    ``widths`` (default 32, 64, 128) are the widths of conv0 and of each down block (ups mirror
    them); the image size must be divisible by ``2 ** (len(widths) - 1)``. ``channels`` is
    the older keyword name of ``widths``.
    """

    def __init__(self, widths=None, in_channels=3, time_emb_dim=16, out_channels=None, *,
                 channels=None):
        super().__init__()
        widths = _widths("SimpleUnet", widths, channels, (32, 64, 128))
        if len(widths) < 2:
            raise ValueError(f"SimpleUnet: need at least two widths, got {widths}")
        self.widths = widths
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.downsampling_factor = 2 ** (len(widths) - 1)
        down_widths, up_widths = widths, widths[::-1]
        self.time_mlp = nn.Sequential(SinusoidalPosEmb(time_emb_dim),
                                      nn.Linear(time_emb_dim, time_emb_dim), nn.ReLU())
        self.conv0 = nn.Conv2d(in_channels, down_widths[0], 3, padding=1)
        self.downs = [Block(down_widths[i], down_widths[i + 1], time_emb_dim)
                      for i in range(len(down_widths) - 1)]
        self.ups = [Block(up_widths[i], up_widths[i + 1], time_emb_dim, up=True)
                    for i in range(len(up_widths) - 1)]
        self.output = nn.Conv2d(up_widths[-1], self.out_channels, 1)

    def forward(self, x, timestep):
        timestep = _check_input("SimpleUnet", x, timestep, self.in_channels,
                                self.downsampling_factor)
        t = self.time_mlp(timestep)
        x = self.conv0(x)
        residual_inputs = []
        for down in self.downs:
            x = down(x, t)
            residual_inputs.append(x)
        for up in self.ups:
            residual_x = residual_inputs.pop()
            b, c, h, w = x.shape
            # (x, skip) stacked on axis 2 -> (B, C, 2, H, W) -> 2C channels, interleaved
            x = ops.reshape(ops.stack((x, residual_x), axis=2), (b, 2 * c, h, w))
            x = up(x, t)
        return self.output(x)


# ---------------------------------------------------------------------------------------------
# Unet: improved-DDPM style
# ---------------------------------------------------------------------------------------------
class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3, + Linear(time), GroupNorm -> SiLU -> [Dropout] -> conv3x3,
    plus the input (through a 1x1 conv when the width changes)."""

    def __init__(self, in_ch, out_ch, time_dim, groups=8, dropout=0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.out_ch = out_ch

    def forward(self, x, temb):
        """``temb``: the activated time embedding (B, time_dim)."""
        h = self.conv1(norm_silu(self.norm1, x))
        h = h + ops.reshape(self.time_proj(temb), (x.shape[0], self.out_ch, 1, 1))
        h = self.conv2(self.dropout(norm_silu(self.norm2, h)))
        return h + self.skip(x)


def norm_silu(norm, x):
    """``silu(norm(x))`` for an ``nn.GroupNorm`` ``norm``, as one op (``ops.group_norm_silu``:
    the same values and gradients; under ``no_grad`` the SiLU is fused into the
    normalisation's last memory pass). ``norm``'s parameters and state_dict are unchanged."""
    return ops.group_norm_silu(x, norm.num_groups, norm.weight, norm.bias, norm.eps)


class Attention(nn.Module):
    """Multi-head self-attention over the H*W positions, with a residual connection.

    The projections are (out, in) weight matrices applied by matmul to the (B, C, H*W) view of
    the image (a 1x1 convolution without the im2col)."""

    def __init__(self, channels, heads=4, groups=8):
        super().__init__()
        if channels % heads:
            raise ValueError(f"Attention: channels ({channels}) must be divisible by heads "
                             f"({heads})")
        self.channels, self.heads = channels, heads
        self.norm = nn.GroupNorm(groups, channels)
        self.to_qkv = nn.Linear(channels, 3 * channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        self.scale = (channels // heads) ** -0.5

    def forward(self, x):
        b, c, h, w = x.shape
        n, nh = h * w, self.heads
        d = c // nh
        y = ops.reshape(self.norm(x), (b, c, n))
        qkv = ops.matmul(self.to_qkv.weight, y)                      # (B, 3C, N)
        qkv = ops.reshape(qkv, (b, 3, nh, d, n))
        q, k, v = qkv[:, 0, ...], qkv[:, 1, ...], qkv[:, 2, ...]        # (B, heads, d, N)
        sim = ops.matmul(ops.transpose(q * self.scale), k)           # (B, heads, N, N)
        attn = ops.softmax(sim, axis=-1)
        out = ops.matmul(v, ops.transpose(attn))                      # (B, heads, d, N)
        out = ops.matmul(self.to_out.weight, ops.reshape(out, (b, c, n)))
        out = out + ops.reshape(self.to_out.bias, (c, 1))
        return x + ops.reshape(out, (b, c, h, w))


class _Down(nn.Module):
    """One level on the way down: ResBlock, [attention]; returns the skip and, through the
    strided conv (none on the last level), the input of the next level."""

    def __init__(self, in_ch, out_ch, time_dim, groups, attention, last, heads, dropout):
        super().__init__()
        self.block = ResBlock(in_ch, out_ch, time_dim, groups, dropout)
        self.attn = Attention(out_ch, heads, groups) if attention else nn.Identity()
        self.down = nn.Identity() if last else nn.Conv2d(out_ch, out_ch, 3, stride=2, padding=1)

    def forward(self, x, temb):
        skip = self.attn(self.block(x, temb))
        return skip, self.down(skip)


class _Up(nn.Module):
    """One level on the way up: ResBlock on (x, skip) concatenated, [attention], then the
    conv-transpose up (none on the first level)."""

    def __init__(self, in_ch, skip_ch, out_ch, time_dim, groups, attention, first, heads,
                 dropout):
        super().__init__()
        self.block = ResBlock(in_ch + skip_ch, out_ch, time_dim, groups, dropout)
        self.attn = Attention(out_ch, heads, groups) if attention else nn.Identity()
        self.up = nn.Identity() if first else nn.ConvTranspose2d(out_ch, out_ch, 4, 2, 1)

    def forward(self, x, skip, temb):
        return self.up(self.attn(self.block(ops.concat((x, skip), axis=1), temb)))


class Unet(nn.Module):
    """A UNet in the style of improved DDPM (Nichol & Dhariwal 2021).

    Width ``dim * m`` at each level ``m`` of ``dim_mults`` (default 64 and (1, 2, 4)), or the
    widths given directly as ``widths`` (multiples of the first, which is ``dim``).
    Resolution halves between levels (strided 3x3 conv down, 4x4 stride-2 conv-transpose up);
    one residual block per level on the way down and one on the way up (taking the skip by
    concatenation); a middle of ResBlock, self-attention, ResBlock at the lowest resolution;
    self-attention also at the levels in ``attention_at`` (default: the lowest). The time
    embedding (sinusoidal -> Linear -> SiLU -> Linear) is added in every residual block.
    """

    def __init__(self, dim=None, dim_mults=None, in_channels=3, attention_at=None, groups=8,
                 heads=4, dropout=0.0, out_channels=None, *, widths=None):
        super().__init__()
        if widths is not None:
            if dim is not None or dim_mults is not None:
                raise TypeError("Unet: give widths, or dim and dim_mults, not both")
            widths = tuple(int(c) for c in widths)
            if not widths or any(c <= 0 or c % widths[0] for c in widths):
                raise ValueError(f"Unet: widths must be positive multiples of the first, got "
                                 f"{widths}")
            dim = widths[0]
        else:
            dim = 64 if dim is None else int(dim)
            widths = tuple(dim * int(m) for m in ((1, 2, 4) if dim_mults is None else dim_mults))
        levels = len(widths)
        if levels < 1:
            raise ValueError("Unet: dim_mults needs at least one level")
        bad = sorted({c for c in (dim,) + widths if c % groups})
        if bad:
            raise ValueError(f"Unet: widths {bad} are not divisible by groups={groups} "
                             f"(widths are dim * dim_mults = {list(widths)})")
        if attention_at is None:
            attention_at = (levels - 1,)
        att = set()
        for i in attention_at:
            if not -levels <= int(i) < levels:
                raise ValueError(f"Unet: attention_at level {i} out of range for {levels} "
                                 f"levels")
            att.add(int(i) % levels)
        self.widths = widths
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.downsampling_factor = 2 ** (levels - 1)
        time_dim = dim * 4
        self.time_mlp = nn.Sequential(SinusoidalPosEmb(dim), nn.Linear(dim, time_dim), nn.SiLU(),
                                      nn.Linear(time_dim, time_dim))
        self.init_conv = nn.Conv2d(in_channels, dim, 3, padding=1)
        self.downs = []
        prev = dim
        for i, c in enumerate(widths):
            self.downs.append(_Down(prev, c, time_dim, groups, i in att, i == levels - 1, heads,
                                    dropout))
            prev = c
        self.mid_block1 = ResBlock(prev, prev, time_dim, groups, dropout)
        self.mid_attn = Attention(prev, heads, groups)
        self.mid_block2 = ResBlock(prev, prev, time_dim, groups, dropout)
        self.ups = []
        for i in reversed(range(levels)):
            self.ups.append(_Up(prev, widths[i], widths[i], time_dim, groups, i in att, i == 0,
                                heads, dropout))
            prev = widths[i]
        self.final_norm = nn.GroupNorm(groups, widths[0])
        self.final_conv = nn.Conv2d(widths[0], self.out_channels, 3, padding=1)

    def forward(self, x, timestep):
        timestep = _check_input("Unet", x, timestep, self.in_channels, self.downsampling_factor)
        temb = ops.silu(self.time_mlp(timestep))  # every block projects the activated embedding
        h = self.init_conv(x)
        skips = []
        for level in self.downs:
            skip, h = level(h, temb)
            skips.append(skip)
        h = self.mid_block2(self.mid_attn(self.mid_block1(h, temb)), temb)
        for level in self.ups:
            h = level(h, skips.pop(), temb)
        return self.final_conv(norm_silu(self.final_norm, h))
