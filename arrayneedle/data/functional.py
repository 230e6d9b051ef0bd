"""Image operations behind the transforms, usable on their own (like torchvision's
``transforms.functional``): :func:`resize`, :func:`crop`, :func:`center_crop`, :func:`hflip`.

Every image resize in the project goes through :func:`resize`. NumPy images are resampled here
with Pillow's filters (box, bilinear, hamming, bicubic, lanczos: separable, antialiased when
shrinking) written as two weight matrices, so a batch ``(N, C, H, W)`` is two matrix products
and no loop over images or channels; Pillow images go to Pillow's own resampler, which uses the
same filters. The two agree to within rounding (Pillow rounds uint8 between its two passes).
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["INTERPOLATIONS", "resize", "crop", "center_crop", "hflip", "cover_size", "image_hw",
           "cover_box", "hw_axes", "is_pil_image", "check_interpolation"]

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


def _pil():
    from PIL import Image
    return Image


def is_pil_image(img):
    """True for a Pillow image (False also when Pillow is not installed)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(img, Image.Image)


def check_interpolation(name):
    """The lower-case name of a supported interpolation, or ValueError."""
    name = str(name).lower()
    if name not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {name!r}; expected one of "
                         f"{', '.join(INTERPOLATIONS)}")
    return name


def hw_axes(img, data_format):
    """(height axis, width axis) of a NumPy image: HW, HWC, or CHW (``data_format="CHW"``, which
    also takes a batch NCHW)."""
    if data_format not in ("HWC", "CHW"):
        raise ValueError(f"data_format must be 'HWC' or 'CHW', got {data_format!r}")
    if img.ndim == 2:
        return 0, 1
    if img.ndim == 3 or (img.ndim == 4 and data_format == "CHW"):
        return (img.ndim - 2, img.ndim - 1) if data_format == "CHW" else (0, 1)
    raise ValueError(f"expected an image of 2 or 3 dimensions (4 for a CHW batch), "
                     f"got shape {img.shape}")


# Pillow's filters (libImaging/Resample.c) and their supports in input pixels at scale 1
def _box(x):
    return ((x > -0.5) & (x <= 0.5)).astype(np.float64)


def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


def _hamming(x):
    x = np.abs(x)
    px = np.pi * x
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(x == 0.0, 1.0, np.sin(px) / px * (0.54 + 0.46 * np.cos(px)))
    return np.where(x >= 1.0, 0.0, w)


def _bicubic(x, a=-0.5):
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _sinc(x):
    px = np.pi * x
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x == 0.0, 1.0, np.sin(px) / px)


def _lanczos(x):
    return np.where((x >= -3.0) & (x < 3.0), _sinc(x) * _sinc(x / 3.0), 0.0)


_FILTERS = {"box": (_box, 0.5), "bilinear": (_triangle, 1.0), "hamming": (_hamming, 1.0),
            "bicubic": (_bicubic, 2.0), "lanczos": (_lanczos, 3.0)}


def _weights(n_in, n_out, interpolation, span=None):
    """(n_out, n_in) float32 matrix: row i holds the normalised filter taps of output pixel i,
    over the same window of input pixels Pillow uses. ``span`` = (start, end) in input pixels
    (Pillow's ``box``) maps only that part of the input to the output (default: all of it)."""
    fn, support = _FILTERS[interpolation]
    in0, in1 = (0.0, float(n_in)) if span is None else span
    scale = (in1 - in0) / n_out
    stretch = max(scale, 1.0)  # shrinking widens the filter: antialiasing
    support *= stretch
    centers = in0 + (np.arange(n_out) + 0.5) * scale
    pos = np.arange(n_in) + 0.5
    wts = fn((pos[None, :] - centers[:, None]) / stretch)
    j = np.arange(n_in)[None, :]
    lo = np.maximum((centers - support + 0.5).astype(np.intp), 0)[:, None]
    hi = np.minimum((centers + support + 0.5).astype(np.intp), n_in)[:, None]
    wts = np.where((j >= lo) & (j < hi), wts, 0.0)
    total = wts.sum(axis=1, keepdims=True)
    wts /= np.where(total == 0.0, 1.0, total)
    return wts.astype(np.float32)


def _nearest_index(n_in, n_out, span=None):
    in0, in1 = (0.0, float(n_in)) if span is None else span
    idx = (in0 + (np.arange(n_out) + 0.5) * ((in1 - in0) / n_out)).astype(np.intp)
    return np.clip(idx, 0, n_in - 1)


def _to_dtype(y, dtype):
    """Float result -> the input's dtype (integers rounded and clipped to their range)."""
    if dtype.kind == "f":
        return y.astype(dtype, copy=False)
    if dtype == np.bool_:
        return y >= 0.5
    info = np.iinfo(dtype)
    np.clip(np.rint(y, out=y), info.min, info.max, out=y)
    return y.astype(dtype)


def _resize_last2(x, h, w, interpolation, box=None):
    """Resample the last two axes of ``x`` (or the ``box`` part of them) to (h, w)."""
    H, W = x.shape[-2:]
    sw, sh = (None, None) if box is None else ((box[0], box[2]), (box[1], box[3]))
    if interpolation == "nearest":
        return x[..., _nearest_index(H, h, sh)[:, None], _nearest_index(W, w, sw)[None, :]]
    mh, mw = _weights(H, h, interpolation, sh), _weights(W, w, interpolation, sw)
    ft = x.dtype if x.dtype == np.float64 else np.dtype(np.float32)
    lead = x.shape[:-2]
    out = np.empty(lead + (h, w), dtype=x.dtype)
    flat_in, flat_out = x.reshape((-1, H, W)), out.reshape((-1, h, w))
    step = max(1, (1 << 22) // max(1, H * W))  # images per chunk: bounded float temporaries
    for i in range(0, len(flat_in), step):
        y = np.matmul(mh.astype(ft), np.matmul(flat_in[i:i + step].astype(ft), mw.T.astype(ft)))
        flat_out[i:i + step] = _to_dtype(y, x.dtype)
    return out


def _size_arg(size, what):
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{what}: size must be a positive int or (height, width), got {size!r}")
    return size


def _box_arg(box, hw):
    if box is None:
        return None
    box = tuple(float(v) for v in box)
    H, W = hw
    if len(box) != 4 or not (0 <= box[0] < box[2] <= W and 0 <= box[1] < box[3] <= H):
        raise ValueError(f"resize: box must be (left, upper, right, lower) inside the "
                         f"{W}x{H} image with left < right and upper < lower, got {box!r}")
    return None if box == (0.0, 0.0, float(W), float(H)) else box


def resize(img, size, interpolation="bilinear", data_format="HWC", reducing_gap=None,
           box=None):
    """Resize an image to exactly ``size`` = (height, width) (an int: a square).

    ``img``: a Pillow image, or a NumPy array HW, HWC, or CHW / NCHW with
    ``data_format="CHW"``, of any integer, bool or float dtype; the result has the input's kind,
    layout and dtype (integers rounded and clipped). ``interpolation``: one of
    :data:`INTERPOLATIONS`. ``reducing_gap`` (Pillow images only) is Pillow's option of the
    same name: shrink by an integer factor with a box filter first, then resample; much faster
    for large shrinks, and close to the exact result from about 3. ``box`` = (left, upper,
    right, lower) in input pixels (floats allowed, as Pillow's ``box``) resamples only that
    region to ``size``: the same pixels as resizing the whole image to a larger size and
    cropping, without ever making the larger image.
    """
    h, w = _size_arg(size, "resize")
    interpolation = check_interpolation(interpolation)
    if is_pil_image(img):
        box = _box_arg(box, (img.height, img.width))
        if img.size == (w, h) and box is None:
            return img
        return img.resize((w, h), getattr(_pil().Resampling, interpolation.upper()),
                          box=box, reducing_gap=reducing_gap)
    img = np.asarray(img)
    ha, wa = hw_axes(img, data_format)
    box = _box_arg(box, (img.shape[ha], img.shape[wa]))
    if (img.shape[ha], img.shape[wa]) == (h, w) and box is None:
        return img
    if (ha, wa) == (img.ndim - 2, img.ndim - 1):
        return _resize_last2(img, h, w, interpolation, box)
    moved = np.moveaxis(img, (ha, wa), (-2, -1))
    out = _resize_last2(moved, h, w, interpolation, box)
    return np.ascontiguousarray(np.moveaxis(out, (-2, -1), (ha, wa)))


def crop(img, top, left, height, width, data_format="HWC"):
    """The ``height`` x ``width`` window at (``top``, ``left``) of a Pillow or NumPy image; the
    parts outside the image are zero (a view when the window lies inside a NumPy image)."""
    h, w = height, width
    if is_pil_image(img):
        return img.crop((left, top, left + w, top + h))  # Pillow fills outside with 0
    img = np.asarray(img)
    ha, wa = hw_axes(img, data_format)
    H, W = img.shape[ha], img.shape[wa]
    if top >= 0 and left >= 0 and top + h <= H and left + w <= W:
        sl = [slice(None)] * img.ndim
        sl[ha], sl[wa] = slice(top, top + h), slice(left, left + w)
        return img[tuple(sl)]
    shape = list(img.shape)
    shape[ha], shape[wa] = h, w
    out = np.zeros(shape, dtype=img.dtype)
    y0, y1 = max(top, 0), min(top + h, H)
    x0, x1 = max(left, 0), min(left + w, W)
    if y0 < y1 and x0 < x1:
        src = [slice(None)] * img.ndim
        dst = [slice(None)] * img.ndim
        src[ha], src[wa] = slice(y0, y1), slice(x0, x1)
        dst[ha], dst[wa] = slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)
        out[tuple(dst)] = img[tuple(src)]
    return out


def image_hw(img, data_format="HWC"):
    """(height, width) of a Pillow or NumPy image."""
    if is_pil_image(img):
        return img.height, img.width
    img = np.asarray(img)
    ha, wa = hw_axes(img, data_format)
    return img.shape[ha], img.shape[wa]


def center_crop(img, size, data_format="HWC"):
    """The centre ``size`` (int or (height, width)) of a Pillow or NumPy image, zero-padded
    where the image is smaller (offsets rounded like torchvision's)."""
    h, w = _size_arg(size, "center_crop")
    H, W = image_hw(img, data_format)
    if (H, W) == (h, w):
        return img
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    return crop(img, top, left, h, w, data_format)


def hflip(img, data_format="HWC"):
    """Mirror a Pillow or NumPy image left-right."""
    if is_pil_image(img):
        return img.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)
    img = np.asarray(img)
    return np.flip(img, axis=hw_axes(img, data_format)[1])


def cover_size(hw, size):
    """The smallest (height, width) with the aspect ratio of ``hw`` that covers ``size``
    (each side rounded, never below ``size``): resize to it, then :func:`center_crop`."""
    (H, W), (h, w) = hw, size
    s = max(h / H, w / W)
    return max(h, int(round(H * s))), max(w, int(round(W * s)))



def cover_box(hw, size):
    """The (left, upper, right, lower) region of an image of (height, width) ``hw`` that
    resizing to :func:`cover_size` and cropping the centre ``size`` would show: pass it as
    :func:`resize`'s ``box`` to get that picture while touching only ``size`` output pixels
    (a 1 x 60000 strip never becomes a 64 x 3840000 intermediate)."""
    (H, W), (h, w) = hw, size
    nh, nw = cover_size(hw, size)
    top, left = (nh - h) // 2, (nw - w) // 2
    sy, sx = H / nh, W / nw
    return left * sx, top * sy, (left + w) * sx, (top + h) * sy
