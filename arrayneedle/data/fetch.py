"""One pass over a ``DataLoader``: batches built ahead by loader threads, handed out in order.

Jobs (one per batch) go to a ``ThreadPoolExecutor`` at most ``ahead`` batches in advance; the
main thread takes the results in submission order, so the order never depends on the threads.
The pool stops when the pass is exhausted, closed or garbage collected (a ``weakref.finalize``
that holds the pool, never the iterator), and an exception raised while loading is re-raised in
the main thread. With ``ahead == 0`` batches are built in the calling thread.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import threading
import weakref

__all__ = ["DONE", "PassIterator", "Stream", "get_worker_info"]

DONE = object()  # what a job returns when an IterableDataset has no further batch
THREAD_NAME = "arrayneedle-DataLoader"


def get_worker_info():
    """``None``: loading never runs in worker processes here (``num_workers`` are threads of
    this process sharing one dataset object), so a dataset needs no per-worker sharding."""
    return None


def _init_thread(worker_init_fn, ids):
    if worker_init_fn is not None:
        worker_init_fn(next(ids))


def _shutdown(pool, pending):
    for f in pending:
        f.cancel()
    pending.clear()
    pool.shutdown(wait=False, cancel_futures=True)


class Stream:
    """Samples of an IterableDataset, ``per_batch`` at a time, shared by the jobs of one pass;
    the first call skips ``skip`` batches (resume)."""

    def __init__(self, dataset, per_batch, drop_last, skip):
        self._dataset = dataset
        self._it = None
        self._per_batch = per_batch
        self._drop_last = drop_last
        self._skip = skip
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            if self._it is None:
                self._it = iter(self._dataset)
                for _ in range(self._skip):
                    if len(list(itertools.islice(self._it, self._per_batch))) < self._per_batch:
                        break
            items = list(itertools.islice(self._it, self._per_batch))
        if not items or (self._drop_last and len(items) < self._per_batch):
            return DONE
        return items


class PassIterator:
    """One pass over the loader (one epoch, or what is left of it after a resume)."""

    def __init__(self, loader, token, epoch, jobs, total, start, threads, ahead, timeout,
                 worker_init_fn):
        self._loader = loader
        self._token = token
        self._epoch = epoch
        self._n = total
        self._next_index = start
        self._jobs = iter(jobs)
        self._timeout = timeout or None
        self._finished = False
        self._pool = None
        if ahead > 0:
            self._ahead = ahead
            self._pending = collections.deque()
            # the pool gets the loader's bound method, never this iterator, so that dropping
            # the iterator frees it and its finalizer stops the threads
            self._pool = concurrent.futures.ThreadPoolExecutor(
                threads, thread_name_prefix=THREAD_NAME, initializer=_init_thread,
                initargs=(worker_init_fn, itertools.count()))
            self._finalizer = weakref.finalize(self, _shutdown, self._pool, self._pending)
            self._fill()

    def _fill(self):
        while len(self._pending) < self._ahead:
            job = next(self._jobs, None)
            if job is None:
                return
            self._pending.append(self._pool.submit(self._loader._make_batch, *job))

    def __iter__(self):
        return self

    def __len__(self):
        if self._n is None:
            return len(self._loader) - self._next_index
        return self._n - self._next_index

    def __next__(self):
        if self._finished:
            raise StopIteration
        if self._pool is None:
            job = next(self._jobs, None)
            if job is None:
                return self._finish()
            try:
                batch = self._loader._make_batch(*job)
            except BaseException:
                self._finished = True
                raise
        else:
            if not self._pending:
                return self._finish()
            future = self._pending.popleft()
            self._fill()
            try:
                batch = future.result(timeout=self._timeout)
            except concurrent.futures.TimeoutError:
                self.close()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds "
                                   f"waiting for a batch") from None
            except BaseException:
                self.close()
                raise
        if batch is DONE:
            return self._finish()
        b = self._next_index
        self._next_index += 1
        self._loader._consumed(self._token, self._epoch, b + 1, self._n)
        return batch

    def _finish(self):
        self.close()
        self._loader._ended(self._token, self._epoch)
        raise StopIteration

    def close(self):
        """Stop the loader threads now (also happens when the iterator is collected)."""
        self._finished = True
        if self._pool is not None:
            self._finalizer()
