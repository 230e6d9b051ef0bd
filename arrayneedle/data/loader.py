"""``DataLoader``: batches of a dataset as Tensors, prepared in a background thread.

Shuffling is reproducible by seed: the loader owns a NumPy ``Generator`` and draws a new
permutation each epoch; ``state_dict()`` / ``load_state_dict()`` capture the generator, the
epoch and the position inside the epoch so that a resumed run sees exactly the same batches.
Batches are assembled (and copied to the device) in a background thread that stays at most
``prefetch`` batches ahead; the thread stops when the iterator is exhausted, closed or garbage
collected, and an exception raised while loading is re-raised in the main thread.

A per-sample ``transform`` (see :mod:`arrayneedle.data.transforms`) is re-seeded for every batch
from the loader's generator: any object inside it with a NumPy ``Generator`` in ``rng`` gets a
fresh one, so results do not depend on prefetching and a resumed run repeats them exactly.
"""
from __future__ import annotations

import numbers
import queue
import threading
import weakref

import numpy as np

from .. import backend
from .collate import collate, to_tensor

__all__ = ["DataLoader"]


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
                        batch = (collate([t(x) for x in batch[0]]),) + tuple(batch[1:])
                    else:
                        batch = collate([t(x) for x in batch])
                else:
                    batch = [(t(x[0]),) + tuple(x[1:]) if isinstance(x, tuple) else t(x)
                             for x in batch]
        if get_batch is None:
            batch = collate(batch)
        if isinstance(batch, (tuple, list)):
            return tuple(to_tensor(a, self.device) for a in batch)
        return to_tensor(batch, self.device)

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
