"""``ImageFolder``: every image file under a folder, decoded once with Pillow."""
from __future__ import annotations

import os
import stat
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from arrayneedle.data.functional import cover_box, cover_size, crop, resize

from .base import ImageArrayDataset, check_channels, check_size

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder"]

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".webp")


# never walked into through a symlink: the file system's root and kernel pseudo-folders
_SYSTEM = ("/", "/proc", "/sys", "/dev", "/run")


def _list_images(root):
    """Image files under ``root``, following symlinked folders except those that lead to an
    ancestor of ``root`` (a link to / would walk and decode the whole machine) or to a
    kernel pseudo-folder; folders that cannot be read are named in one warning."""
    found, seen, unreadable, refused = [], set(), [], []
    top = os.path.realpath(root)

    def walk_error(e):
        unreadable.append(f"{e.filename} ({e.strerror})")

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=walk_error):
        real = os.path.realpath(dirpath)
        if real in seen:  # a symlink loop
            dirnames[:] = []
            continue
        seen.add(real)
        keep = []
        for d in sorted(d for d in dirnames if not d.startswith(".")):
            p = os.path.join(dirpath, d)
            target = os.path.realpath(p) if os.path.islink(p) else None
            if target is not None and (target in _SYSTEM or top == target or
                                       top.startswith(target.rstrip(os.sep) + os.sep)):
                refused.append(f"{p} -> {target}")
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                found.append(os.path.join(dirpath, f))
    for what, items in (("cannot read folder(s)", unreadable),
                        ("did not follow symlink(s) to a folder above it or a system folder",
                         refused)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            warnings.warn(f"ImageFolder: under {root}: {what}, their images are not used: "
                          f"{'; '.join(items[:3])}{more}", stacklevel=3)
    return sorted(found, key=lambda p: os.path.relpath(p, root).replace(os.sep, "/"))


# 16-bit PNGs open in these modes; their values span the 16-bit range whatever the content
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# Up to this ratio of covering to target pixels the image is resized whole then cropped (with
# Pillow's approximate reducing_gap pre-shrink of the whole image); beyond it only the cropped
# part is resampled, exactly, which can differ slightly from that approximation.
_MAX_COVER_RATIO = 4


# Decoded bytes of one image, allowed at most: 256 MiB (a 64-megapixel RGB image, 8192 x 8192),
# or 256 times the target's RGBA bytes for large targets. A small file can claim a huge canvas
# (a 330 KB PNG of 13000 x 13000 gray+alpha decodes to 676 MB, then 2.7 GB through the alpha
# conversions), and Pillow's pixel limit (178 megapixels) lets it through. An allowed image
# peaks at about twice its decoded bytes (reduce() of an alpha image converts it first).
_BUDGET_BYTES = 256 << 20
# Images decoding to more than this are decoded one at a time (not on every worker at once)
# and shrunk by an integer factor right after decoding, before any mode conversion.
_BIG_BYTES = 32 << 20
_BIG = threading.Lock()
# Pillow stores every multi-band mode (LA, RGB, RGBA, ...) in 4 bytes a pixel
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def decoded_budget(size_hw):
    """Bytes one image may decode to at target size ``size_hw``."""
    return max(_BUDGET_BYTES, 256 * 4 * size_hw[0] * size_hw[1])


def _decoded_bytes(im):
    return im.width * im.height * _BYTES_PER_PIXEL.get(im.mode, 4)


def _decode(path, size_hw, mode):
    """Open one image, refusing one whose decoded bytes exceed :func:`decoded_budget` before
    any pixel is decoded, then decode it (an image over ``_BIG_BYTES`` alone, shrunk right
    away); see ``_convert``."""
    from PIL import Image, ImageOps
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever, a device never end
        raise ValueError("not a regular file")
    th, tw = size_hw
    with Image.open(path) as im:
        w0, h0 = im.size
        s = max(th, tw) / max(1, min(w0, h0))
        if s < 1:
            im.draft(mode, (int(np.ceil(w0 * s)), int(np.ceil(h0 * s))))  # JPEG: decode smaller
        need, budget = _decoded_bytes(im), decoded_budget(size_hw)
        if need > budget:
            raise ValueError(f"{im.width}x{im.height} {im.mode} decodes to {need >> 20} MiB, "
                             f"above the {budget >> 20} MiB allowed per image at image size "
                             f"{th}x{tw}; downscale it first")
        if need <= _BIG_BYTES:
            return _convert(im, size_hw, mode)
        with _BIG:
            if im.getexif().get(0x0112, 1) != 1:  # EXIF rotation first (reduce() drops EXIF)
                im = ImageOps.exif_transpose(im)
            im.load()
            factor = int(min(im.width / tw, im.height / th) / 3)  # as resize's reducing_gap=3
            if factor >= 2:
                try:
                    im = im.reduce(factor)
                except ValueError:  # a mode reduce() does not handle: convert it whole
                    pass
            return _convert(im, size_hw, mode)


def _convert(im, size_hw, mode):
    """Convert an opened image to ``mode`` ("RGB" or "L"), resize it to cover ``size_hw`` and
    crop the centre: uint8 (H, W) or (H, W, 3). Work and memory are bounded by the source and
    the target size: JPEGs decode reduced (``draft``), and an image whose covering size would
    exceed the target :data:`_MAX_COVER_RATIO` times (a 1 x 60000 strip at 64 would become
    64 x 3840000) is cropped before it is resized (``resize(box=...)``)."""
    from PIL import Image, ImageOps
    th, tw = size_hw
    im = ImageOps.exif_transpose(im)
    if im.mode in _SIXTEEN_BIT or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if im.mode in _SIXTEEN_BIT:
            a = a / 257.0  # scale by the bit depth: 65535 -> 255
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    elif im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
            im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode != mode:
        im = im.convert(mode)
    nh, nw = cover_size((im.height, im.width), size_hw)
    if nh * nw <= _MAX_COVER_RATIO * th * tw:
        im = resize(im, (nh, nw), "bicubic", reducing_gap=3.0)
        im = crop(im, (nh - th) // 2, (nw - tw) // 2, th, tw)
    else:
        box = cover_box((im.height, im.width), size_hw)
        im = resize(im, (th, tw), "bicubic", box=box)
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
        h, w = check_size(image_size, "ImageFolder")
        channels = check_channels(channels, "ImageFolder")
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
