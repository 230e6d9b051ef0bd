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
           "synchronize", "empty_cache", "memory_allocated", "memory_reserved",
           "max_memory_allocated", "reset_peak_memory_stats", "get_device_name",
           "get_device_capability", "is_bf16_supported"]


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


_PEAK = {"tracking": False, "peak": 0}


def _track_peak(cupy):
    """From the first peak query on, every CuPy allocation goes through a wrapper of the
    default pool's ``malloc`` that records the largest ``used_bytes`` seen (a Python call per
    allocation, paid only by programs that ask for peaks)."""
    if _PEAK["tracking"]:
        return
    pool = cupy.get_default_memory_pool()

    def malloc(size):
        mem = pool.malloc(size)
        used = pool.used_bytes()
        if used > _PEAK["peak"]:
            _PEAK["peak"] = used
        return mem

    cupy.cuda.set_allocator(malloc)
    _PEAK["tracking"] = True
    _PEAK["peak"] = pool.used_bytes()


def max_memory_allocated(device=None) -> int:
    """The most bytes live arrays held in CuPy's pool since the first call to this (or to
    ``reset_peak_memory_stats``); 0 without a GPU, as PyTorch on a machine without CUDA."""
    if not is_available():
        return 0
    import cupy
    _track_peak(cupy)
    return int(max(_PEAK["peak"], cupy.get_default_memory_pool().used_bytes()))


def reset_peak_memory_stats(device=None) -> None:
    """Start a new peak at the bytes in use now (nothing to do without a GPU)."""
    if is_available():
        import cupy
        _track_peak(cupy)
        _PEAK["peak"] = int(cupy.get_default_memory_pool().used_bytes())


def get_device_name(device=None) -> str:
    """The GPU's name, as CUDA reports it."""
    cupy = _require("get_device_name")
    idx = 0 if device is None else _index(device)
    name = cupy.cuda.runtime.getDeviceProperties(idx)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device=None):
    """(major, minor) compute capability of the GPU."""
    cupy = _require("get_device_capability")
    cc = cupy.cuda.Device(0 if device is None else _index(device)).compute_capability
    return int(cc[:-1]), int(cc[-1])


def get_device_properties(device=None):
    """The GPU's properties (name, total_memory, major, minor, multi_processor_count), from
    CUDA's own report."""
    cupy = _require("get_device_properties")
    idx = 0 if device is None else _index(device)
    p = cupy.cuda.runtime.getDeviceProperties(idx)
    name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
    from types import SimpleNamespace
    return SimpleNamespace(name=name, total_memory=int(p["totalGlobalMem"]),
                           major=int(p["major"]), minor=int(p["minor"]),
                           multi_processor_count=int(p["multiProcessorCount"]))


def memory_summary(device=None, abbreviated=False) -> str:
    """A few lines on the memory of CuPy's pool: in use, held, peak."""
    mib = 1024 * 1024
    return (f"arrayneedle memory summary (CuPy's default pool)\n"
            f"allocated: {memory_allocated(device) / mib:.1f} MiB\n"
            f"reserved:  {memory_reserved(device) / mib:.1f} MiB\n"
            f"peak:      {max_memory_allocated(device) / mib:.1f} MiB\n")


class Event:
    """``cuda.Event(enable_timing=False, blocking=False, interprocess=False)``: a marker in
    the GPU's stream; ``record()``, ``synchronize()``, ``query()``, and
    ``start.elapsed_time(end)`` in milliseconds (CuPy's events)."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        cupy = _require("Event")
        self._cupy = cupy
        self._event = cupy.cuda.Event(block=blocking, disable_timing=not enable_timing,
                                      interprocess=interprocess)

    def record(self, stream=None):
        self._event.record(stream)

    def synchronize(self):
        self._event.synchronize()

    def query(self) -> bool:
        return bool(self._event.done)

    def wait(self, stream=None):
        (stream or self._cupy.cuda.get_current_stream()).wait_event(self._event)

    def elapsed_time(self, end_event) -> float:
        return float(self._cupy.cuda.get_elapsed_time(self._event, end_event._event))


def is_bf16_supported(including_emulation=True) -> bool:
    """False: arrayneedle has no bfloat16 (NumPy and CuPy have no such dtype)."""
    return False


current_device_idx, set_device_idx = current_device_index, set_device_index


def _out_of_memory_error():
    """CuPy's out-of-memory exception where CuPy is installed (what a failed GPU allocation
    raises here), else a RuntimeError subclass of PyTorch's name that nothing raises."""
    try:
        from cupy.cuda.memory import OutOfMemoryError as found
        return found
    except ImportError:
        return type("OutOfMemoryError", (RuntimeError,), {
            "__doc__": "A GPU allocation failed (never raised without CuPy).",
            "__module__": "arrayneedle.cuda"})


OutOfMemoryError = _out_of_memory_error()


def _attach():
    # torch.cuda's spellings of the same facts
    c = backend.cuda
    c.current_device, c.set_device, c.empty_cache = (current_device_index, set_device_index,
                                                     empty_cache)
    c.memory_allocated, c.memory_reserved = memory_allocated, memory_reserved
    c.max_memory_allocated, c.reset_peak_memory_stats = (max_memory_allocated,
                                                         reset_peak_memory_stats)
    c.get_device_name, c.get_device_capability = get_device_name, get_device_capability
    c.is_bf16_supported = is_bf16_supported
    c.get_device_properties, c.memory_summary, c.Event = (get_device_properties,
                                                           memory_summary, Event)
    c.OutOfMemoryError = OutOfMemoryError
    from . import amp
    c.amp = amp  # torch.cuda.amp.GradScaler / autocast


_attach()
