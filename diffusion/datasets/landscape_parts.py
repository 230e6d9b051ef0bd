"""The building blocks of the landscape renderer: palettes and cheap vectorised noise."""
from __future__ import annotations

import numpy as np

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
# columns of the per-image parameter table (fixed, so that prefixes stay stable)
_N_PARAMS = 64 + 3 * _FBM_COLS


def _pal_table(key):
    return np.asarray([_PALETTES[k][key] for k in _PAL_NAMES], dtype=np.float32)


def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _hash2(ix, iy, seed):
    """Cheap deterministic per-pixel noise in [0, 1) (integer hash, broadcastable)."""
    h = ((ix.astype(np.uint32) * np.uint32(0x8DA6B343))
         ^ (iy.astype(np.uint32) * np.uint32(0xD8163841))
         ^ (seed.astype(np.uint32) * np.uint32(0xCB1AB31F)))
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def _gauss(q):
    """exp(-q), flushed to 0 below 1e-9 (float32 denormals are very slow to compute with)."""
    e = np.exp(-np.minimum(q, 20.0))
    e[e < 1e-8] = 0.0
    return e


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
