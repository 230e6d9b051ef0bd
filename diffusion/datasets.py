"""Image datasets for diffusion training: all give CHW float32 images in [-1, 1].

- :class:`SyntheticLandscapes` - built-in procedural landscapes (nothing to download).
- :class:`ImageFolder` - every JPEG/PNG/BMP/WebP under a folder (e.g. a photo collection).
- :class:`MNISTDataset`, :class:`CIFAR10Dataset` - the classic sets from local files, read by
  :func:`load_mnist` (idx files, gzipped or not) and :func:`load_cifar10` (binary or python
  batches).

Every dataset keeps its images decoded in memory as one uint8 array ``data`` of shape
``(N, C, H, W)`` and offers ``get_batch(indices)`` (one fancy index + one conversion), which
``arrayneedle.data.DataLoader`` uses instead of per-item loading.
"""
from __future__ import annotations

import gzip
import os
import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from arrayneedle.data import Dataset

__all__ = [
    "ImageArrayDataset", "SyntheticLandscapes", "ImageFolder", "MNISTDataset", "CIFAR10Dataset",
    "load_mnist", "read_idx", "load_cifar10", "resize_images", "IMAGE_EXTENSIONS",
    "CIFAR10_CLASSES",
]

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".webp")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def _to_float(a):
    """uint8 [0, 255] -> float32 [-1, 1] (0 -> -1 and 255 -> 1 exactly)."""
    x = a.astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return x


def _check_size(image_size, what):
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = (int(s) for s in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: image_size must be an int or (height, width), "
                         f"got {image_size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{what}: image_size must be positive, got {image_size!r}")
    return h, w


def _check_channels(channels, what):
    if channels not in (1, 3):
        raise ValueError(f"{what}: channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    return int(channels)


class ImageArrayDataset(Dataset):
    """Images held as one uint8 array ``data`` (N, C, H, W); items are float32 CHW in [-1, 1].

    With ``labels`` and ``return_labels=True`` items are ``(image, label)``.
    """

    def __init__(self, data, labels=None, return_labels=False):
        data = np.asarray(data)
        if data.dtype != np.uint8 or data.ndim != 4:
            raise ValueError(f"expected uint8 images of shape (N, C, H, W), got "
                             f"{data.dtype} {data.shape}")
        if return_labels and labels is None:
            raise ValueError("return_labels=True but this dataset has no labels")
        self.data = data
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.return_labels = bool(return_labels)

    def __len__(self):
        return len(self.data)

    @property
    def image_shape(self):
        """(C, H, W)."""
        return tuple(self.data.shape[1:])

    def __getitem__(self, index):
        x = _to_float(self.data[index])
        if self.return_labels:
            return x, self.labels[index]
        return x

    def get_batch(self, indices):
        indices = np.asarray(indices, dtype=np.intp)
        x = _to_float(self.data[indices])
        if self.return_labels:
            return x, self.labels[indices]
        return x

    def __repr__(self):
        c, h, w = self.image_shape
        return f"{type(self).__name__}(n={len(self)}, channels={c}, size={h}x{w})"


def resize_images(data, image_size):
    """Resize uint8 images (N, C, H, W) with an antialiased linear filter (like Pillow's
    bilinear), vectorised as two matrix products. Returns uint8 (N, C, h, w)."""
    h, w = _check_size(image_size, "resize_images")
    n, c, H, W = data.shape
    if (H, W) == (h, w):
        return data
    mh, mw = _linear_filter(H, h), _linear_filter(W, w)
    out = np.empty((n, c, h, w), dtype=np.uint8)
    step = max(1, (1 << 22) // max(1, c * H * W))
    for i in range(0, n, step):
        x = data[i:i + step].astype(np.float32)
        y = np.matmul(mh, np.matmul(x, mw.T))
        np.clip(np.rint(y), 0, 255, out=y)
        out[i:i + step] = y
    return out


def _linear_filter(n_in, n_out):
    scale = n_in / n_out
    support = max(scale, 1.0)
    centers = (np.arange(n_out) + 0.5) * scale
    pos = np.arange(n_in) + 0.5
    wts = np.maximum(0.0, 1.0 - np.abs(pos[None, :] - centers[:, None]) / support)
    wts /= wts.sum(axis=1, keepdims=True)
    return wts.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# SyntheticLandscapes
# ----------------------------------------------------------------------------------------------
# palettes: sky top, sky at the horizon, sun/moon, mountain rock (nearest layer), ground, water
#           + (is_night, sun height range, glow, chance of snow, chance of water, chance of clouds)
_PALETTES = {
    "day":    dict(top=(0.16, 0.40, 0.82), hor=(0.68, 0.84, 0.97), sun=(1.00, 0.98, 0.86),
                   rock=(0.20, 0.30, 0.32), ground=(0.28, 0.52, 0.20), water=(0.12, 0.32, 0.55),
                   night=0, sun_y=(0.10, 0.30), glow=0.35, snow=0.6, wet=0.45, cloud=0.7, p=0.27),
    "dusk":   dict(top=(0.22, 0.14, 0.42), hor=(1.00, 0.55, 0.24), sun=(1.00, 0.86, 0.45),
                   rock=(0.22, 0.10, 0.22), ground=(0.16, 0.09, 0.14), water=(0.30, 0.14, 0.22),
                   night=0, sun_y=(0.32, 0.52), glow=0.70, snow=0.2, wet=0.55, cloud=0.45, p=0.22),
    "dawn":   dict(top=(0.40, 0.50, 0.82), hor=(1.00, 0.76, 0.66), sun=(1.00, 0.95, 0.80),
                   rock=(0.32, 0.26, 0.42), ground=(0.30, 0.36, 0.28), water=(0.36, 0.38, 0.58),
                   night=0, sun_y=(0.25, 0.45), glow=0.55, snow=0.5, wet=0.5, cloud=0.5, p=0.12),
    "night":  dict(top=(0.01, 0.02, 0.08), hor=(0.10, 0.15, 0.32), sun=(0.96, 0.96, 0.86),
                   rock=(0.03, 0.04, 0.09), ground=(0.02, 0.05, 0.06), water=(0.03, 0.06, 0.14),
                   night=1, sun_y=(0.10, 0.35), glow=0.22, snow=0.3, wet=0.5, cloud=0.0, p=0.16),
    "desert": dict(top=(0.30, 0.55, 0.88), hor=(0.95, 0.86, 0.68), sun=(1.00, 0.97, 0.82),
                   rock=(0.58, 0.30, 0.18), ground=(0.86, 0.68, 0.42), water=(0.20, 0.45, 0.55),
                   night=0, sun_y=(0.10, 0.30), glow=0.40, snow=0.0, wet=0.15, cloud=0.3, p=0.10),
    "winter": dict(top=(0.45, 0.60, 0.84), hor=(0.88, 0.92, 0.97), sun=(1.00, 0.99, 0.92),
                   rock=(0.36, 0.42, 0.52), ground=(0.90, 0.93, 0.97), water=(0.30, 0.42, 0.58),
                   night=0, sun_y=(0.12, 0.32), glow=0.30, snow=1.0, wet=0.25, cloud=0.5, p=0.13),
}
_PAL_NAMES = tuple(_PALETTES)
_FBM_OCTAVES = (4, 8, 16, 32)  # lattice intervals of the ridgeline noise octaves
_FBM_COLS = sum(k + 1 for k in _FBM_OCTAVES)
_N_PARAMS = 64 + 3 * _FBM_COLS  # columns of the per-image parameter table (fixed: prefixes stay stable)


def _pal_table(key):
    return np.asarray([_PALETTES[k][key] for k in _PAL_NAMES], dtype=np.float32)


def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _hash2(ix, iy, seed):
    """Cheap deterministic per-pixel noise in [0, 1) (integer hash, broadcastable)."""
    h = (ix.astype(np.uint32) * np.uint32(0x8DA6B343)) ^ (iy.astype(np.uint32) * np.uint32(0xD8163841)) \
        ^ (seed.astype(np.uint32) * np.uint32(0xCB1AB31F))
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def _gauss(q):
    """exp(-q), flushed to 0 below 1e-9 (float32 denormals are very slow to compute with)."""
    e = np.exp(-np.minimum(q, 20.0))
    e[e < 1e-8] = 0.0
    return e


def _take(cols, k):
    """The next ``k`` column indices from the iterator ``cols``."""
    return [next(cols) for _ in range(k)]


def _box_blur(a, r):
    """Moving average of width 2r+1 along the last axis (edges clamped)."""
    if r < 1:
        return a
    p = np.pad(a, ((0, 0), (r + 1, r)), mode="edge")
    c = np.cumsum(p, axis=1, dtype=np.float64)
    return ((c[:, 2 * r + 1:] - c[:, :-2 * r - 1]) / (2 * r + 1)).astype(a.dtype)


def _fbm(values, x, width):
    """1-D fractal value noise per image: octaves of cosine-interpolated lattice values.
    ``values`` (n, _FBM_COLS) in [0, 1), ``x`` (W,) in [0, 1) -> (n, W) roughly in [-1, 1]."""
    out = np.zeros((len(values), len(x)), dtype=np.float32)
    start, amp, total = 0, 1.0, 0.0
    for k in _FBM_OCTAVES:
        lattice = values[:, start:start + k + 1].astype(np.float32) * 2.0 - 1.0
        start += k + 1
        if 2 * k > width:  # under two pixels per lattice step: skip (small images stay clean)
            continue
        t = x * k
        i = np.minimum(t.astype(np.intp), k - 1)
        f = (1.0 - np.cos(np.pi * (t - i))) * 0.5
        out += amp * (lattice[:, i] * (1.0 - f) + lattice[:, i + 1] * f)
        total += amp
        amp *= 0.5
    return out / max(total, 1e-6)


def _render_landscapes(P, H, W):
    """Render images from their parameter rows ``P`` (n, _N_PARAMS) in [0, 1): float32
    (n, 3, H, W) in [0, 1]. Vectorised over images and pixels; the only loops are over the
    three clouds and the three ridge layers."""
    f32 = np.float32
    n = len(P)
    cols = iter(range(_N_PARAMS))

    def u(lo=0.0, hi=1.0):  # the next column of parameters, scaled to [lo, hi)
        return (lo + (hi - lo) * P[:, next(cols)]).astype(f32)

    def col(v):  # (n,) -> (n, 1, 1) for broadcasting against (n, H, W)
        return v[:, None, None]

    def rgb(v):  # (n, 3) -> (n, 3, 1, 1) for broadcasting against (n, 3, H, W)
        return v[:, :, None, None]

    y = ((np.arange(H, dtype=f32) + 0.5) / H)[None, :, None]        # (1, H, 1)
    x = ((np.arange(W, dtype=f32) + 0.5) / W)[None, None, :]        # (1, 1, W)
    xs = x[0]                                                       # (1, W)
    aa = f32(max(H, W))                                             # edges about 1 pixel wide

    # ---- palette, with a per-image colour jitter shared by the whole scene ----
    probs = _pal_table("p").astype(np.float64)
    pal = np.searchsorted(np.cumsum(probs / probs.sum()), P[:, next(cols)], side="right")
    pal = np.minimum(pal, len(_PAL_NAMES) - 1)
    tint = np.stack([u(-0.06, 0.06), u(-0.06, 0.06), u(-0.06, 0.06)], axis=1)
    bright = u(0.9, 1.08)[:, None]

    def colour(key, jitter=1.0):
        c = _pal_table(key)[pal] * bright + jitter * tint
        return np.clip(c, 0.0, 1.0).astype(f32)

    top, hor, sun_c = colour("top"), colour("hor"), colour("sun", 0.3)
    rock, ground_c, water_c = colour("rock"), colour("ground"), colour("water")
    night, glow_amt = _pal_table("night")[pal], _pal_table("glow")[pal]
    snow_p, wet_p, cloud_p = _pal_table("snow")[pal], _pal_table("wet")[pal], _pal_table("cloud")[pal]
    sun_lo, sun_hi = _pal_table("sun_y")[pal].T

    # ---- layout ----
    horizon = u(0.68, 0.82)                       # where ground / water begins
    has_water = u() < wet_p
    n_layers = np.where(u() < 0.5, 2, 3)          # two or three ridges
    has_snow = u() < snow_p

    # ---- sky: vertical gradient from the top colour to the horizon colour ----
    t = np.clip(y / col(horizon), 0.0, 1.0) ** col(u(0.8, 1.6))
    img = np.empty((n, 3, H, W), dtype=f32)  # channels first: inner loops run over H*W
    img[...] = rgb(top) + (rgb(hor) - rgb(top)) * t[:, None]

    # ---- stars (night images only) ----
    star_seed = (P[:, next(cols)] * 2 ** 31).astype(np.uint32)
    ni = np.flatnonzero(night > 0)
    if ni.size:
        iy = np.arange(H, dtype=np.uint32)[None, :, None]
        ix = np.arange(W, dtype=np.uint32)[None, None, :]
        noise = _hash2(ix, iy, star_seed[ni, None, None])
        density = f32(0.985)
        stars = np.clip((noise - density) * (1 / (1 - density)), 0.0, 1.0) * 0.9 + \
            (noise > density) * f32(0.3)
        stars *= np.clip(1.0 - y / (0.9 * col(horizon[ni])), 0.0, 1.0)
        img[ni] += stars[:, None] * (1.0 - img[ni])

    # ---- sun or moon with a glow (Gaussian glow: separable in x and y) ----
    sx, sy = u(0.12, 0.88), sun_lo + (sun_hi - sun_lo) * u()
    radius = u(0.055, 0.10) * np.where(night > 0, f32(0.85), f32(1.0))
    dx2, dy2 = (x - col(sx)) ** 2, (y - col(sy)) ** 2                # (n,1,W), (n,H,1)
    s2 = col(1.0 / (2.0 * (2.6 * radius) ** 2))
    glow = (col(glow_amt) * _gauss(dx2 * s2)) * _gauss(dy2 * s2)
    # disc coverage from the squared distance (r^2 - d^2) / 2r ~ r - d near the rim: no sqrt
    disc = np.clip((col(radius ** 2) - (dx2 + dy2)) * col(aa / (2 * radius)) + 0.5, 0.0, 1.0)
    crescent = np.flatnonzero((u() < 0.5) & (night > 0))          # moon phase: a crescent
    ox, oy = u(0.3, 0.6) * radius, u(-0.4, 0.1) * radius
    if crescent.size:
        c = crescent
        d2 = (x - col(sx[c] + ox[c])) ** 2 + (y - col(sy[c] + oy[c])) ** 2
        disc[c] *= 1.0 - np.clip((col(radius[c] ** 2) - d2) * col(aa / (2 * radius[c])) + 0.5,
                                 0.0, 1.0)
    a = 1.0 - (1.0 - glow) * (1.0 - disc)  # glow then disc, both towards the sun colour
    img += a[:, None] * (rgb(sun_c) - img)

    # ---- clouds: a few soft streaks (separable Gaussians), one composite ----
    cloud_col = np.clip(0.55 * sun_c + 0.43, 0, 1)
    cloud_col = np.where((pal == _PAL_NAMES.index("dusk"))[:, None],
                         np.clip(0.6 * hor + 0.4 * sun_c, 0, 1), cloud_col).astype(f32)
    clear = None
    for _ in range(3):
        present = (u() < cloud_p).astype(f32) * u(0.5, 0.9)
        cx, cy = u(-0.1, 1.1), u(0.08, 0.40) * horizon
        cw, ch = u(0.12, 0.30), u(0.025, 0.05)
        ex1 = col(present) * _gauss(((x - col(cx)) / col(cw)) ** 2)
        ex2 = col(present) * _gauss(((x - col(cx + 0.5 * cw)) / col(0.6 * cw)) ** 2)
        blob = np.maximum(ex1 * _gauss(((y - col(cy)) / col(ch)) ** 2),
                          ex2 * _gauss(((y - col(cy - 0.8 * ch)) / col(ch)) ** 2))
        blob = 1.0 - np.minimum(1.3 * blob, 1.0)
        clear = blob if clear is None else clear * blob
    img += (1.0 - clear)[:, None] * (rgb(cloud_col) - img)

    # ---- mountain ridges, far to near: farther ones lighter and hazier ----
    light = np.where(sx < 0.5, f32(-1.0), f32(1.0))                # which slopes face the sun
    snow_col = np.clip(0.75 + 0.25 * hor, 0, 1)
    snow_col = np.where((night > 0)[:, None], np.clip(0.25 * snow_col + 0.1, 0, 1),
                        snow_col).astype(f32)
    for layer in range(3):
        present = (layer >= 3 - n_layers).astype(f32) if layer == 0 else np.ones(n, f32)
        depth = layer / 2.0                                         # 0 far .. 1 near
        peak_amp = u(0.18, 0.34) * (1.0 - 0.6 * depth)
        base = horizon - 0.11 * (1 - depth) + u(-0.02, 0.02)
        f1, f3 = u(0.6, 1.6) * (1 + 0.6 * depth), u(7.0, 12.0)
        p1, p3 = u(), u()
        snow_frac = u(0.45, 0.75)
        # a few big peaks (ridged sines: sharp tops) + fractal detail (value-noise fBm)
        sharp = 1.0 - depth * 0.7                                   # far: jagged; near: rounded
        r1 = 1.0 - np.abs(np.sin(np.pi * (f1[:, None] * xs + p1[:, None])))
        r1 = sharp * r1 + (1 - sharp) * (0.5 - 0.5 * np.cos(np.pi * r1))
        fbm = _fbm(P[:, _take(cols, _FBM_COLS)], xs[0], W)           # (n, W) in ~[-1, 1]
        shape = 0.62 * r1 + 0.38 * (0.5 + 0.5 * fbm)
        detail = 0.03 * (1 - 0.5 * depth) * np.clip(W / (3.0 * f3) - 1.0, 0.0, 1.0)  # none if aliased
        shape = shape + detail[:, None] * np.sin(2 * np.pi * (f3[:, None] * xs + p3[:, None]))
        ridge = base[:, None] - peak_amp[:, None] * shape           # (n, W): top edge (y grows down)
        # only rows that some ridge reaches need work
        r0 = max(0, int(np.floor(float(ridge.min()) * H)) - 1)
        yb = y[:, r0:]
        ridge3 = ridge[:, None, :]
        below = yb - ridge3                                         # (n, h, W): > 0 inside
        cover = np.clip(below * aa + 0.5, 0.0, 1.0) * col(present)
        # light: one side of each big slope lit (fading lower down); darker towards the foot
        slope = np.gradient(_box_blur(ridge, max(1, W // 24)), axis=1) * W
        shade = 1.0 + 0.22 * np.tanh(2.0 * slope * light[:, None])[:, None, :] * \
            np.exp(np.maximum(below, 0.0) * -5.0)
        dark = 1.0 - 0.25 * np.clip(below * (1 / 0.3), 0.0, 1.0)
        # snow on the upper part of the tallest peaks
        snow_line = base - peak_amp * snow_frac
        snow = _smooth((col(snow_line) - yb) * (aa * 0.7) + 0.5 +
                       0.6 * np.sin(2 * np.pi * np.minimum(f3 * 2.3, W / 5.0)[:, None, None] * x
                                    + col(p1) * 9))
        snow *= col((has_snow & (depth < 0.9)).astype(f32))
        # composite: rock (lit, darkened), snow, haze towards the horizon sky, by coverage
        haze = f32(0.62 * (1.0 - depth))
        k_rock = cover * (shade * dark * (1.0 - snow)) * ((1 - haze) * (0.85 + 0.3 * (1 - depth)))
        k_snow = cover * (shade * snow) * (1 - haze)
        blk = img[:, :, r0:]
        blk *= (1.0 - cover)[:, None]
        blk += k_rock[:, None] * rgb(rock)
        blk += k_snow[:, None] * rgb(snow_col)
        blk += (cover * haze)[:, None] * rgb(hor)

    # ---- ground or water below the horizon (only rows that can be below it) ----
    g_edge = horizon[:, None] + 0.012 * np.sin(2 * np.pi * (u(1.0, 3.0)[:, None] * xs + u()[:, None]))
    g_edge = np.where(has_water[:, None], horizon[:, None], g_edge)
    patch_f, patch_p = u(2, 5), u()
    r0 = max(0, int(np.floor(float(g_edge.min()) * H)) - 1)
    yb = y[:, r0:]
    below = np.clip((yb - g_edge[:, None, :]) * aa + 0.5, 0.0, 1.0)  # (n, h, W)
    depth_t = np.clip((yb - col(horizon)) / (1.0 - col(horizon)), 0.0, 1.0)
    surface = np.empty((n, 3) + below.shape[1:], dtype=f32)
    land = np.flatnonzero(~has_water)
    if land.size:  # ground: hazy at the horizon, darker and richer in front, soft patches
        dt = depth_t[land]
        patch = 0.5 + 0.5 * np.sin(2 * np.pi * (col(patch_f[land]) * x + 3.0 * yb + col(patch_p[land])))
        k = (1.1 - 0.35 * dt + 0.08 * patch)
        hz = 0.35 * (1 - dt) ** 3
        surface[land] = ((k * (1 - hz))[:, None] * rgb(ground_c[land]) +
                         hz[:, None] * rgb(hor[land]))
    wet = np.flatnonzero(has_water)
    if wet.size:  # water: the scene above mirrored about the horizon, tinted, with ripples
        dt = depth_t[wet]
        row = np.arange(r0, H, dtype=f32)[None, :]
        src = np.clip(np.rint(2.0 * horizon[wet, None] * H - row - 1.0), 0, H - 1).astype(np.intp)
        refl = np.take_along_axis(img[wet], src[:, None, :, None], axis=2)  # (w, 3, h, W)
        ripple = 1.0 + 0.10 * np.sin(row[:, :, None] * f32(2.7) + 0.7 * np.sin(x * 9.0)) * \
            (0.5 + dt)
        k = (0.85 - 0.2 * dt) * ripple
        surface[wet] = k[:, None] * (0.6 * refl + 0.4 * rgb(water_c[wet]))
    blk = img[:, :, r0:]
    blk += below[:, None] * (surface - blk)
    np.clip(img, 0.0, 1.0, out=img)
    return img


class SyntheticLandscapes(ImageArrayDataset):
    """Procedural landscapes: a sky gradient (day, dusk, dawn, night, desert, winter palettes),
    a sun or moon, two or three layered mountain ridges (farther ones hazier), ground or a lake
    reflecting the scene. Deterministic by ``seed``; image ``i`` depends only on ``seed`` and
    ``i`` (so ``n=100`` gives the first 100 images of ``n=10000``). Any size from 8 to 256
    (an int or (height, width)). Rendering is vectorised with NumPy over all images and pixels:
    10,000 images of 32x32 take about a second on two CPU cores.
    """

    def __init__(self, n, image_size=32, seed=0, channels=3):
        n = int(n)
        if n < 1:
            raise ValueError(f"SyntheticLandscapes: n must be >= 1, got {n}")
        h, w = _check_size(image_size, "SyntheticLandscapes")
        if not (8 <= h <= 256 and 8 <= w <= 256):
            raise ValueError(f"SyntheticLandscapes: image_size must be between 8 and 256, "
                             f"got {image_size!r}")
        channels = _check_channels(channels, "SyntheticLandscapes")
        self.seed, self.image_size, self.channels = seed, (h, w), channels
        params = np.random.default_rng(seed).random((n, _N_PARAMS))
        data = np.empty((n, channels, h, w), dtype=np.uint8)
        step = max(1, (1 << 18) // (h * w))  # images per chunk: bounded memory, cache-friendly
        for i in range(0, n, step):
            img = _render_landscapes(params[i:i + step], h, w)       # (k, 3, h, w) in [0, 1]
            if channels == 1:
                img = np.einsum("kchw,c->khw", img, np.asarray([0.299, 0.587, 0.114],
                                                               dtype=np.float32))[:, None]
            img *= 255.0
            img += 0.5
            data[i:i + step] = img                                  # float -> uint8 truncates
        super().__init__(data)


# ----------------------------------------------------------------------------------------------
# ImageFolder
# ----------------------------------------------------------------------------------------------
def _list_images(root):
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(dirpath, f))
    return sorted(found, key=lambda p: os.path.relpath(p, root).replace(os.sep, "/"))


def _decode(path, size_hw, mode):
    """Open one image, convert to ``mode`` ("RGB" or "L"), resize its shorter side to cover
    ``size_hw`` and crop the centre: uint8 (H, W) or (H, W, 3)."""
    from PIL import Image, ImageOps
    th, tw = size_hw
    with Image.open(path) as im:
        w0, h0 = im.size
        s = max(th, tw) / max(1, min(w0, h0))
        if s < 1:
            im.draft(mode, (int(np.ceil(w0 * s)), int(np.ceil(h0 * s))))  # JPEG: decode smaller
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
            a = np.asarray(im, dtype=np.float64)
            if a.max(initial=0) > 255:
                a = a / 257.0
            im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
        elif im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
                im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        if im.mode != mode:
            im = im.convert(mode)
        w0, h0 = im.size
        s = max(th / h0, tw / w0)
        nw, nh = max(tw, int(round(w0 * s))), max(th, int(round(h0 * s)))
        if (nw, nh) != (w0, h0):
            im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (nw - tw) // 2, (nh - th) // 2
        im = im.crop((left, top, left + tw, top + th))
        return np.asarray(im, dtype=np.uint8)


class ImageFolder(ImageArrayDataset):
    """Every JPEG/PNG/BMP/WebP file under ``root`` (recursive, sorted by path; names starting
    with "." are ignored), decoded once up front with Pillow: converted to RGB
    (``channels=3``) or grayscale (``channels=1``), EXIF rotation applied, transparent parts
    composited on white, the shorter side resized to ``image_size`` (bicubic, antialiased) and
    the centre cropped. Items are float32 CHW in [-1, 1]; ``data`` holds the uint8 images and
    ``paths`` the files they came from. Decoding runs on ``workers`` threads (default up to 8).

    Unreadable files are skipped with one warning naming how many and the first few (listed
    in ``skipped`` as (path, reason)). A missing folder or one without image files raises
    FileNotFoundError; a path that is a file, or a folder where no image can be read, raises
    ValueError.
    """

    def __init__(self, root, image_size=64, channels=3, workers=None):
        root = os.fspath(root)
        h, w = _check_size(image_size, "ImageFolder")
        channels = _check_channels(channels, "ImageFolder")
        exts = ", ".join(IMAGE_EXTENSIONS)
        if not os.path.exists(root):
            raise FileNotFoundError(f"image folder not found: {root}")
        if not os.path.isdir(root):
            raise ValueError(f"not a folder: {root} (expected a folder of images with "
                             f"extensions {exts})")
        paths = _list_images(root)
        if not paths:
            raise FileNotFoundError(f"no image files found under {root} (searched "
                                    f"recursively for {exts})")
        mode = "RGB" if channels == 3 else "L"
        data = np.empty((len(paths), channels, h, w), dtype=np.uint8)
        errors = [None] * len(paths)

        def load(i):
            try:
                a = _decode(paths[i], (h, w), mode)
            except Exception as e:  # noqa: BLE001 - any unreadable file is skipped
                errors[i] = f"{type(e).__name__}: {e}"
                return
            data[i] = a[None] if a.ndim == 2 else np.transpose(a, (2, 0, 1))

        workers = workers or min(8, os.cpu_count() or 1)
        if workers > 1 and len(paths) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(load, range(len(paths))))
        else:
            for i in range(len(paths)):
                load(i)
        ok = np.asarray([e is None for e in errors], dtype=bool)
        self.skipped = [(p, e) for p, e in zip(paths, errors) if e is not None]
        if not ok.any():
            p, e = self.skipped[0]
            raise ValueError(f"none of the {len(paths)} image files under {root} could be read "
                             f"(first: {p}: {e}); accepted extensions: {exts}")
        if self.skipped:
            first = "; ".join(f"{p} ({e})" for p, e in self.skipped[:3])
            more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            warnings.warn(f"ImageFolder: skipped {len(self.skipped)} unreadable file(s) of "
                          f"{len(paths)} under {root}: {first}{more}", stacklevel=2)
            data = data[ok]
        self.root = root
        self.paths = [p for p, k in zip(paths, ok) if k]
        self.image_size, self.channels = (h, w), channels
        super().__init__(data)


# ----------------------------------------------------------------------------------------------
# MNIST (idx files)
# ----------------------------------------------------------------------------------------------
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip file ({e})") from None
    return raw


def read_idx(path):
    """Read an idx file (the MNIST format; gzipped or not) into a NumPy array."""
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dt = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header < count * dt.itemsize:
        raise ValueError(f"{path}: truncated idx file: dims {dims} need {count * dt.itemsize} "
                         f"bytes of data, found {len(raw) - header}")
    a = np.frombuffer(raw, dt, count=count, offset=header).reshape(dims)
    return a.astype(dt.newbyteorder("="))  # native byte order, writable copy


def load_mnist(images_path, labels_path=None):
    """MNIST-style idx files -> (images uint8 (N, rows, cols), labels int64 (N,) or None)."""
    images = read_idx(images_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: not an MNIST image file (expected magic 0x00000803: "
                         f"uint8 with 3 dimensions, got {images.dtype} {images.shape})")
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.ndim != 1 or labels.dtype != np.uint8:
            raise ValueError(f"{labels_path}: not an MNIST label file (expected magic "
                             f"0x00000801: uint8 with 1 dimension, got {labels.dtype} "
                             f"{labels.shape})")
        if len(labels) != len(images):
            raise ValueError(f"MNIST: {len(images)} images but {len(labels)} labels "
                             f"({images_path}, {labels_path})")
        labels = labels.astype(np.int64)
    return images, labels


def _find_first(folder, names):
    for sub in ("", "MNIST/raw", "raw"):
        for name in names:
            for suffix in ("", ".gz"):
                p = os.path.join(folder, sub, name + suffix)
                if os.path.isfile(p):
                    return p
    return None


class MNISTDataset(ImageArrayDataset):
    """MNIST (or Fashion-MNIST) from the idx files in ``root`` (``train-images-idx3-ubyte``
    etc., optionally ``.gz``; also found under ``root/MNIST/raw``). Items: float32 (1, 28, 28)
    in [-1, 1], or (1, s, s) with ``image_size=s`` (e.g. 32 for a UNet); ``(image, label)``
    with ``return_labels=True``."""

    def __init__(self, root, train=True, image_size=None, return_labels=False):
        root = os.fspath(root)
        split = "train" if train else "t10k"
        img = _find_first(root, [f"{split}-images-idx3-ubyte", f"{split}-images.idx3-ubyte"])
        lab = _find_first(root, [f"{split}-labels-idx1-ubyte", f"{split}-labels.idx1-ubyte"])
        if img is None:
            raise FileNotFoundError(f"no MNIST {split} image file ({split}-images-idx3-ubyte"
                                    f"[.gz]) found in {root}")
        images, labels = load_mnist(img, lab)
        data = images[:, None]
        if image_size is not None:
            data = resize_images(data, image_size)
        super().__init__(data, labels, return_labels)


# ----------------------------------------------------------------------------------------------
# CIFAR-10 (binary or python batches)
# ----------------------------------------------------------------------------------------------
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10's python batches contain (dicts, lists, bytes, ints and
    NumPy arrays): any other global is refused, so a tampered file cannot run code."""

    _ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):  # how Python 3 protocol-2 pickles store bytes
            import codecs
            return codecs.encode
        if module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy",
                      "numpy.core.numeric", "numpy._core.numeric") and name in self._ALLOWED:
            if name in ("ndarray", "dtype"):
                return getattr(np, name)
            try:
                from numpy._core import multiarray, numeric
            except ImportError:  # NumPy 1.x
                from numpy.core import multiarray, numeric
            obj = getattr(multiarray, name, None) or getattr(numeric, name, None)
            if obj is not None:
                return obj
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: a CIFAR-10 batch "
                                     f"holds only arrays, lists and bytes")


def _cifar_bin(paths):
    images, labels = [], []
    for p in paths:
        raw = np.fromfile(p, dtype=np.uint8)
        if raw.size == 0 or raw.size % 3073:
            raise ValueError(f"{p}: not a CIFAR-10 binary batch (size {raw.size} bytes is not "
                             f"a multiple of 3073 = 1 label byte + 3072 pixel bytes)")
        rec = raw.reshape(-1, 3073)
        labels.append(rec[:, 0].astype(np.int64))
        images.append(rec[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def _cifar_py(paths):
    images, labels = [], []
    for p in paths:
        with open(p, "rb") as f:
            try:
                d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
                raise ValueError(f"{p}: not a CIFAR-10 python batch ({e})") from None
        if not isinstance(d, dict):
            raise ValueError(f"{p}: not a CIFAR-10 python batch (no dict inside)")
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        if "data" not in d or "labels" not in d:
            raise ValueError(f"{p}: not a CIFAR-10 python batch (keys {sorted(d)})")
        x = np.asarray(d["data"], dtype=np.uint8)
        if x.ndim != 2 or x.shape[1] != 3072 or len(d["labels"]) != len(x):
            raise ValueError(f"{p}: bad CIFAR-10 batch: data {x.shape}, "
                             f"{len(d['labels'])} labels")
        images.append(x.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(d["labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(folder, train=True):
    """CIFAR-10 from a local folder -> (images uint8 (N, 3, 32, 32), labels int64 (N,)).

    Looks in ``folder``, ``folder/cifar-10-batches-bin`` and ``folder/cifar-10-batches-py``.
    The binary version (``data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``:
    records of 1 label byte + 3072 pixel bytes) is preferred. The python version
    (``data_batch_1`` .. ``test_batch``) is a pickle; it is read with
    ``pickle``'s ``encoding="bytes"`` through an unpickler that accepts only NumPy arrays and
    plain data (never arbitrary classes), and only from the folder you point at. Training
    reads every ``data_batch_N`` present, in order.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"CIFAR-10 folder not found: {folder}")
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    for sub in ("", "cifar-10-batches-bin"):
        paths = [os.path.join(folder, sub, n + ".bin") for n in names]
        paths = [p for p in paths if os.path.isfile(p)]
        if paths:
            return _cifar_bin(paths)
    for sub in ("", "cifar-10-batches-py"):
        paths = [os.path.join(folder, sub, n) for n in names]
        paths = [p for p in paths if os.path.isfile(p)]
        if paths:
            return _cifar_py(paths)
    raise FileNotFoundError(f"no CIFAR-10 {'training' if train else 'test'} batches in {folder} "
                            f"(expected {names[0]}.bin ... (binary version) or {names[0]} ... "
                            f"(python version), possibly under cifar-10-batches-bin/ or "
                            f"cifar-10-batches-py/)")


class CIFAR10Dataset(ImageArrayDataset):
    """CIFAR-10 from local files (see :func:`load_cifar10`). Items: float32 (3, 32, 32) in
    [-1, 1] (or resized with ``image_size``); ``(image, label)`` with ``return_labels=True``."""

    def __init__(self, root, train=True, image_size=None, return_labels=False):
        images, labels = load_cifar10(root, train)
        if image_size is not None:
            images = resize_images(images, image_size)
        super().__init__(images, labels, return_labels)
