"""``arrayneedle.accelerator``: PyTorch's device-agnostic accelerator API (``torch.accelerator``).

The one accelerator arrayneedle drives is a CUDA GPU through CuPy: ``current_accelerator()`` is
``device("cuda")`` when CuPy sees a GPU and ``None`` otherwise (PyTorch's answer on a machine
without one), so ``device = accelerator.current_accelerator() or "cpu"`` picks the GPU when
there is one. Memory figures are those of CuPy's default memory pool.
"""
from __future__ import annotations

import contextlib

from . import backend

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "current_device_idx", "set_device_index", "set_device_idx", "device_index",
           "synchronize", "empty_cache", "memory_allocated", "memory_reserved"]


def is_available() -> bool:
    """True when an accelerator (a CUDA GPU that CuPy can use) is present."""
    return backend.cuda_available()


def current_accelerator(check_available: bool = False):
    """``device("cuda")`` when CuPy sees a GPU, else None. ``check_available`` is PyTorch's
    flag; here a GPU that is seen is also usable, so it changes nothing."""
    return backend.device("cuda") if is_available() else None


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without one)."""
    return backend.cuda_device_count()


def _require(what):
    if not is_available():
        raise RuntimeError(f"accelerator.{what}: no accelerator is available "
                           f"({backend.cuda_unavailable_reason()})")
    import cupy
    return cupy


def current_device_index() -> int:
    """The index of the current GPU (CuPy's current device)."""
    return int(_require("current_device_index").cuda.Device().id)


def _index(device):
    if isinstance(device, int):
        return device
    d = backend.device(device)
    if d.kind != "cuda":
        raise ValueError(f"accelerator: {d} is not an accelerator device")
    return d.index


def set_device_index(device) -> None:
    """Make GPU ``device`` (an index, ``"cuda:N"`` or a Device) the current one."""
    _require("set_device_index").cuda.Device(_index(device)).use()


@contextlib.contextmanager
def device_index(device):
    """Within the block, GPU ``device`` is the current one (None: no change)."""
    if device is None:
        yield
        return
    with _require("device_index").cuda.Device(_index(device)):
        yield


def synchronize(device=None) -> None:
    """Wait until the GPU's queued work is done."""
    _require("synchronize")
    backend.cuda.synchronize(device)


def empty_cache() -> None:
    """Return the unused blocks of CuPy's memory pool to the GPU (nothing to do without one)."""
    if is_available():
        import cupy
        cupy.get_default_memory_pool().free_all_blocks()


def memory_allocated(device=None) -> int:
    """Bytes held by live arrays in CuPy's memory pool (0 without a GPU)."""
    if not is_available():
        return 0
    import cupy
    return int(cupy.get_default_memory_pool().used_bytes())


def memory_reserved(device=None) -> int:
    """Bytes CuPy's memory pool holds from the GPU, used or cached (0 without a GPU)."""
    if not is_available():
        return 0
    import cupy
    return int(cupy.get_default_memory_pool().total_bytes())


current_device_idx, set_device_idx = current_device_index, set_device_index


def _attach():
    # torch.cuda's spellings of the same facts
    c = backend.cuda
    c.current_device, c.set_device, c.empty_cache = (current_device_index, set_device_index,
                                                     empty_cache)
    c.memory_allocated, c.memory_reserved = memory_allocated, memory_reserved
    if not hasattr(backend.Device, "type"):
        backend.Device.type = property(lambda d: d.kind)  # torch.device.type: "cpu", "cuda"


_attach()
