"""``diffusion.SimpleUnet`` (the original needle network) and ``diffusion.Unet`` (the residual
UNet the trainer builds by default) written in PyTorch, for comparisons only.

``tests/diffusion/test_unet.py`` checks that each gives the same outputs (and, for the Unet, the
same gradients) from the same weights, and ``scripts/bench.py`` (its PyTorch worker) times them
beside ours. They live with the tests, outside the installed packages. Their attribute names
equal ours, so ``twin.load_state_dict`` accepts our ``state_dict()`` (as torch tensors) key for
key. PyTorch is never a dependency of arrayneedle: it is imported only when a twin is built.
"""
from __future__ import annotations

import math

import numpy as np


def _torch(name):
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"{name} needs PyTorch ({e}); it is optional for arrayneedle: "
                          f"pip install torch") from None
    return torch


def _sinusoidal_pos_emb(torch, dim):
    """``diffusion.SinusoidalPosEmb(dim)``: (sin, cos) pairs interleaved per frequency."""

    class SinusoidalPosEmb(torch.nn.Module):
        def __init__(self):
            super().__init__()
            half = dim // 2
            f = np.exp(np.arange(half) * -(math.log(10000.0) / (half - 1))).astype(np.float32)
            self.register_buffer("freqs", torch.tensor(f), persistent=False)

        def forward(self, t):
            args = t.float()[:, None] * self.freqs[None, :]
            return torch.stack((args.sin(), args.cos()), dim=-1).reshape(t.shape[0], dim)

    return SinusoidalPosEmb()


def torch_simple_unet(channels=(32, 64, 128), in_channels=3, time_emb_dim=16):
    """A ``torch.nn.Module`` with the architecture of ``diffusion.SimpleUnet(channels,
    in_channels, time_emb_dim)``. Raises ImportError (naming the fix) without PyTorch."""
    torch = _torch("torch_simple_unet")
    nn = torch.nn

    class Block(nn.Module):
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
            self.relu = nn.ReLU()

        def forward(self, x, t):
            h = self.bnorm1(self.relu(self.conv1(x)))
            h = h + self.relu(self.time_mlp(t))[(...,) + (None,) * 2]
            h = self.bnorm2(self.relu(self.conv2(h)))
            return self.transform(h)

    class TorchSimpleUnet(nn.Module):
        def __init__(self):
            super().__init__()
            down, up = tuple(channels), tuple(channels)[::-1]
            self.time_mlp = nn.Sequential(_sinusoidal_pos_emb(torch, time_emb_dim),
                                          nn.Linear(time_emb_dim, time_emb_dim), nn.ReLU())
            self.conv0 = nn.Conv2d(in_channels, down[0], 3, padding=1)
            self.downs = nn.ModuleList([Block(down[i], down[i + 1], time_emb_dim)
                                        for i in range(len(down) - 1)])
            self.ups = nn.ModuleList([Block(up[i], up[i + 1], time_emb_dim, up=True)
                                      for i in range(len(up) - 1)])
            self.output = nn.Conv2d(up[-1], in_channels, 1)

        def forward(self, x, timestep):
            t = self.time_mlp(timestep)
            x = self.conv0(x)
            residual_inputs = []
            for down in self.downs:
                x = down(x, t)
                residual_inputs.append(x)
            for up in self.ups:
                residual_x = residual_inputs.pop()
                b, c, h, w = x.shape
                x = torch.stack((x, residual_x), dim=2).reshape(b, 2 * c, h, w)
                x = up(x, t)
            return self.output(x)

    return TorchSimpleUnet()


def torch_unet(dim=None, dim_mults=None, in_channels=3, attention_at=None, groups=8, heads=4,
               dropout=0.0, out_channels=None, *, widths=None):
    """A ``torch.nn.Module`` with the architecture of ``diffusion.Unet`` for the same arguments
    (ResBlocks with GroupNorm and SiLU, attention as matmuls on the (B, C, H*W) view, strided
    3x3 convs down, 4x4 stride-2 conv-transposes up, the time MLP on our sinusoidal
    embedding). Raises ImportError (naming the fix) without PyTorch."""
    torch = _torch("torch_unet")
    nn, F = torch.nn, torch.nn.functional
    if widths is not None:
        widths = tuple(int(c) for c in widths)
        dim = widths[0]
    else:
        dim = 64 if dim is None else int(dim)
        widths = tuple(dim * int(m) for m in ((1, 2, 4) if dim_mults is None else dim_mults))
    levels = len(widths)
    att = {int(i) % levels for i in ((levels - 1,) if attention_at is None else attention_at)}
    out_channels = in_channels if out_channels is None else out_channels
    time_dim = dim * 4

    class ResBlock(nn.Module):
        def __init__(self, in_ch, out_ch):
            super().__init__()
            self.norm1 = nn.GroupNorm(groups, in_ch)
            self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
            self.time_proj = nn.Linear(time_dim, out_ch)
            self.norm2 = nn.GroupNorm(groups, out_ch)
            self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
            self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
            self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

        def forward(self, x, temb):
            h = self.conv1(F.silu(self.norm1(x)))
            h = h + self.time_proj(temb)[:, :, None, None]
            h = self.conv2(self.dropout(F.silu(self.norm2(h))))
            return h + self.skip(x)

    class Attention(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.norm = nn.GroupNorm(groups, channels)
            self.to_qkv = nn.Linear(channels, 3 * channels, bias=False)
            self.to_out = nn.Linear(channels, channels)
            self.scale = (channels // heads) ** -0.5

        def forward(self, x):
            b, c, h, w = x.shape
            n, d = h * w, c // heads
            y = self.norm(x).reshape(b, c, n)
            qkv = torch.matmul(self.to_qkv.weight, y).reshape(b, 3, heads, d, n)
            q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]                  # (B, heads, d, N)
            attn = torch.softmax(torch.matmul((q * self.scale).transpose(-1, -2), k), dim=-1)
            out = torch.matmul(v, attn.transpose(-1, -2)).reshape(b, c, n)
            out = torch.matmul(self.to_out.weight, out) + self.to_out.bias[:, None]
            return x + out.reshape(b, c, h, w)

    def attention(c, on):
        return Attention(c) if on else nn.Identity()

    class Down(nn.Module):
        def __init__(self, in_ch, out_ch, on, last):
            super().__init__()
            self.block = ResBlock(in_ch, out_ch)
            self.attn = attention(out_ch, on)
            self.down = nn.Identity() if last else nn.Conv2d(out_ch, out_ch, 3, 2, 1)

        def forward(self, x, temb):
            skip = self.attn(self.block(x, temb))
            return skip, self.down(skip)

    class Up(nn.Module):
        def __init__(self, in_ch, skip_ch, out_ch, on, first):
            super().__init__()
            self.block = ResBlock(in_ch + skip_ch, out_ch)
            self.attn = attention(out_ch, on)
            self.up = nn.Identity() if first else nn.ConvTranspose2d(out_ch, out_ch, 4, 2, 1)

        def forward(self, x, skip, temb):
            return self.up(self.attn(self.block(torch.cat((x, skip), dim=1), temb)))

    class TorchUnet(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_mlp = nn.Sequential(_sinusoidal_pos_emb(torch, dim),
                                          nn.Linear(dim, time_dim), nn.SiLU(),
                                          nn.Linear(time_dim, time_dim))
            self.init_conv = nn.Conv2d(in_channels, dim, 3, padding=1)
            self.downs = nn.ModuleList()
            prev = dim
            for i, c in enumerate(widths):
                self.downs.append(Down(prev, c, i in att, i == levels - 1))
                prev = c
            self.mid_block1 = ResBlock(prev, prev)
            self.mid_attn = Attention(prev)
            self.mid_block2 = ResBlock(prev, prev)
            self.ups = nn.ModuleList()
            for i in reversed(range(levels)):
                self.ups.append(Up(prev, widths[i], widths[i], i in att, i == 0))
                prev = widths[i]
            self.final_norm = nn.GroupNorm(groups, widths[0])
            self.final_conv = nn.Conv2d(widths[0], out_channels, 3, padding=1)

        def forward(self, x, timestep):
            temb = F.silu(self.time_mlp(timestep))
            h = self.init_conv(x)
            skips = []
            for level in self.downs:
                skip, h = level(h, temb)
                skips.append(skip)
            h = self.mid_block2(self.mid_attn(self.mid_block1(h, temb)), temb)
            for level in self.ups:
                h = level(h, skips.pop(), temb)
            return self.final_conv(F.silu(self.final_norm(h)))

    return TorchUnet()
