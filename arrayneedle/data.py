"""Datasets, a prefetching data loader and image transforms.

``Dataset``
    ``__len__`` and ``__getitem__(i)`` returning one NumPy array (or number) or a tuple of them.
    A dataset may also offer ``get_batch(indices) -> array | tuple of arrays``: a vectorised
    fast path (e.g. fancy indexing of an in-memory array) that ``DataLoader`` uses instead of
    ``__getitem__`` + stacking.

``DataLoader``
    Yields batches as :class:`~arrayneedle.Tensor` s on a device. Shuffling is reproducible by
    seed: the loader owns a NumPy ``Generator`` and draws a new permutation each epoch;
    ``state_dict()`` / ``load_state_dict()`` capture the generator, the epoch and the position
    inside the epoch so that a resumed run sees exactly the same batches. Batches are assembled
    (and copied to the device) in a background thread that stays at most ``prefetch`` batches
    ahead; the thread stops when the iterator is exhausted, closed or garbage collected, and an
    exception raised while loading is re-raised in the main thread.

Transforms (``Compose``, ``Resize``, ``CenterCrop``, ``RandomHorizontalFlip``, ``RandomCrop``,
``ToArray``, ``Normalize``, ``Lambda``) take one image and return one image, like
torchvision's. Inputs:

- ``Resize``, ``CenterCrop``, ``RandomCrop`` and ``RandomHorizontalFlip`` take a Pillow image
  or a NumPy image in HWC (or HW) layout, uint8 or float, and return the same kind. Pass
  ``data_format="CHW"`` to the NumPy-based ones to work on channel-first arrays instead.
- ``ToArray`` takes a Pillow image or an HWC/HW NumPy array with values in [0, 255] and
  returns a CHW float32 array in [0, 1].
- ``Normalize`` takes a CHW float array and returns ``(x - mean) / std`` per channel.

Random transforms take ``seed`` (an int, a NumPy ``Generator`` or ``None``). Inside a
``DataLoader`` they are re-seeded for every batch from the loader's generator, so results do not
depend on prefetching and a resumed run repeats them exactly.
"""
from __future__ import annotations

import numbers
import queue
import threading
import weakref

import numpy as np

from . import backend
from .autograd import Tensor
from .backend import DTYPES

__all__ = [
    "Dataset", "ArrayDataset", "DataLoader",
    "Compose", "Resize", "CenterCrop", "RandomHorizontalFlip", "RandomCrop", "ToArray",
    "Normalize", "Lambda",
]


# ----------------------------------------------------------------------------------------------
# datasets
# ----------------------------------------------------------------------------------------------
class Dataset:
    """Base class: subclasses implement ``__len__`` and ``__getitem__``.

    ``__getitem__(i)`` returns a NumPy array (or a number), or a tuple of them (e.g.
    ``(image, label)``). Optionally implement ``get_batch(indices)`` returning the stacked
    batch directly (an array, or a tuple of arrays with the batch on axis 0); ``DataLoader``
    then skips the per-item path.
    """

    def __len__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class ArrayDataset(Dataset):
    """In-memory arrays sharing their first axis.

    ``ArrayDataset(x)`` yields ``x[i]``; ``ArrayDataset(x, y, ...)`` yields ``(x[i], y[i], ...)``.
    ``get_batch`` fancy-indexes every array at once.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        arrays = tuple(np.asarray(backend.to_numpy(a.data if isinstance(a, Tensor) else a))
                       for a in arrays)
        n = len(arrays[0]) if arrays[0].ndim else None
        for a in arrays:
            if a.ndim == 0 or len(a) != n:
                raise ValueError("ArrayDataset: all arrays need the same length on axis 0, got "
                                 f"shapes {[tuple(a.shape) for a in arrays]}")
        self.arrays = arrays

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        if len(self.arrays) == 1:
            return self.arrays[0][index]
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices):
        indices = np.asarray(indices, dtype=np.intp)
        if len(self.arrays) == 1:
            return self.arrays[0][indices]
        return tuple(a[indices] for a in self.arrays)


# ----------------------------------------------------------------------------------------------
# batch assembly
# ----------------------------------------------------------------------------------------------
_INT_FALLBACK = {"int8": "int32", "int16": "int32", "uint16": "int32", "uint32": "int64",
                 "uint64": "int64"}


def _collate(items):
    """Stack a list of samples (arrays, numbers, PIL images, or tuples of those)."""
    first = items[0]
    if isinstance(first, (tuple, list)):
        return tuple(_collate(list(field)) for field in zip(*items))
    if isinstance(first, (bool, np.bool_)):
        return np.asarray(items, dtype=bool)
    if isinstance(first, numbers.Integral):
        return np.asarray(items, dtype=np.int64)
    if isinstance(first, numbers.Real) and not isinstance(first, np.floating):
        return np.asarray(items, dtype=np.float32)  # Python floats: float32, like Tensor()
    return np.stack([np.asarray(backend.to_numpy(x)) for x in items])


def _to_tensor(array, dev):
    a = np.asarray(array)
    name = a.dtype.name
    if name not in DTYPES:
        if name in _INT_FALLBACK:
            a = a.astype(_INT_FALLBACK[name])
        else:
            raise TypeError(f"DataLoader: cannot make a Tensor from a batch of dtype {name}; "
                            f"supported: {', '.join(DTYPES)}")
    return Tensor(np.ascontiguousarray(a), device=dev)


def _reseed(transform, rng):
    """Give every random transform inside ``transform`` the generator ``rng``."""
    inner = getattr(transform, "transforms", None)
    if isinstance(inner, (list, tuple)):
        for t in inner:
            _reseed(t, rng)
    elif isinstance(getattr(transform, "rng", None), np.random.Generator):
        transform.rng = rng


_DONE = object()
_POLL = 0.05  # seconds between checks of the stop flag while blocked on the queue


def _put(q, item, stop):
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _worker(make, jobs, q, stop):
    try:
        for job in jobs:
            if stop.is_set():
                return
            if not _put(q, (True, make(*job)), stop):
                return
        _put(q, (True, _DONE), stop)
    except BaseException as e:  # noqa: BLE001 - every failure goes to the main thread
        _put(q, (False, e), stop)


def _shutdown(stop, q, thread):
    stop.set()
    while True:  # unblock a worker waiting on a full queue, and drop its batches
        try:
            q.get_nowait()
        except queue.Empty:
            break
    if thread is not threading.current_thread():
        thread.join(timeout=5.0)


class _LoaderIterator:
    """One pass over the loader (one epoch, or what is left of it after a resume)."""

    def __init__(self, loader, token, epoch, batches, start, transform_seed):
        self._loader = loader
        self._token = token
        self._epoch = epoch
        self._n = len(batches)
        self._next_index = start
        self._finished = False
        jobs = [(batches[b], epoch, b, transform_seed) for b in range(start, len(batches))]
        self._thread = None
        if loader.prefetch > 0 and jobs:
            self._queue = queue.Queue(maxsize=loader.prefetch)
            self._stop = threading.Event()
            # the thread gets the loader's bound method, never this iterator, so that dropping
            # the iterator frees it and its finalizer stops the thread
            self._thread = threading.Thread(
                target=_worker, args=(loader._make_batch, jobs, self._queue, self._stop),
                name="arrayneedle-DataLoader", daemon=True)
            self._thread.start()
            self._finalizer = weakref.finalize(self, _shutdown, self._stop, self._queue,
                                               self._thread)
        else:
            self._jobs = iter(jobs)

    def __iter__(self):
        return self

    def __len__(self):
        return self._n - self._next_index

    def _get(self):
        while True:
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive():
                    try:
                        return self._queue.get_nowait()
                    except queue.Empty:
                        raise RuntimeError("DataLoader worker thread ended unexpectedly") from None

    def __next__(self):
        if self._finished:
            raise StopIteration
        if self._thread is None:
            job = next(self._jobs, None)
            if job is None:
                return self._finish()
            try:
                batch = self._loader._make_batch(*job)
            except BaseException:
                self._finished = True
                raise
        else:
            ok, batch = self._get()
            if not ok:
                self.close()
                raise batch
            if batch is _DONE:
                return self._finish()
        b = self._next_index
        self._next_index += 1
        self._loader._consumed(self._token, self._epoch, b + 1, self._n)
        return batch

    def _finish(self):
        self.close()
        raise StopIteration

    def close(self):
        """Stop the background thread now (also happens when the iterator is collected)."""
        self._finished = True
        if self._thread is not None:
            self._finalizer()


class DataLoader:
    """Batches of a dataset as Tensors on a device, loaded in a background thread.

    Parameters
    ----------
    dataset : Dataset (``__len__``, ``__getitem__``; optional ``get_batch(indices)``)
    batch_size : samples per batch
    shuffle : draw a new random order every epoch from the loader's generator
    drop_last : drop the last, smaller batch
    seed : seed of the loader's generator (``None``: fresh entropy, not reproducible)
    device : where batches go (``"cpu"``, ``"cuda:0"``, a Device; default CPU)
    prefetch : how many batches the background thread may prepare ahead; 0 loads in the
        calling thread
    transform : optional per-sample callable (see the module docstring); for tuple samples it
        is applied to the first element (the input) only

    Iterating gives one epoch. Each batch is a Tensor, or a tuple of Tensors when the dataset
    yields tuples. Breaking out of a loop and iterating again starts the next epoch;
    ``load_state_dict`` makes the next iteration resume exactly where ``state_dict`` was taken.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 device=None, prefetch=2, transform=None):
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise ValueError(f"prefetch must be an integer >= 0, got {prefetch!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self.device = backend.device(device)
        self.prefetch = int(prefetch)
        self.transform = transform
        self.generator = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._transform_lock = threading.Lock()
        self._token = 0
        self._epoch = 0          # the epoch in progress, or the next one
        self._batch = 0          # batches of that epoch already handed out
        self._epoch_rng_state = None  # generator state at the start of the epoch in progress
        self._resume = None      # position to resume at on the next __iter__

    # ---- sizes ----
    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self):
        """Index of the epoch in progress (or of the next one, between epochs)."""
        return self._epoch

    # ---- iteration ----
    def __iter__(self):
        n = len(self.dataset)
        with self._lock:
            self._token += 1
            token = self._token
            if self._resume is not None:
                self.generator.bit_generator.state = self._resume["rng_state"]
                start = self._resume["batch"]
                self._resume = None
            else:
                if self._batch > 0:  # the previous epoch was abandoned part way
                    self._epoch += 1
                start = 0
            self._epoch_rng_state = self.generator.bit_generator.state
            self._batch = start
            epoch = self._epoch
            order = self.generator.permutation(n) if self.shuffle else np.arange(n)
            transform_seed = int(self.generator.integers(2 ** 63))
        nb = len(self)
        batches = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(nb)]
        if nb == 0 or start >= nb:
            with self._lock:
                if token == self._token:
                    self._epoch += 1
                    self._batch = 0
        return _LoaderIterator(self, token, epoch, batches, min(start, nb), transform_seed)

    def _consumed(self, token, epoch, done, total):
        with self._lock:
            if token != self._token:  # a newer iterator or load_state_dict took over
                return
            if done >= total:  # last batch handed out: the next epoch starts from here
                self._epoch = epoch + 1
                self._batch = 0
            else:
                self._batch = done

    def _make_batch(self, indices, epoch, b, transform_seed):
        ds = self.dataset
        get_batch = getattr(ds, "get_batch", None)
        batch = get_batch(indices) if get_batch is not None else [ds[int(i)] for i in indices]
        if self.transform is not None:
            # the lock keeps reseeding + applying atomic should two passes overlap briefly
            with self._transform_lock:
                _reseed(self.transform, np.random.default_rng([transform_seed, b]))
                t = self.transform
                if get_batch is not None:
                    if isinstance(batch, tuple):
                        batch = (_collate([t(x) for x in batch[0]]),) + tuple(batch[1:])
                    else:
                        batch = _collate([t(x) for x in batch])
                else:
                    batch = [(t(x[0]),) + tuple(x[1:]) if isinstance(x, tuple) else t(x)
                             for x in batch]
        if get_batch is None:
            batch = _collate(batch)
        if isinstance(batch, (tuple, list)):
            return tuple(_to_tensor(a, self.device) for a in batch)
        return _to_tensor(batch, self.device)

    # ---- resume ----
    def state_dict(self):
        """The position of the loader: epoch, batches handed out in it, generator state.

        Plain Python data (dicts, ints, strings): storable with ``arrayneedle.save`` or JSON.
        """
        with self._lock:
            if self._resume is not None:
                return {"epoch": self._resume["epoch"], "batch": self._resume["batch"],
                        "rng_state": self._resume["rng_state"]}
            if self._batch > 0:
                rng_state = self._epoch_rng_state
            else:
                rng_state = self.generator.bit_generator.state
            return {"epoch": self._epoch, "batch": self._batch, "rng_state": rng_state}

    def load_state_dict(self, state):
        """Make the next iteration continue where ``state`` was taken."""
        try:
            epoch, batch, rng_state = int(state["epoch"]), int(state["batch"]), state["rng_state"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"DataLoader.load_state_dict: not a DataLoader state ({e})") from None
        if epoch < 0 or batch < 0:
            raise ValueError(f"DataLoader.load_state_dict: bad position epoch={epoch} batch={batch}")
        probe = np.random.default_rng()
        try:
            probe.bit_generator.state = rng_state
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"DataLoader.load_state_dict: bad generator state ({e})") from None
        with self._lock:
            self._token += 1  # detach running iterators from the loader's position
            self._epoch = epoch
            if batch > 0:
                self._resume = {"epoch": epoch, "batch": batch, "rng_state": rng_state}
                self._batch = batch
            else:
                self._resume = None
                self._batch = 0
                self.generator.bit_generator.state = rng_state

    def __repr__(self):
        return (f"DataLoader(dataset={type(self.dataset).__name__}(n={len(self.dataset)}), "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device='{self.device}', prefetch={self.prefetch})")


# ----------------------------------------------------------------------------------------------
# transforms
# ----------------------------------------------------------------------------------------------
def _pil():
    from PIL import Image
    return Image


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


def _resample(name):
    Image = _pil()
    name = str(name).lower()
    if name not in _INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {name!r}; expected one of "
                         f"{', '.join(_INTERPOLATIONS)}")
    return getattr(Image.Resampling, name.upper())


def _is_pil(img):
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(img, Image.Image)


def _pair(size, what):
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{what}: size must be a positive int or (height, width), got {size!r}")
    return size


def _check_format(data_format):
    if data_format not in ("HWC", "CHW"):
        raise ValueError(f"data_format must be 'HWC' or 'CHW', got {data_format!r}")
    return data_format


def _hw_axes(img, data_format):
    """(height axis, width axis) of a NumPy image."""
    if img.ndim == 2:
        return 0, 1
    if img.ndim != 3:
        raise ValueError(f"expected an image with 2 or 3 dimensions, got shape {img.shape}")
    return (1, 2) if data_format == "CHW" else (0, 1)


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


def _resize_array(img, size_hw, resample, data_format):
    """Resize a NumPy image through Pillow (uint8 directly, other dtypes channel by channel
    as 32-bit float images)."""
    Image = _pil()
    h, w = size_hw
    if data_format == "CHW" and img.ndim == 3:
        return np.stack([_resize_array(c, size_hw, resample, "HWC") for c in img])
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] in (1, 3, 4)):
        squeeze = img.ndim == 3 and img.shape[2] == 1
        out = np.asarray(Image.fromarray(img[..., 0] if squeeze else img).resize(
            (w, h), resample))
        return out[..., None] if squeeze else out
    if img.ndim == 2:
        out = np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize((w, h), resample))
        return out.astype(img.dtype) if img.dtype.kind == "f" else \
            np.clip(np.rint(out), np.iinfo(img.dtype).min, np.iinfo(img.dtype).max).astype(img.dtype)
    return np.stack([_resize_array(img[..., c], size_hw, resample, "HWC")
                     for c in range(img.shape[2])], axis=-1)


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
            self.size = _pair(size, "Resize")
        self.interpolation = interpolation
        self._resample = _resample(interpolation)
        self.data_format = _check_format(data_format)

    def _target(self, h, w):
        if isinstance(self.size, tuple):
            return self.size
        s = self.size
        if h <= w:
            return s, max(1, int(s * w / h))
        return max(1, int(s * h / w)), s

    def __call__(self, img):
        if _is_pil(img):
            th, tw = self._target(img.height, img.width)
            if (th, tw) == (img.height, img.width):
                return img
            return img.resize((tw, th), self._resample)
        img = np.asarray(img)
        ha, wa = _hw_axes(img, self.data_format)
        th, tw = self._target(img.shape[ha], img.shape[wa])
        if (th, tw) == (img.shape[ha], img.shape[wa]):
            return img
        return _resize_array(img, (th, tw), self._resample, self.data_format)

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation={self.interpolation!r})"


def _crop_array(img, top, left, h, w, data_format):
    """Crop a NumPy image; parts outside the image are zero-filled."""
    ha, wa = _hw_axes(img, data_format)
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


class CenterCrop:
    """Crop the centre ``size`` (int or (height, width)) of a Pillow or NumPy image; an image
    smaller than ``size`` is zero-padded."""

    def __init__(self, size, data_format="HWC"):
        self.size = _pair(size, "CenterCrop")
        self.data_format = _check_format(data_format)

    def __call__(self, img):
        h, w = self.size
        if _is_pil(img):
            H, W = img.height, img.width
            top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
            if (H, W) == (h, w):
                return img
            return img.crop((left, top, left + w, top + h))
        img = np.asarray(img)
        ha, wa = _hw_axes(img, self.data_format)
        H, W = img.shape[ha], img.shape[wa]
        top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
        return _crop_array(img, top, left, h, w, self.data_format)

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """Zero-pad by ``padding`` pixels on every side, then crop ``size`` at a random place.

    Works on Pillow images and NumPy images (HWC/HW, or CHW with ``data_format="CHW"``).
    ``seed``: an int, a NumPy Generator, or None.
    """

    def __init__(self, size, padding=0, seed=None, data_format="HWC"):
        self.size = _pair(size, "RandomCrop")
        if not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an integer >= 0, got {padding!r}")
        self.padding = int(padding)
        self.rng = _make_rng(seed)
        self.data_format = _check_format(data_format)

    def __call__(self, img):
        h, w = self.size
        p = self.padding
        pil = _is_pil(img)
        if pil:
            H, W = img.height, img.width
        else:
            img = np.asarray(img)
            ha, wa = _hw_axes(img, self.data_format)
            H, W = img.shape[ha], img.shape[wa]
        if H + 2 * p < h or W + 2 * p < w:
            raise ValueError(f"RandomCrop: crop {h}x{w} is larger than the padded image "
                             f"{H + 2 * p}x{W + 2 * p}")
        top = int(self.rng.integers(0, H + 2 * p - h + 1)) - p
        left = int(self.rng.integers(0, W + 2 * p - w + 1)) - p
        if pil:
            return img.crop((left, top, left + w, top + h))  # Pillow fills outside with 0
        return _crop_array(img, top, left, h, w, self.data_format)

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
        if _is_pil(img):
            return img.transpose(_pil().Transpose.FLIP_LEFT_RIGHT)
        img = np.asarray(img)
        return np.flip(img, axis=_hw_axes(img, self.data_format)[1])

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
