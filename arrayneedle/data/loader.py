"""``DataLoader``: PyTorch's loader, with batches prepared ahead by threads and exact resume.

Arguments, positional order, defaults, collation and argument-conflict errors are PyTorch's.
What differs, on purpose:

- Loading runs in threads of this process, never in worker processes. ``num_workers=0``: one
  background thread keeps ``prefetch`` (default 2) batches ready (``prefetch=0``: load in the
  calling thread). ``num_workers=N``: N threads build whole batches, at most
  ``prefetch_factor`` (default 2) per thread ahead; ``worker_init_fn(i)`` runs once in thread
  ``i``. Batches always come out in sampler order. Threads pay off where loading releases the
  GIL (file reads, image decoding, NumPy); datasets are shared, not copied, so
  ``get_worker_info()`` is None and ``persistent_workers`` / ``multiprocessing_context`` change
  nothing. An IterableDataset is read by one thread whatever ``num_workers`` is (no duplicates).
- ``generator`` takes a ``numpy.random.Generator``. The loader always owns one (``generator``,
  else one seeded by ``seed``, else one seeded from the global CPU generator, so
  ``arrayneedle.manual_seed`` makes shuffling reproducible); ``shuffle=True`` draws from it.
- ``state_dict()`` / ``load_state_dict()`` capture the epoch, the position inside it and the
  state of the generators that order it (the loader's, and a ``numpy.random.Generator`` held
  by a given sampler as ``.generator``), so a resumed run sees exactly the same batches. A
  sampler drawing from the global generator (``generator=None``) is not captured. An
  IterableDataset resumes by reading it again from the start and skipping the batches seen.
- ``device`` (keyword): where batches go (default: where the data is; NumPy -> CPU).
  ``pin_memory`` is accepted and does nothing: batches are copied to ``device`` by the loader
  threads.
- ``transform`` (keyword): a per-sample callable applied to the sample (or to the first field
  of a tuple sample); random transforms inside it are re-seeded for every batch from the
  loader's generator, so results do not depend on threading and a resumed run repeats them.
- A dataset with ``get_batch(indices)`` (see :mod:`arrayneedle.data.dataset`) is read one batch
  per call under the default collation: no per-sample Python work.
"""
from __future__ import annotations

import itertools
import numbers
import threading

import numpy as np

from .. import backend
from .collate import batch_to_tensors, default_collate, default_convert, stack, to_device
from .dataset import IterableDataset, batch_getter
from .fetch import PassIterator, Stream
from .sampler import (BatchSampler, RandomSampler, SequentialSampler, epoch_batches,
                      epoch_indices, positive_int)

__all__ = ["DataLoader"]

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
           "persistent_workers")


def _reseed(transform, rng):
    """Give every random transform inside ``transform`` the generator ``rng``."""
    inner = getattr(transform, "transforms", None)
    if isinstance(inner, (list, tuple)):
        for t in inner:
            _reseed(t, rng)
    elif isinstance(getattr(transform, "rng", None), np.random.Generator):
        transform.rng = rng


def _nonneg_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


class DataLoader:
    """Batches of a dataset as Tensors (see the module docstring for what differs from
    PyTorch). Iterating gives one epoch; breaking out of a loop and iterating again starts the
    next one; ``load_state_dict`` makes the next iteration resume where ``state_dict`` was
    taken."""

    _initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True, seed=None, device=None, prefetch=None, transform=None):
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None:
            prefetch_factor = _nonneg_int(prefetch_factor, "prefetch_factor")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(f"multiprocessing_context can only be used with multi-process "
                             f"loading (num_workers > 0), but got num_workers={num_workers}")
        if num_workers > 0 and prefetch is not None:
            raise ValueError("prefetch sets how far the single loader thread reads ahead when "
                             "num_workers=0; with num_workers > 0 use prefetch_factor")
        prefetch = 2 if prefetch is None else _nonneg_int(prefetch, "prefetch")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn must be callable, got {type(collate_fn).__name__}")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        if generator is None:
            if seed is None:
                seed = int(backend.cpu().rng.integers(2 ** 63))
            generator = np.random.default_rng(seed)

        if not iterable and sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, bool(drop_last))
        elif batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.multiprocessing_context = multiprocessing_context
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self.shuffle = shuffle
        self.seed = seed
        self.device = None if device is None else backend.device(device)
        self.prefetch = prefetch
        self.transform = transform
        default = collate_fn is None or collate_fn is default_collate
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._get_batch = (batch_getter(dataset) if default and self._auto_collation
                           and not iterable else None)
        self._lock = threading.Lock()
        self._transform_lock = threading.Lock()
        self._token = 0
        self._epoch = 0          # the epoch in progress, or the next one
        self._batch = 0          # batches of that epoch already handed out
        self._epoch_states = None  # generator states at the start of the epoch in progress
        self._resume = None      # position to resume at on the next __iter__
        self._initialized = True

    def __setattr__(self, name, value):
        if self._initialized and name in _FROZEN:
            raise ValueError(f"{name} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None)

    @property
    def _iterable(self):
        return isinstance(self.dataset, IterableDataset)

    # ---- sizes ----
    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    @property
    def epoch(self):
        """Index of the epoch in progress (or of the next one, between epochs)."""
        return self._epoch

    # ---- generators that decide the order ----
    def _generators(self):
        gens = [self.generator]
        for obj in (self.sampler, getattr(self.batch_sampler, "sampler", None)):
            g = getattr(obj, "generator", None)
            if isinstance(g, np.random.Generator) and all(g is not h for h in gens):
                gens.append(g)
        return gens

    def _set_states(self, states):
        for g, s in zip(self._generators(), states):
            g.bit_generator.state = s

    # ---- iteration ----
    def __iter__(self):
        with self._lock:
            self._token += 1
            token = self._token
            if self._resume is not None:
                self._set_states(self._resume["states"])
                start = self._resume["batch"]
                self._resume = None
            else:
                if self._batch > 0:  # the previous epoch was abandoned part way
                    self._epoch += 1
                start = 0
            self._epoch_states = [g.bit_generator.state for g in self._generators()]
            self._batch = start
            epoch = self._epoch
            if self._iterable:
                batches = None
            elif self._auto_collation:
                batches = epoch_batches(self.batch_sampler)
            else:
                batches = epoch_indices(self.sampler)
            transform_seed = int(self.generator.integers(2 ** 63))
        if batches is None:
            stream = Stream(self.dataset, self.batch_size or 1, self.drop_last, start)
            jobs = ((None, b, transform_seed, stream) for b in itertools.count(start))
            total, threads = None, 1
        else:
            total = len(batches)
            if total == 0 or start >= total:
                self._ended(token, epoch)
            start = min(start, total)
            jobs = ((batches[b], b, transform_seed, None) for b in range(start, total))
            threads = max(1, self.num_workers)
        ahead = self.num_workers * self.prefetch_factor if self.num_workers else self.prefetch
        return PassIterator(self, token, epoch, jobs, total, start, threads, ahead,
                            self.timeout, self.worker_init_fn if self.num_workers else None)

    def _consumed(self, token, epoch, done, total):
        with self._lock:
            if token != self._token:  # a newer iterator or load_state_dict took over
                return
            if total is not None and done >= total:  # last batch: the next epoch starts here
                self._epoch = epoch + 1
                self._batch = 0
            else:
                self._batch = done

    def _ended(self, token, epoch):
        with self._lock:
            if token == self._token and self._epoch == epoch:
                self._epoch = epoch + 1
                self._batch = 0

    def _make_batch(self, indices, b, transform_seed, stream):
        ds = self.dataset
        batch = None
        if stream is not None:
            samples = stream.take()
            if not isinstance(samples, list):
                return samples  # the end of the stream
        elif not self._auto_collation:
            samples = [ds[indices]]
        elif self._get_batch is not None:
            batch = self._get_batch(indices)
        else:
            keys = indices.tolist() if isinstance(indices, np.ndarray) else list(indices)
            many = getattr(ds, "__getitems__", None)
            samples = many(keys) if callable(many) else [ds[i] for i in keys]
        if self.transform is not None:
            # the lock keeps reseeding + applying atomic across loader threads
            with self._transform_lock:
                _reseed(self.transform, np.random.default_rng([transform_seed, b]))
                t = self.transform
                if batch is not None:
                    if isinstance(batch, tuple):
                        batch = (stack([t(x) for x in batch[0]]),) + tuple(batch[1:])
                    else:
                        batch = stack([t(x) for x in batch])
                else:
                    samples = [(t(x[0]),) + tuple(x[1:]) if isinstance(x, tuple) else t(x)
                               for x in samples]
        if batch is not None:
            out = batch_to_tensors(batch)
        elif not self._auto_collation:
            out = self.collate_fn(samples[0])
        else:
            out = self.collate_fn(samples)
        return out if self.device is None else to_device(out, self.device)

    # ---- resume ----
    def state_dict(self):
        """The position of the loader: epoch, batches handed out in it, generator states.

        Plain Python data (dicts, lists, ints, strings): storable with ``arrayneedle.save``
        or JSON.
        """
        with self._lock:
            if self._resume is not None:
                epoch, batch, states = (self._resume["epoch"], self._resume["batch"],
                                        self._resume["states"])
            else:
                epoch, batch = self._epoch, self._batch
                states = (self._epoch_states if batch > 0 else
                          [g.bit_generator.state for g in self._generators()])
            return {"epoch": epoch, "batch": batch, "rng_state": states[0],
                    "sampler_rng_states": list(states[1:])}

    def load_state_dict(self, state):
        """Make the next iteration continue where ``state`` was taken."""
        try:
            epoch, batch = int(state["epoch"]), int(state["batch"])
            states = [state["rng_state"]] + list(state.get("sampler_rng_states", []))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"DataLoader.load_state_dict: not a DataLoader state ({e})") from None
        if epoch < 0 or batch < 0:
            raise ValueError(f"DataLoader.load_state_dict: bad position epoch={epoch} "
                             f"batch={batch}")
        gens = self._generators()
        if len(states) != len(gens):
            raise ValueError(f"DataLoader.load_state_dict: the state has {len(states)} generator "
                             f"states, this loader's order depends on {len(gens)}")
        probe = np.random.default_rng()
        for s in states:
            try:
                probe.bit_generator.state = s
            except (TypeError, ValueError, KeyError) as e:
                raise ValueError(f"DataLoader.load_state_dict: bad generator state ({e})") from None
        with self._lock:
            self._token += 1  # detach running iterators from the loader's position
            self._epoch = epoch
            if batch > 0:
                self._resume = {"epoch": epoch, "batch": batch, "states": states}
                self._batch = batch
            else:
                self._resume = None
                self._batch = 0
                self._set_states(states)

    def __repr__(self):
        try:
            n = f"n={len(self.dataset)}"
        except TypeError:
            n = "iterable"
        return (f"DataLoader(dataset={type(self.dataset).__name__}({n}), "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers}, "
                f"device={str(self.device) if self.device else None!r}, "
                f"prefetch={self.prefetch})")
