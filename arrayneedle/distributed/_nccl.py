"""The NCCL process group, over ``cupy.cuda.nccl``: collectives on CuPy arrays of one GPU per
rank, issued on a side stream and waited for by polling a CUDA event with the group's deadline.
Rendezvous, barriers, Python objects and aborts go through MPI when a launcher started the
job (or nowhere, for one process)."""
from __future__ import annotations

from ..dtypes import FLOAT_DTYPES
from ._wait import report, wait_until

# the dtypes NCCL reduces (it has no int16 and no bool)
_DTYPES = FLOAT_DTYPES + ("int8", "uint8", "int32", "int64")


class Work:
    __slots__ = ("_group", "_event", "_arr", "_what", "_seq", "_scale")

    def __init__(self, group, event, arr, what, seq, scale):
        self._group, self._event, self._arr, self._what, self._seq, self._scale = \
            group, event, arr, what, seq, scale

    def is_completed(self):
        return self._event is None or self._event.done

    def wait(self):
        if self._event is not None:
            g = self._group
            ev = self._event
            wait_until(lambda: ev.done, what=self._what, timeout=g.timeout,
                       check=lambda: g._check_peers(self._what, self._seq),
                       on_timeout=g.abort)
            self._event = None
            with g._cupy.cuda.Device(g.device_index):
                # work queued later on the current stream sees the result (waiting here, not
                # at launch, lets backward's kernels run while the collective is in flight)
                g._cupy.cuda.get_current_stream().wait_event(ev)
                if self._scale is not None:
                    self._arr *= self._scale
        return self._arr


class NCCLGroup:
    backend = "nccl"

    def __init__(self, timeout, device_index, mpi_group=None):
        import cupy
        from cupy.cuda import nccl
        self.timeout = float(timeout)
        self._cupy, self._nccl, self._mpi = cupy, nccl, mpi_group
        self.rank = mpi_group.rank if mpi_group else 0
        self.size = mpi_group.size if mpi_group else 1
        self.local_rank = mpi_group.local_rank if mpi_group else 0
        self.local_size = mpi_group.local_size if mpi_group else 1
        self.device_index = device_index
        self.seq = 0
        uid = nccl.get_unique_id() if self.rank == 0 else None
        if mpi_group is not None:
            uid = mpi_group.broadcast_object(uid, 0)
        with cupy.cuda.Device(device_index):
            self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self._ops = {"sum": nccl.NCCL_SUM, "avg": nccl.NCCL_SUM, "max": nccl.NCCL_MAX,
                     "min": nccl.NCCL_MIN, "product": nccl.NCCL_PROD}
        self._types = {name: getattr(nccl, "NCCL_" + name.upper()) for name in _DTYPES}

    def abort(self, message):
        try:
            self.comm.abort()
        finally:
            if self._mpi is not None:
                self._mpi.abort(message)
            report(self.rank, message + "; exiting")
            import os
            os._exit(1)

    def _check_peers(self, what, seq):
        if self._mpi is not None:
            self._mpi._check_peers(what, seq)

    def _next_seq(self):
        """Collectives are counted across MPI and NCCL, so that a peer's exit message (which
        carries its count) tells whether it joined the collective waited for."""
        if self._mpi is None:
            self.seq += 1
            return self.seq
        self._mpi.seq += 1
        return self._mpi.seq

    def _prepare(self, arr, name):
        cp = self._cupy
        if not isinstance(arr, cp.ndarray) or arr.device.id != self.device_index:
            raise TypeError(f"{name}: the NCCL backend needs a CuPy array on cuda:"
                            f"{self.device_index}, got {type(arr).__name__}"
                            + (f" on cuda:{arr.device.id}" if isinstance(arr, cp.ndarray) else ""))
        if arr.dtype.name not in self._types:
            raise TypeError(f"{name}: dtype {arr.dtype.name} is not supported by NCCL; "
                            f"expected one of {', '.join(_DTYPES)}")
        buf = arr if arr.flags.c_contiguous else cp.ascontiguousarray(arr)
        # the side stream starts after the work already queued on the current stream
        self.stream.wait_event(cp.cuda.get_current_stream().record())
        seq = self._next_seq()
        what = f"{name} (collective #{seq} on rank {self.rank}, NCCL)"
        return buf, self._types[arr.dtype.name], (seq, what)

    def _finish(self, buf, tag, scale=None):
        ev = self.stream.record()
        seq, what = tag
        return Work(self, ev, buf, what, seq, scale)

    def allreduce_async(self, arr, op="sum"):
        with self._cupy.cuda.Device(self.device_index):
            buf, dt, tag = self._prepare(arr, "all_reduce")
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, dt, self._ops[op],
                                self.stream.ptr)
            return self._finish(buf, tag, 1.0 / self.size if op == "avg" else None)

    def broadcast(self, arr, src):
        with self._cupy.cuda.Device(self.device_index):
            buf, dt, tag = self._prepare(arr, "broadcast")
            self.comm.bcast(buf.data.ptr, buf.size, dt, src, self.stream.ptr)
            return self._finish(buf, tag).wait()

    def allgather(self, arr):
        with self._cupy.cuda.Device(self.device_index):
            buf, dt, tag = self._prepare(arr, "all_gather")
            out = self._cupy.empty((self.size,) + buf.shape, buf.dtype)
            self.comm.allGather(buf.data.ptr, out.data.ptr, buf.size, dt, self.stream.ptr)
            return self._finish(out, tag).wait()

    def barrier(self):
        if self._mpi is not None:
            self._mpi.barrier()

    def broadcast_object(self, obj, src):
        return obj if self._mpi is None else self._mpi.broadcast_object(obj, src)

    def destroy(self):
        if self._mpi is not None:
            self._mpi.barrier()
        self.comm.destroy()
        if self._mpi is not None:
            self._mpi.destroy()
