"""CIFAR-10 from local files: the binary batches or the python (pickle) batches."""
from __future__ import annotations

import os
import pickle

import numpy as np

from .base import ImageArrayDataset, resize_images

__all__ = ["CIFAR10_CLASSES", "CIFAR10Dataset", "load_cifar10"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


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
