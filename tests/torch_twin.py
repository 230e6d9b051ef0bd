"""The original needle ``SimpleUnet`` written in PyTorch, for comparisons only.

``tests/test_unet.py`` checks that both give the same outputs from the same weights, and
``scripts/bench.py`` (its PyTorch worker) times it beside ours. It lives with the tests, outside
the installed packages. Its attribute names equal ``diffusion.SimpleUnet``'s, so
``twin.load_state_dict`` accepts our ``state_dict()`` (as torch tensors) key for key. PyTorch is
never a dependency of arrayneedle: it is imported only when a twin is built.
"""
from __future__ import annotations

import math

import numpy as np


def torch_simple_unet(channels=(32, 64, 128), in_channels=3, time_emb_dim=16):
    """A ``torch.nn.Module`` with the architecture of ``diffusion.SimpleUnet(channels,
    in_channels, time_emb_dim)``. Raises ImportError (naming the fix) without PyTorch."""
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"torch_simple_unet needs PyTorch ({e}); it is optional for "
                          f"arrayneedle: pip install torch") from None
    nn = torch.nn

    class SinusoidalPosEmb(nn.Module):
        def __init__(self, dim):
            super().__init__()
            half = dim // 2
            self.dim = dim
            f = np.exp(np.arange(half) * -(math.log(10000.0) / (half - 1))).astype(np.float32)
            self.register_buffer("freqs", torch.tensor(f), persistent=False)

        def forward(self, t):
            args = t.float()[:, None] * self.freqs[None, :]
            return torch.stack((args.sin(), args.cos()), dim=-1).reshape(t.shape[0], self.dim)

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
            self.time_mlp = nn.Sequential(SinusoidalPosEmb(time_emb_dim),
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
