"""DistributedDataParallel: one model replica per rank, gradients averaged over the ranks.

Parameters are grouped into buckets of about ``bucket_cap_mb`` in reverse registration order
(roughly the order backward produces their gradients). A post-accumulate-grad hook counts the
gradients of each bucket as they become final; a full bucket is flattened and its average
over the ranks started at once (non-blocking), so communication overlaps the rest of
backward. A callback at the end of backward starts what is left (gradients of parameters the
graph did not reach count as zeros, so every rank starts the same collectives in the same
order), waits for every bucket and writes the averages back to ``.grad``.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager

from ... import distributed as dist
from ...autograd import Tensor, no_grad, queue_callback
from ...backend import device
from ..module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("params", "nready", "work", "flat")

    def __init__(self, params):
        self.params = params
        self.nready = 0
        self.work = self.flat = None


def _flatten(xp, arrays):
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def _unflatten_into(flat, tensors, use_grad):
    """Give each tensor (or its .grad) its slice of ``flat``, in order."""
    xp, off = tensors[0].device.xp, 0
    for t in tensors:
        n = t.numel()
        piece = xp.reshape(flat[off:off + n], t.shape)
        off += n
        if use_grad:
            t.grad = Tensor._wrap(piece, t.device)
        else:
            t.array = xp.asarray(piece, copy=True)


def _groups(tensors, cap_bytes=None):
    """Consecutive runs of tensors of one dtype and device, each at most ``cap_bytes`` (but
    at least one tensor)."""
    out, cur, size, key = [], [], 0, None
    for t in tensors:
        k = (t.device, t.dtype)
        nbytes = t.numel() * t.array.dtype.itemsize
        if cur and (k != key or (cap_bytes is not None and size + nbytes > cap_bytes)):
            out.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += nbytes
        key = k
    if cur:
        out.append(cur)
    return out


def broadcast_coalesced(tensors, src=0):
    """Every rank's tensors take rank ``src``'s values, one collective per dtype and device."""
    with no_grad():
        for group in _groups(tensors):
            xp = group[0].device.xp
            flat = Tensor._wrap(_flatten(xp, [t.array for t in group]), group[0].device)
            dist.broadcast(flat, src)
            _unflatten_into(flat.array, group, use_grad=False)


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``backward`` leaves on every rank the gradient averaged over
    all ranks (PyTorch's ``DistributedDataParallel``). Needs ``init_process_group()`` first.

    ``device_ids``: None, or ``[device]`` where all of the module lives. ``bucket_cap_mb``:
    gradient bucket size. ``broadcast_buffers``: before each training forward, buffers
    (BatchNorm's running statistics) take rank 0's values. State-dict keys carry the
    ``module.`` prefix, as PyTorch's."""

    def __init__(self, module, device_ids=None, bucket_cap_mb=25, broadcast_buffers=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got "
                            f"{type(module).__name__}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel needs the default process group: "
                               "call arrayneedle.distributed.init_process_group() first")
        if bucket_cap_mb is None or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = bucket_cap_mb
        self.device_ids = self._check_devices(module, device_ids)
        params = [p for p in module.parameters() if p.requires_grad]
        broadcast_coalesced(list(module.parameters()) + list(module.buffers()))
        self._require_sync = True
        self._buckets = [_Bucket(g) for g in
                         _groups(params[::-1], int(bucket_cap_mb * 2 ** 20))]
        self._bucket_of = {id(p): i for i, b in enumerate(self._buckets) for p in b.params}
        self._next = 0            # buckets started in this backward, in index order
        self._in_backward = False
        ref = weakref.ref(self)   # a hook must not keep the wrapper (and its buffers) alive

        def hook(p):
            ddp = ref()
            if ddp is not None:
                ddp._grad_ready(p)

        self._handles = [p.register_post_accumulate_grad_hook(hook) for p in params]

    @staticmethod
    def _check_devices(module, device_ids):
        if device_ids is None:
            return None
        if not isinstance(device_ids, (list, tuple)) or len(device_ids) != 1:
            raise ValueError(f"DistributedDataParallel: device_ids must be None or a list of "
                             f"one device (one device per rank), got {device_ids!r}")
        dev = device(device_ids[0])
        wrong = sorted({str(t.device) for t in list(module.parameters()) + list(module.buffers())
                        if t.device is not dev})
        if wrong:
            raise ValueError(f"DistributedDataParallel: device_ids={device_ids!r} but the "
                             f"module has tensors on {', '.join(wrong)}; move it with "
                             f".to({str(dev)!r}) first")
        return [dev]

    def forward(self, *args, **kwargs):
        if self._in_backward:  # the last backward raised before it finished: start afresh
            self._reset()
        if self.broadcast_buffers and self.training:
            bufs = list(self.module.buffers())
            if bufs:
                broadcast_coalesced(bufs)
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Inside, backward only accumulates local gradients (gradient accumulation); the
        first backward after it averages everything accumulated."""
        prev = self._require_sync
        self._require_sync = False
        try:
            yield
        finally:
            self._require_sync = prev

    # ---- during backward ----
    def _grad_ready(self, p):
        index = self._bucket_of.get(id(p))
        # a deep copy of a parameter (an EMA model's) carries the hook along: not ours
        if not self._require_sync or index is None:
            return
        if not self._in_backward:
            self._in_backward = True
            queue_callback(self._finish_backward)
        b = self._buckets[index]
        b.nready += 1
        while self._next < len(self._buckets) and \
                self._buckets[self._next].nready == len(self._buckets[self._next].params):
            self._start(self._buckets[self._next])
            self._next += 1
        # MPI advances a started collective only when it is polled
        for bk in self._buckets[:self._next]:
            if bk.work is not None and not bk.work.is_completed():
                break

    def _start(self, b):
        dev = b.params[0].device
        xp = dev.xp
        grads = [p.grad.array if p.grad is not None else xp.zeros(p.array.shape, dtype=p.dtype)
                 for p in b.params]
        b.flat = Tensor._wrap(_flatten(xp, grads), dev)
        b.work = dist.all_reduce(b.flat, dist.ReduceOp.AVG, async_op=True)

    def _finish_backward(self):
        try:
            while self._next < len(self._buckets):
                self._start(self._buckets[self._next])
                self._next += 1
            for b in self._buckets:
                b.work.wait()
                _unflatten_into(b.flat.array, b.params, use_grad=True)
        finally:
            self._reset()

    def _reset(self):
        for b in self._buckets:
            b.nready, b.work, b.flat = 0, None, None
        self._next = 0
        self._in_backward = False

    def extra_repr(self):
        return f"bucket_cap_mb={self.bucket_cap_mb}, broadcast_buffers={self.broadcast_buffers}"
