"""The MPI process group, over mpi4py: non-blocking collectives on host (NumPy) buffers,
each waited for with a deadline. CuPy arrays travel by a host copy (NCCL is the GPU path).

Besides the communicator that carries the collectives, a second one carries one message per
rank that exits without ``destroy_process_group`` (a script that returns early, ``sys.exit``):
it says how many collectives that rank had started, so a rank waiting in a later collective
knows nobody will join it and ends the job at once instead of at the deadline.
"""
from __future__ import annotations

import atexit
import os
import pickle
import sys
import time

import array_api_compat
import numpy as np
from mpi4py import MPI

from ._wait import report, wait_until

_EXIT_TAG = 7001
_MPI_OPS = {"sum": MPI.SUM, "avg": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN,
            "product": MPI.PROD}


def _host_buffer(arr):
    """A C-contiguous NumPy array with ``arr``'s values: ``arr`` itself when it already is
    one and writeable (the collective then works in place), else a copy."""
    if isinstance(arr, np.ndarray) and arr.flags.c_contiguous and arr.flags.writeable:
        return arr
    if array_api_compat.is_cupy_array(arr):
        return np.ascontiguousarray(arr.get())
    return np.array(arr, order="C", copy=True)


def _copy_back(host, target):
    """``target``'s values set from ``host``; returns the array that holds the result."""
    if host is target:
        return target
    if array_api_compat.is_cupy_array(target):
        xp = array_api_compat.array_namespace(target)
        out = xp.asarray(host)
        if target.flags.c_contiguous:
            target[...] = out
            return target
        return out
    if isinstance(target, np.ndarray) and target.flags.writeable:
        target[...] = host
        return target
    return host


class Work:
    """A started collective; ``wait()`` finishes it (with the group's deadline) and returns
    the array that holds the result (the input array itself where it could be updated)."""

    __slots__ = ("_group", "_req", "_host", "_target", "_what", "_seq", "_scale", "_result")

    def __init__(self, group, req, host, target, what, seq, scale=None):
        self._group, self._req, self._host, self._target = group, req, host, target
        self._what, self._seq, self._scale, self._result = what, seq, scale, None

    def is_completed(self):
        return self._req is None or bool(self._req.Test())

    def wait(self):
        if self._req is not None:
            self._group._wait(self._req.Test, self._what, self._seq)
            self._req = None
            if self._scale is not None:
                self._host *= self._host.dtype.type(self._scale)
            self._result = _copy_back(self._host, self._target)
            self._host = self._target = None
        return self._result


class MPIGroup:
    backend = "mpi"

    def __init__(self, timeout):
        self.timeout = float(timeout)
        world = MPI.COMM_WORLD
        self.rank, self.size = world.Get_rank(), world.Get_size()
        self.seq = 0
        self._exited = {}  # rank -> number of collectives it had started when it exited
        self._closed = False
        self._exit_req = None
        # everyone must arrive before the blocking communicator calls below
        self._wait(world.Ibarrier().Test, "init_process_group", 0)
        self.comm = world.Dup()
        self._ctrl = world.Dup()
        local = world.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self._exit_buf = np.zeros(2, np.int64)
        self._exit_req = self._ctrl.Irecv(self._exit_buf, source=MPI.ANY_SOURCE, tag=_EXIT_TAG)
        atexit.register(self._at_exit)

    # ---- waiting and ending the job ----
    def abort(self, message):
        report(self.rank, message + "; aborting every rank")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # MPI_Abort makes the launcher kill every rank, possibly before its I/O forwarding has
        # passed on what this rank just wrote (the traceback): give it a moment
        time.sleep(0.2)
        MPI.COMM_WORLD.Abort(1)
        os._exit(1)  # MPICH's MPI_Abort can return after it asked the launcher to end the job

    def _check_peers(self, what, seq):
        while self._exit_req is not None and self._exit_req.Test():
            r, n = (int(v) for v in self._exit_buf)
            self._exited[r] = n
            self._exit_req = self._ctrl.Irecv(self._exit_buf, source=MPI.ANY_SOURCE,
                                              tag=_EXIT_TAG)
        for r, n in self._exited.items():
            if n < seq:
                self.abort(f"rank {r} exited after {n} collectives without "
                           f"destroy_process_group(); {what} can never complete")

    def _wait(self, test, what, seq):
        wait_until(test, what=what, timeout=self.timeout,
                   check=lambda: self._check_peers(what, seq), on_timeout=self.abort)

    def _start(self, name):
        self.seq += 1
        return self.seq, f"{name} (collective #{self.seq} on rank {self.rank})"

    # ---- collectives on raw arrays ----
    def allreduce_async(self, arr, op="sum"):
        seq, what = self._start("all_reduce")
        host = _host_buffer(arr)
        req = self.comm.Iallreduce(MPI.IN_PLACE, host, _MPI_OPS[op])
        return Work(self, req, host, arr, what, seq, 1.0 / self.size if op == "avg" else None)

    def broadcast(self, arr, src):
        seq, what = self._start("broadcast")
        host = _host_buffer(arr)
        return Work(self, self.comm.Ibcast(host, root=src), host, arr, what, seq).wait()

    def allgather(self, arr):
        """(world size, *arr.shape) NumPy array of every rank's ``arr``."""
        seq, what = self._start("all_gather")
        host = _host_buffer(arr)
        out = np.empty((self.size,) + host.shape, host.dtype)
        req = self.comm.Iallgather(host, out)
        return Work(self, req, out, out, what, seq).wait()

    def barrier(self):
        seq, what = self._start("barrier")
        self._wait(self.comm.Ibarrier().Test, what, seq)

    def broadcast_object(self, obj, src):
        seq, what = self._start("broadcast_object_list")
        payload = pickle.dumps(obj) if self.rank == src else b""
        n = np.array([len(payload)], np.int64)
        self._wait(self.comm.Ibcast(n, root=src).Test, what, seq)
        buf = np.frombuffer(payload, np.uint8).copy() if self.rank == src else \
            np.empty(int(n[0]), np.uint8)
        self._wait(self.comm.Ibcast(buf, root=src).Test, what, seq)
        return obj if self.rank == src else pickle.loads(buf.tobytes())

    # ---- teardown ----
    def _release(self):
        self._closed = True
        if self._exit_req is not None:
            self._exit_req.Cancel()
            self._exit_req.Wait()
            self._exit_req = None
        self._ctrl.Free()
        self.comm.Free()

    def destroy(self):
        if self._closed:
            return
        self.barrier()  # nobody may still be waiting for this rank
        self._release()
        atexit.unregister(self._at_exit)

    def _at_exit(self):
        """A rank leaving while the group is open tells the others how far it got."""
        if self._closed:
            return
        msg = np.array([self.rank, self.seq], np.int64)
        reqs = [self._ctrl.Isend(msg, dest=r, tag=_EXIT_TAG)
                for r in range(self.size) if r != self.rank]
        # small messages go out eagerly; never block an exit on a peer that is gone
        for _ in range(100):
            if MPI.Request.Testall(reqs):
                break
        self._closed = True


def install_excepthook(group):
    """An uncaught exception on any rank prints its traceback, then aborts every rank.
    Returns a function that puts the previous hook back."""
    previous = sys.excepthook

    def hook(tp, value, tb):
        previous(tp, value, tb)
        group.abort(f"uncaught {tp.__name__}")

    sys.excepthook = hook

    def restore():
        if sys.excepthook is hook:
            sys.excepthook = previous

    return restore
