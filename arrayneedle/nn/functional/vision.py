"""Resampling with PyTorch's functional signatures: interpolate (nearest, nearest-exact,
linear, bilinear), pixel_shuffle, pixel_unshuffle.

``interpolate`` is separable: one gather per spatial axis (two gathers and a blend for the
linear modes), with PyTorch's source-index rules, so values and gradients match PyTorch's
kernels (the gradient of a gather adds each output back into its sources)."""
from __future__ import annotations

import math

from ... import ops
from ..._helpers import as_tensor
from ...autograd import Tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle"]

_LINEAR = {"linear": 3, "bilinear": 4}
_NEAREST = ("nearest", "nearest-exact")


def _per_axis(v, k, name):
    if isinstance(v, (tuple, list)):
        if len(v) != k:
            raise ValueError(f"interpolate: {name} must have {k} entries for a "
                             f"{k + 2}-D input, got {v!r}")
        return tuple(v)
    return (v,) * k


def _sizes(x, size, scale_factor, recompute_scale_factor):
    """Output sizes and the scales PyTorch's kernels use (None: computed from the sizes)."""
    k = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = tuple(int(s) for s in _per_axis(size, k, "size"))
        scales = (None,) * k
    else:
        sf = tuple(float(s) for s in _per_axis(scale_factor, k, "scale_factor"))
        if min(sf) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        out = tuple(int(math.floor(n * s)) for n, s in zip(x.shape[2:], sf))
        scales = (None,) * k if recompute_scale_factor else sf
    if min(out) < 1:
        raise ValueError(f"interpolate: the output size {out} must be positive")
    return out, scales


def _nearest_index(xp, n, out, scale, exact):
    """PyTorch's nearest source index (its float arithmetic: float32 scale)."""
    f32 = xp.float32
    s = xp.asarray(1.0 / scale if scale else n / out, dtype=f32)
    dst = xp.astype(xp.arange(out), f32)
    src = xp.floor((dst + 0.5) * s) if exact else xp.floor(dst * s)
    return xp.minimum(xp.astype(src, xp.int64), n - 1)


def _linear_weights(xp, n, out, scale, align_corners, dtype):
    """(i0, i1, lambda) of PyTorch's linear interpolation along one axis."""
    if align_corners:
        s = (n - 1) / (out - 1) if out > 1 else 0.0
        src = xp.astype(xp.arange(out), dtype) * xp.asarray(s, dtype=dtype)
    else:
        s = xp.asarray(1.0 / scale if scale else n / out, dtype=dtype)
        src = (xp.astype(xp.arange(out), dtype) + 0.5) * s - 0.5
        src = xp.maximum(src, xp.asarray(0, dtype=dtype))
    i0 = xp.astype(src, xp.int64)  # src >= 0: truncation is floor
    i1 = xp.minimum(i0 + 1, n - 1)
    return i0, i1, src - xp.astype(i0, dtype)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L) or (N, C, H, W) as PyTorch's F.interpolate: modes "nearest",
    "nearest-exact", "linear" (3-D) and "bilinear" (4-D), ``align_corners`` for the linear
    modes."""
    x = as_tensor(input)
    if mode not in _NEAREST and mode not in _LINEAR:
        raise ValueError(f"interpolate: mode must be one of nearest, nearest-exact, linear, "
                         f"bilinear, got {mode!r}")
    if mode in _LINEAR and x.ndim != _LINEAR[mode]:
        raise ValueError(f"interpolate: mode {mode!r} needs a {_LINEAR[mode]}-D input, got "
                         f"shape {x.shape}")
    if x.ndim not in (3, 4):
        raise ValueError(f"interpolate: input must be (N, C, L) or (N, C, H, W), got shape "
                         f"{x.shape}")
    if mode in _NEAREST and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with the linear modes "
                         "(linear, bilinear)")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported; resize images with "
                         "arrayneedle.data.functional.resize")
    out, scales = _sizes(x, size, scale_factor, recompute_scale_factor)
    xp = x.device.xp
    for j, (o, sc) in enumerate(zip(out, scales)):
        ax = 2 + j
        n = x.shape[ax]
        if mode in _NEAREST:
            if o == n:
                continue
            x = ops.take(x, _nearest_index(xp, n, o, sc, mode == "nearest-exact"), axis=ax)
            continue
        i0, i1, lam = _linear_weights(xp, n, o, sc, bool(align_corners), x.dtype)
        shape = (o,) + (1,) * (x.ndim - 1 - ax)
        lam = Tensor._wrap(xp.reshape(lam, shape), x.device)
        a, b = ops.take(x, i0, axis=ax), ops.take(x, i1, axis=ax)
        x = a + (b - a) * lam
    return x


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, "bilinear", align_corners=True)


def _factor(r, name):
    r = int(r)
    if r < 1:
        raise ValueError(f"{name} must be a positive int, got {r}")
    return r


def pixel_shuffle(input, upscale_factor):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), as PyTorch."""
    x = as_tensor(input)
    r = _factor(upscale_factor, "pixel_shuffle: upscale_factor")
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: input must be (*, C*{r * r}, H, W) with channels "
                         f"divisible by upscale_factor**2 = {r * r}, got shape {x.shape}")
    *lead, C, H, W = x.shape
    b = len(lead)
    y = ops.reshape(x, tuple(lead) + (C // (r * r), r, r, H, W))
    y = ops.permute(y, *range(b + 1), b + 3, b + 1, b + 4, b + 2)
    return ops.reshape(y, tuple(lead) + (C // (r * r), H * r, W * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), the inverse of pixel_shuffle."""
    x = as_tensor(input)
    r = _factor(downscale_factor, "pixel_unshuffle: downscale_factor")
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: height and width must be divisible by "
                         f"downscale_factor = {r}, got shape {x.shape}")
    *lead, C, H, W = x.shape
    b = len(lead)
    y = ops.reshape(x, tuple(lead) + (C, H // r, r, W // r, r))
    y = ops.permute(y, *range(b + 1), b + 2, b + 4, b + 1, b + 3)
    return ops.reshape(y, tuple(lead) + (C * r * r, H // r, W // r))
