"""MNIST (and Fashion-MNIST) from local idx files, gzipped or not."""
from __future__ import annotations

import gzip
import os

import numpy as np

from .base import ImageArrayDataset, resize_images

__all__ = ["MNISTDataset", "load_mnist", "read_idx"]

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
