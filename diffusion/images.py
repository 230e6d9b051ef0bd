"""Turning sampled batches into pictures: grids as PNG, denoising animations as GIF."""
from __future__ import annotations

import math

import numpy as np

from arrayneedle.data.functional import resize
from arrayneedle.serialization import atomic_write

__all__ = ["to_uint8", "make_grid", "save_grid", "save_gif"]


def _host(x):
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        return x.detach().numpy() if hasattr(x, "detach") else x.numpy()
    return np.asarray(x)


def to_uint8(images):
    """Images in [-1, 1], (N, C, H, W) -> uint8 (N, H, W, C) in [0, 255] (vectorised)."""
    x = _host(images)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {x.shape}")
    x = np.clip((x.astype(np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def make_grid(images, nrow=None, padding=2, pad_value=255):
    """Tile (N, C, H, W) images in [-1, 1] into one uint8 (H', W', C) picture, like torchvision."""
    x = to_uint8(images)
    n, h, w, c = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    if n < nrow * ncol:
        x = np.concatenate([x, np.full((nrow * ncol - n, h, w, c), pad_value, np.uint8)])
    x = np.pad(x, ((0, 0), (padding, 0), (padding, 0), (0, 0)), constant_values=pad_value)
    grid = x.reshape(ncol, nrow, h + padding, w + padding, c).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(ncol * (h + padding), nrow * (w + padding), c)
    grid = np.pad(grid, ((0, padding), (0, padding), (0, 0)), constant_values=pad_value)
    return grid


def _enlarged(grid, scale):
    """Nearest-neighbour enlargement of an (H, W, C) grid by an integer ``scale``."""
    if scale <= 1:
        return grid
    h, w = grid.shape[:2]
    return resize(grid, (h * scale, w * scale), "nearest")


def _pil(grid):
    from PIL import Image
    return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)


def save_grid(images, path, nrow=None, scale=1):
    """Save a grid of (N, C, H, W) images in [-1, 1] as a PNG (atomically); ``scale`` enlarges
    small images with nearest-neighbour so 32x32 samples are visible."""
    grid = _enlarged(make_grid(images, nrow=nrow), scale)
    atomic_write(path, lambda p: _pil(grid).save(p, format="PNG"))
    return path


def save_gif(frames, path, nrow=None, scale=1, duration_ms=80, hold_last_ms=1500):
    """Animate a list of (N, C, H, W) batches (the denoising process) as a looping GIF."""
    if not len(frames):
        raise ValueError("save_gif: no frames")
    pics = []
    for f in frames:
        pics.append(_pil(_enlarged(make_grid(f, nrow=nrow), scale)))
    durations = [duration_ms] * (len(pics) - 1) + [hold_last_ms]
    atomic_write(path, lambda p: pics[0].save(p, format="GIF", save_all=True,
                                               append_images=pics[1:], duration=durations,
                                               loop=0))
    return path
