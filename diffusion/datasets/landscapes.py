"""``SyntheticLandscapes``: procedural landscapes, rendered section by section (sky, stars,
sun or moon, clouds, ridges, ground or water) from one row of uniform parameters per image."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .base import ImageArrayDataset, check_channels, check_size
from .landscape_parts import (_FBM_COLS, _N_PARAMS, _PAL_NAMES, _box_blur, _fbm, _gauss, _hash2,
                              _pal_table, _smooth)

__all__ = ["SyntheticLandscapes", "render_landscapes"]

_F32 = np.float32


class _Columns:
    """The parameter rows ``P`` (n, _N_PARAMS) in [0, 1), handed out one column at a time in a
    fixed order (so that adding a feature at the end never changes earlier images)."""

    def __init__(self, P):
        self.P = P
        self._next = iter(range(_N_PARAMS))

    def raw(self):
        """The next column as drawn: float64 in [0, 1)."""
        return self.P[:, next(self._next)]

    def u(self, lo=0.0, hi=1.0):
        """The next column scaled to [lo, hi), float32."""
        return (lo + (hi - lo) * self.raw()).astype(_F32)

    def take(self, k):
        """The next ``k`` columns, (n, k)."""
        return self.P[:, [next(self._next) for _ in range(k)]]


def _col(v):
    """(n,) -> (n, 1, 1) for broadcasting against (n, H, W)."""
    return v[:, None, None]


def _rgb(v):
    """(n, 3) -> (n, 3, 1, 1) for broadcasting against (n, 3, H, W)."""
    return v[:, :, None, None]


def _grid(H, W):
    """Pixel-centre coordinates in [0, 1): y (1, H, 1), x (1, 1, W), and the edge sharpness
    ``aa`` (edges about one pixel wide)."""
    y = ((np.arange(H, dtype=_F32) + 0.5) / H)[None, :, None]
    x = ((np.arange(W, dtype=_F32) + 0.5) / W)[None, None, :]
    return SimpleNamespace(H=H, W=W, y=y, x=x, xs=x[0], aa=_F32(max(H, W)))


def _scene(p):
    """Palette (with a per-image colour jitter shared by the whole scene) and layout."""
    probs = _pal_table("p").astype(np.float64)
    pal = np.searchsorted(np.cumsum(probs / probs.sum()), p.raw(), side="right")
    pal = np.minimum(pal, len(_PAL_NAMES) - 1)
    tint = np.stack([p.u(-0.06, 0.06), p.u(-0.06, 0.06), p.u(-0.06, 0.06)], axis=1)
    bright = p.u(0.9, 1.08)[:, None]

    def colour(key, jitter=1.0):
        c = _pal_table(key)[pal] * bright + jitter * tint
        return np.clip(c, 0.0, 1.0).astype(_F32)

    s = SimpleNamespace(pal=pal)
    s.top, s.hor, s.sun = colour("top"), colour("hor"), colour("sun", 0.3)
    s.rock, s.ground, s.water = colour("rock"), colour("ground"), colour("water")
    for key in ("night", "glow", "snow", "wet", "cloud"):
        setattr(s, key, _pal_table(key)[pal])
    s.sun_lo, s.sun_hi = _pal_table("sun_y")[pal].T
    s.horizon = p.u(0.68, 0.82)                     # where ground / water begins
    s.has_water = p.u() < s.wet
    s.n_layers = np.where(p.u() < 0.5, 2, 3)        # two or three ridges
    s.has_snow = p.u() < s.snow
    return s


def _sky(p, s, g):
    """Vertical gradient from the top colour to the horizon colour: a new (n, 3, H, W) image,
    channels first so that the inner loops run over H*W."""
    t = np.clip(g.y / _col(s.horizon), 0.0, 1.0) ** _col(p.u(0.8, 1.6))
    img = np.empty((len(s.pal), 3, g.H, g.W), dtype=_F32)
    img[...] = _rgb(s.top) + (_rgb(s.hor) - _rgb(s.top)) * t[:, None]
    return img


def _stars(p, s, g, img):
    """Sparse hashed stars, fading towards the horizon (night images only)."""
    star_seed = (p.raw() * 2 ** 31).astype(np.uint32)
    ni = np.flatnonzero(s.night > 0)
    if not ni.size:
        return
    iy = np.arange(g.H, dtype=np.uint32)[None, :, None]
    ix = np.arange(g.W, dtype=np.uint32)[None, None, :]
    noise = _hash2(ix, iy, star_seed[ni, None, None])
    density = _F32(0.985)
    stars = np.clip((noise - density) * (1 / (1 - density)), 0.0, 1.0) * 0.9 + \
        (noise > density) * _F32(0.3)
    stars *= np.clip(1.0 - g.y / (0.9 * _col(s.horizon[ni])), 0.0, 1.0)
    img[ni] += stars[:, None] * (1.0 - img[ni])


def _sun(p, s, g, img):
    """Sun or moon (sometimes a crescent) with a Gaussian glow, separable in x and y. Returns
    the sun's x position (which slopes of the ridges it lights)."""
    x, y, aa = g.x, g.y, g.aa
    sx, sy = p.u(0.12, 0.88), s.sun_lo + (s.sun_hi - s.sun_lo) * p.u()
    radius = p.u(0.055, 0.10) * np.where(s.night > 0, _F32(0.85), _F32(1.0))
    dx2, dy2 = (x - _col(sx)) ** 2, (y - _col(sy)) ** 2            # (n,1,W), (n,H,1)
    s2 = _col(1.0 / (2.0 * (2.6 * radius) ** 2))
    glow = (_col(s.glow) * _gauss(dx2 * s2)) * _gauss(dy2 * s2)
    # disc coverage from the squared distance (r^2 - d^2) / 2r ~ r - d near the rim: no sqrt
    disc = np.clip((_col(radius ** 2) - (dx2 + dy2)) * _col(aa / (2 * radius)) + 0.5, 0.0, 1.0)
    crescent = np.flatnonzero((p.u() < 0.5) & (s.night > 0))      # moon phase: a crescent
    ox, oy = p.u(0.3, 0.6) * radius, p.u(-0.4, 0.1) * radius
    if crescent.size:
        c = crescent
        d2 = (x - _col(sx[c] + ox[c])) ** 2 + (y - _col(sy[c] + oy[c])) ** 2
        disc[c] *= 1.0 - np.clip((_col(radius[c] ** 2) - d2) * _col(aa / (2 * radius[c])) + 0.5,
                                 0.0, 1.0)
    a = 1.0 - (1.0 - glow) * (1.0 - disc)  # glow then disc, both towards the sun colour
    img += a[:, None] * (_rgb(s.sun) - img)
    return sx


def _clouds(p, s, g, img):
    """A few soft streaks (separable Gaussians), composited at once."""
    x, y = g.x, g.y
    cloud_col = np.clip(0.55 * s.sun + 0.43, 0, 1)
    cloud_col = np.where((s.pal == _PAL_NAMES.index("dusk"))[:, None],
                         np.clip(0.6 * s.hor + 0.4 * s.sun, 0, 1), cloud_col).astype(_F32)
    clear = None
    for _ in range(3):
        present = (p.u() < s.cloud).astype(_F32) * p.u(0.5, 0.9)
        cx, cy = p.u(-0.1, 1.1), p.u(0.08, 0.40) * s.horizon
        cw, ch = p.u(0.12, 0.30), p.u(0.025, 0.05)
        ex1 = _col(present) * _gauss(((x - _col(cx)) / _col(cw)) ** 2)
        ex2 = _col(present) * _gauss(((x - _col(cx + 0.5 * cw)) / _col(0.6 * cw)) ** 2)
        blob = np.maximum(ex1 * _gauss(((y - _col(cy)) / _col(ch)) ** 2),
                          ex2 * _gauss(((y - _col(cy - 0.8 * ch)) / _col(ch)) ** 2))
        blob = 1.0 - np.minimum(1.3 * blob, 1.0)
        clear = blob if clear is None else clear * blob
    img += (1.0 - clear)[:, None] * (_rgb(cloud_col) - img)


def _ridge_line(p, s, g, depth):
    """One ridge layer's top edge (n, W) (y grows down) and the draws its shading needs: a few
    big peaks (ridged sines: sharp tops) + fractal detail (value-noise fBm)."""
    W, xs = g.W, g.xs
    r = SimpleNamespace()
    r.peak_amp = p.u(0.18, 0.34) * (1.0 - 0.6 * depth)
    r.base = s.horizon - 0.11 * (1 - depth) + p.u(-0.02, 0.02)
    f1, r.f3 = p.u(0.6, 1.6) * (1 + 0.6 * depth), p.u(7.0, 12.0)
    r.p1, p3 = p.u(), p.u()
    r.snow_frac = p.u(0.45, 0.75)
    sharp = 1.0 - depth * 0.7                                       # far: jagged; near: rounded
    r1 = 1.0 - np.abs(np.sin(np.pi * (f1[:, None] * xs + r.p1[:, None])))
    r1 = sharp * r1 + (1 - sharp) * (0.5 - 0.5 * np.cos(np.pi * r1))
    fbm = _fbm(p.take(_FBM_COLS), xs[0], W)                         # (n, W) in ~[-1, 1]
    shape = 0.62 * r1 + 0.38 * (0.5 + 0.5 * fbm)
    detail = 0.03 * (1 - 0.5 * depth) * np.clip(W / (3.0 * r.f3) - 1.0, 0.0, 1.0)  # none if aliased
    shape = shape + detail[:, None] * np.sin(2 * np.pi * (r.f3[:, None] * xs + p3[:, None]))
    r.line = r.base[:, None] - r.peak_amp[:, None] * shape
    return r


def _paint_ridge(s, g, img, r, depth, present, light, snow_col):
    """Composite one ridge over ``img``: rock lit on the sun's side and darker towards the
    foot, snow on the upper part of the tallest peaks, haze towards the horizon sky."""
    H, W, x, aa = g.H, g.W, g.x, g.aa
    # only rows that some ridge reaches need work
    r0 = max(0, int(np.floor(float(r.line.min()) * H)) - 1)
    yb = g.y[:, r0:]
    below = yb - r.line[:, None, :]                                 # (n, h, W): > 0 inside
    cover = np.clip(below * aa + 0.5, 0.0, 1.0) * _col(present)
    slope = np.gradient(_box_blur(r.line, max(1, W // 24)), axis=1) * W
    shade = 1.0 + 0.22 * np.tanh(2.0 * slope * light[:, None])[:, None, :] * \
        np.exp(np.maximum(below, 0.0) * -5.0)
    dark = 1.0 - 0.25 * np.clip(below * (1 / 0.3), 0.0, 1.0)
    snow_line = r.base - r.peak_amp * r.snow_frac
    snow = _smooth((_col(snow_line) - yb) * (aa * 0.7) + 0.5 +
                   0.6 * np.sin(2 * np.pi * np.minimum(r.f3 * 2.3, W / 5.0)[:, None, None] * x
                                + _col(r.p1) * 9))
    snow *= _col((s.has_snow & (depth < 0.9)).astype(_F32))
    haze = _F32(0.62 * (1.0 - depth))
    k_rock = cover * (shade * dark * (1.0 - snow)) * ((1 - haze) * (0.85 + 0.3 * (1 - depth)))
    k_snow = cover * (shade * snow) * (1 - haze)
    blk = img[:, :, r0:]
    blk *= (1.0 - cover)[:, None]
    blk += k_rock[:, None] * _rgb(s.rock)
    blk += k_snow[:, None] * _rgb(snow_col)
    blk += (cover * haze)[:, None] * _rgb(s.hor)


def _ridges(p, s, g, img, sx):
    """Two or three mountain ridges, far to near: farther ones lighter and hazier."""
    n = len(s.pal)
    light = np.where(sx < 0.5, _F32(-1.0), _F32(1.0))              # which slopes face the sun
    snow_col = np.clip(0.75 + 0.25 * s.hor, 0, 1)
    snow_col = np.where((s.night > 0)[:, None], np.clip(0.25 * snow_col + 0.1, 0, 1),
                        snow_col).astype(_F32)
    for layer in range(3):
        present = (layer >= 3 - s.n_layers).astype(_F32) if layer == 0 else np.ones(n, _F32)
        depth = layer / 2.0                                         # 0 far .. 1 near
        r = _ridge_line(p, s, g, depth)
        _paint_ridge(s, g, img, r, depth, present, light, snow_col)


def _ground(p, s, g, img):
    """Ground or water below the horizon (only rows that can be below it): ground hazy at the
    horizon, darker and richer in front, with soft patches; water mirrors the scene above,
    tinted, with ripples."""
    n, H, x, xs, aa = len(s.pal), g.H, g.x, g.xs, g.aa
    horizon = s.horizon
    g_edge = horizon[:, None] + 0.012 * np.sin(2 * np.pi * (p.u(1.0, 3.0)[:, None] * xs +
                                                            p.u()[:, None]))
    g_edge = np.where(s.has_water[:, None], horizon[:, None], g_edge)
    patch_f, patch_p = p.u(2, 5), p.u()
    r0 = max(0, int(np.floor(float(g_edge.min()) * H)) - 1)
    yb = g.y[:, r0:]
    below = np.clip((yb - g_edge[:, None, :]) * aa + 0.5, 0.0, 1.0)  # (n, h, W)
    depth_t = np.clip((yb - _col(horizon)) / (1.0 - _col(horizon)), 0.0, 1.0)
    surface = np.empty((n, 3) + below.shape[1:], dtype=_F32)
    land = np.flatnonzero(~s.has_water)
    if land.size:
        dt = depth_t[land]
        patch = 0.5 + 0.5 * np.sin(2 * np.pi * (_col(patch_f[land]) * x + 3.0 * yb +
                                                _col(patch_p[land])))
        k = (1.1 - 0.35 * dt + 0.08 * patch)
        hz = 0.35 * (1 - dt) ** 3
        surface[land] = ((k * (1 - hz))[:, None] * _rgb(s.ground[land]) +
                         hz[:, None] * _rgb(s.hor[land]))
    wet = np.flatnonzero(s.has_water)
    if wet.size:
        dt = depth_t[wet]
        row = np.arange(r0, H, dtype=_F32)[None, :]
        src = np.clip(np.rint(2.0 * horizon[wet, None] * H - row - 1.0), 0, H - 1).astype(np.intp)
        refl = np.take_along_axis(img[wet], src[:, None, :, None], axis=2)  # (w, 3, h, W)
        ripple = 1.0 + 0.10 * np.sin(row[:, :, None] * _F32(2.7) + 0.7 * np.sin(x * 9.0)) * \
            (0.5 + dt)
        k = (0.85 - 0.2 * dt) * ripple
        surface[wet] = k[:, None] * (0.6 * refl + 0.4 * _rgb(s.water[wet]))
    blk = img[:, :, r0:]
    blk += below[:, None] * (surface - blk)


def render_landscapes(P, H, W):
    """Render images from their parameter rows ``P`` (n, _N_PARAMS) in [0, 1): float32
    (n, 3, H, W) in [0, 1]. Vectorised over images and pixels; the only loops are over the
    three clouds and the three ridge layers. The sections draw their parameter columns in a
    fixed order: sky, stars, sun, clouds, ridges, ground."""
    p, g = _Columns(P), _grid(H, W)
    s = _scene(p)
    img = _sky(p, s, g)
    _stars(p, s, g, img)
    sx = _sun(p, s, g, img)
    _clouds(p, s, g, img)
    _ridges(p, s, g, img, sx)
    _ground(p, s, g, img)
    np.clip(img, 0.0, 1.0, out=img)
    return img


class SyntheticLandscapes(ImageArrayDataset):
    """Procedural landscapes: a sky gradient (day, dusk, dawn, night, desert, winter palettes),
    a sun or moon, two or three layered mountain ridges (farther ones hazier), ground or a lake
    reflecting the scene. Deterministic by ``seed``; image ``i`` depends only on ``seed`` and
    ``i`` (so ``n=100`` gives the first 100 images of ``n=10000``). Any size from 8 to 256
    (an int or (height, width)). Rendering is vectorised with NumPy over all images and pixels.
    """

    def __init__(self, n, image_size=32, seed=0, channels=3):
        n = int(n)
        if n < 1:
            raise ValueError(f"SyntheticLandscapes: n must be >= 1, got {n}")
        h, w = check_size(image_size, "SyntheticLandscapes")
        if not (8 <= h <= 256 and 8 <= w <= 256):
            raise ValueError(f"SyntheticLandscapes: image_size must be between 8 and 256, "
                             f"got {image_size!r}")
        channels = check_channels(channels, "SyntheticLandscapes")
        self.seed, self.image_size, self.channels = seed, (h, w), channels
        params = np.random.default_rng(seed).random((n, _N_PARAMS))
        data = np.empty((n, channels, h, w), dtype=np.uint8)
        step = max(1, (1 << 18) // (h * w))  # images per chunk: bounded memory, cache-friendly
        for i in range(0, n, step):
            img = render_landscapes(params[i:i + step], h, w)       # (k, 3, h, w) in [0, 1]
            if channels == 1:
                img = np.einsum("kchw,c->khw", img, np.asarray([0.299, 0.587, 0.114],
                                                               dtype=np.float32))[:, None]
            img *= 255.0
            img += 0.5
            data[i:i + step] = img                                  # float -> uint8 truncates
        super().__init__(data)
