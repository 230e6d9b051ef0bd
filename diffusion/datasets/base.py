"""The in-memory image dataset every source builds on, and the shared argument checks."""
from __future__ import annotations

import numpy as np

from arrayneedle.data import Dataset
from arrayneedle.data.functional import resize

__all__ = ["ImageArrayDataset", "resize_images"]


def _to_float(a):
    """uint8 [0, 255] -> float32 [-1, 1] (0 -> -1 and 255 -> 1 exactly)."""
    x = a.astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return x


def check_size(image_size, what):
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


def check_channels(channels, what):
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
    """Resize uint8 images (N, C, H, W) with an antialiased linear filter (Pillow's bilinear),
    vectorised over the batch (see :func:`arrayneedle.data.functional.resize`). Returns uint8
    (N, C, h, w)."""
    h, w = check_size(image_size, "resize_images")
    return resize(np.asarray(data), (h, w), "bilinear", data_format="CHW")
