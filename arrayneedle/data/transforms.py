"""Per-image transforms, like torchvision's: each takes one image and returns one image.

- ``Resize``, ``CenterCrop``, ``RandomCrop`` and ``RandomHorizontalFlip`` take a Pillow image
  or a NumPy image in HWC (or HW) layout, uint8 or float, and return the same kind. Pass
  ``data_format="CHW"`` to work on channel-first arrays instead. The work is done by
  :mod:`arrayneedle.data.functional`.
- ``ToArray`` takes a Pillow image or an HWC/HW NumPy array with values in [0, 255] and
  returns a CHW float32 array in [0, 1].
- ``Normalize`` takes a CHW float array and returns ``(x - mean) / std`` per channel.

Random transforms take ``seed`` (an int, a NumPy ``Generator`` or ``None``) and keep their
generator in ``rng``; a ``DataLoader`` re-seeds it for every batch from its own generator, so
results do not depend on prefetching and a resumed run repeats them exactly.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import functional as F

__all__ = ["Compose", "Resize", "CenterCrop", "RandomHorizontalFlip", "RandomCrop", "ToArray",
           "Normalize", "Lambda"]


def _check_format(data_format):
    if data_format not in ("HWC", "CHW"):
        raise ValueError(f"data_format must be 'HWC' or 'CHW', got {data_format!r}")
    return data_format


def _make_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


class Compose:
    """Apply transforms one after another."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("Lambda needs a callable")
        self.fn = fn

    def __call__(self, img):
        return self.fn(img)

    def __repr__(self):
        return f"Lambda({getattr(self.fn, '__name__', self.fn)!r})"


class Resize:
    """Resize a Pillow image or a NumPy image (HWC/HW, or CHW with ``data_format="CHW"``).

    ``size`` an int: the shorter side becomes ``size``, keeping the aspect ratio (as
    torchvision); ``(height, width)``: exactly that size.
    """

    def __init__(self, size, interpolation="bilinear", data_format="HWC"):
        if isinstance(size, numbers.Integral):
            if size < 1:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size = int(size)
        else:
            self.size = F._size_arg(size, "Resize")
        self.interpolation = F.check_interpolation(interpolation)
        self.data_format = _check_format(data_format)

    def _target(self, h, w):
        if isinstance(self.size, tuple):
            return self.size
        s = self.size
        if h <= w:
            return s, max(1, int(s * w / h))
        return max(1, int(s * h / w)), s

    def __call__(self, img):
        if not F.is_pil_image(img):
            img = np.asarray(img)
        target = self._target(*F.image_hw(img, self.data_format))
        return F.resize(img, target, self.interpolation, self.data_format)

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation={self.interpolation!r})"


class CenterCrop:
    """Crop the centre ``size`` (int or (height, width)) of a Pillow or NumPy image; an image
    smaller than ``size`` is zero-padded."""

    def __init__(self, size, data_format="HWC"):
        self.size = F._size_arg(size, "CenterCrop")
        self.data_format = _check_format(data_format)

    def __call__(self, img):
        return F.center_crop(img, self.size, self.data_format)

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """Zero-pad by ``padding`` pixels on every side, then crop ``size`` at a random place.

    Works on Pillow images and NumPy images (HWC/HW, or CHW with ``data_format="CHW"``).
    ``seed``: an int, a NumPy Generator, or None.
    """

    def __init__(self, size, padding=0, seed=None, data_format="HWC"):
        self.size = F._size_arg(size, "RandomCrop")
        if not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an integer >= 0, got {padding!r}")
        self.padding = int(padding)
        self.rng = _make_rng(seed)
        self.data_format = _check_format(data_format)

    def __call__(self, img):
        h, w = self.size
        p = self.padding
        H, W = F.image_hw(img, self.data_format)
        if H + 2 * p < h or W + 2 * p < w:
            raise ValueError(f"RandomCrop: crop {h}x{w} is larger than the padded image "
                             f"{H + 2 * p}x{W + 2 * p}")
        top = int(self.rng.integers(0, H + 2 * p - h + 1)) - p
        left = int(self.rng.integers(0, W + 2 * p - w + 1)) - p
        return F.crop(img, top, left, h, w, self.data_format)

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p`` (Pillow or NumPy image; ``data_format`` tells
    where the width axis of a 3-D array is). ``seed``: an int, a NumPy Generator, or None."""

    def __init__(self, p=0.5, seed=None, data_format="HWC"):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = _make_rng(seed)
        self.data_format = _check_format(data_format)

    def __call__(self, img):
        if self.rng.random() >= self.p:
            return img
        return F.hflip(img, self.data_format)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class ToArray:
    """Pillow image or HWC/HW NumPy array with values in [0, 255] -> CHW float32 in [0, 1]
    (the analogue of torchvision's ToTensor; a 2-D input gets one channel)."""

    def __call__(self, img):
        a = np.asarray(img)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"ToArray: expected an HWC or HW image, got shape {a.shape}")
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        out = np.ascontiguousarray(np.transpose(a, (2, 0, 1)), dtype=np.float32)
        out *= np.float32(1.0 / 255.0)
        return out

    def __repr__(self):
        return "ToArray()"


class Normalize:
    """``(x - mean) / std`` per channel of a CHW float array (``mean``/``std``: numbers or one
    value per channel). ``Normalize(0.5, 0.5)`` maps [0, 1] to [-1, 1]."""

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or 1-D sequences")
        if np.any(self.std == 0):
            raise ValueError("Normalize: std must not be zero")

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"Normalize: expected a CHW array, got shape {x.shape}")
        c = x.shape[0]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values for {c} channels")
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        mean = self.mean.astype(dt)[:, None, None]
        std = self.std.astype(dt)[:, None, None]
        return (x.astype(dt, copy=False) - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"
