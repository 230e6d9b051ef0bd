"""Devices, their array namespaces and random generators.

This module and ``arrayneedle/kernels`` are the only places that know which array library
(NumPy or CuPy) sits underneath. Everything else asks an array for its namespace with
``array_api_compat.array_namespace`` and computes through the Python array API.

Each kind of device is a subclass of ``Device``: ``CPUDevice`` (NumPy), ``CUDADevice`` (CuPy,
one per GPU) and ``NamespaceDevice`` (any other array-API namespace, e.g. array-api-strict).
"""
from __future__ import annotations

import contextlib
import threading

import array_api_compat
import numpy as _np

from .dtypes import (DTYPE_OBJECTS, DTYPES, NUMPY_SCALARS, DType, dtype_name,  # noqa: F401
                     dtype_object, get_dtype, is_array)

__all__ = [
    "Device", "CPUDevice", "CUDADevice", "NamespaceDevice", "cpu", "cuda", "device",
    "device_of", "to_device", "to_numpy", "manual_seed", "get_dtype", "dtype_name", "DTYPES",
    "cuda_available", "cuda_device_count", "cuda_unavailable_reason", "DType", "DTYPE_OBJECTS",
    "dtype_object", "NUMPY_SCALARS",
]

_GLOBAL_SEED = None  # set by manual_seed; devices created later start from it too
_CUDA_HINT = ('install CuPy for your CUDA version: pip install "arrayneedle[cuda12]" '
              '(or "arrayneedle[cuda13]")')
_GENERATOR_FLOATS = ("float32", "float64")  # the float dtypes NumPy's and CuPy's draws take


def _import_cupy():
    try:
        import cupy
    except Exception as e:  # ImportError, or a CuPy that fails to find its CUDA libraries
        raise RuntimeError(f"CUDA device requested but CuPy could not be imported "
                           f"({type(e).__name__}: {e}); {_CUDA_HINT}") from None
    return cupy


def _probe_cuda():
    """(number of visible GPUs, why it is 0 or None)."""
    try:
        cupy = _import_cupy()
    except RuntimeError as e:
        return 0, str(e)
    try:
        n = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # e.g. cudaErrorInsufficientDriver: the wheel needs a newer driver
        return 0, f"CuPy could not initialise CUDA ({type(e).__name__}: {e})"
    return n, None if n > 0 else "CuPy is installed but sees no CUDA GPU"


def cuda_device_count() -> int:
    """Number of visible CUDA devices; 0 when CuPy or a GPU is missing (never raises: the
    reason is ``cuda_unavailable_reason()``)."""
    return _probe_cuda()[0]


def cuda_unavailable_reason() -> str | None:
    """Why no CUDA device can be used (the import or CUDA error, as one line), or None when
    at least one GPU is visible."""
    return _probe_cuda()[1]


def cuda_available() -> bool:
    return cuda_device_count() > 0


class Device:
    """A place where arrays live: ``cpu``, ``cuda:N``, or any other array-API namespace.

    ``Device(kind, index=0, xp=None)`` returns the one device of that kind (devices are
    cached singletons). A device knows its array namespace (``xp``) and owns a random
    generator, so that ``manual_seed`` makes every device reproducible.

    Each subclass defines ``asarray(data, dtype=None)``: ``data`` (an array of any library, a
    list or a scalar) on this device. The base class draws random numbers with a NumPy
    generator on the host and moves them to the device with ``_from_host``; ``CUDADevice``
    draws on the GPU instead.
    """

    _cache: dict = {}
    _lock = threading.Lock()
    index = None

    def __new__(cls, kind: str, index: int = 0, xp=None):
        sub = cls if cls is not Device else (  # Device(kind) picks the subclass
            {"cpu": CPUDevice, "cuda": CUDADevice}.get(kind, NamespaceDevice))
        key = sub._key(kind, index, xp)
        with Device._lock:
            dev = Device._cache.get(key)
            if dev is None:
                dev = object.__new__(sub)
                dev._init(kind, index, xp)
                dev._seed = None
                dev.seed(_GLOBAL_SEED)
                Device._cache[key] = dev
        return dev

    # ---- random numbers (one generator per device) ----
    def seed(self, s):
        self._seed = s
        self.rng = _np.random.default_rng(s)

    @contextlib.contextmanager
    def fork_rng(self, seed):
        """Draw from a fresh generator seeded with ``seed`` inside the block, then continue the
        device's own stream exactly where it was (e.g. sample grids during training without
        changing the training run's random numbers)."""
        saved, saved_seed = self.rng, self._seed
        self.seed(seed)
        try:
            yield self
        finally:
            self.rng, self._seed = saved, saved_seed

    def _from_host(self, host_array):
        return host_array

    def _draw(self, method, shape, dtype):
        dt = dtype_name(dtype)  # other dtypes than the generator's are cast from float64
        a = getattr(self.rng, method)(shape, dtype=dt if dt in _GENERATOR_FLOATS else "float64")
        return self._from_host(a if a.dtype == dt else a.astype(dt))

    def randn(self, shape, dtype="float32"):
        return self._draw("standard_normal", shape, dtype)

    def rand(self, shape, dtype="float32"):
        return self._draw("random", shape, dtype)

    def randint(self, low, high, shape, dtype="int64"):
        return self._from_host(self.rng.integers(low, high, size=shape, dtype=dtype_name(dtype)))

    def permutation(self, n):
        """A random permutation of range(n) as a host (NumPy) array; used by data loaders."""
        return self.rng.permutation(n)

    def get_rng_state(self):
        """The generator state as a dict of plain values (NumPy's PCG64 state). It restores on
        the CPU and on any other host-generator device, not on CUDA."""
        return self.rng.bit_generator.state

    def set_rng_state(self, state):
        _check_rng_state(state, "host", self)
        self.rng.bit_generator.state = state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def synchronize(self):
        """Wait for the device's queued work (nothing to wait for off the GPU)."""

    def __repr__(self):
        return f"device({str(self)!r})"

    @property
    def type(self) -> str:
        """The device kind, as ``torch.device.type``: "cpu", "cuda", or the namespace's."""
        return self.kind

    def __str__(self):
        return self.kind

    # devices are singletons: copying a model keeps pointing at the same device
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (device, (str(self),))


class CPUDevice(Device):
    """NumPy arrays in host memory."""

    @staticmethod
    def _key(kind, index, xp):
        return ("cpu", 0, None)

    def _init(self, kind, index, xp):
        import array_api_compat.numpy as npx
        self.kind, self.xp = "cpu", npx

    def asarray(self, data, dtype=None):
        a = to_numpy(data)
        dt = None if dtype is None else get_dtype(self.xp, dtype)
        return a if dt is None or a.dtype == dt else a.astype(dt)


class NamespaceDevice(Device):
    """Any other array-API namespace ``xp`` (one device per namespace)."""

    @staticmethod
    def _key(kind, index, xp):
        if xp is None:
            raise ValueError(f"unknown device kind {kind!r}; expected 'cpu' or 'cuda'")
        return (kind, 0, xp.__name__)

    def _init(self, kind, index, xp):
        self.kind, self.xp = kind, xp

    def _from_host(self, host_array):
        return self.xp.asarray(host_array)

    def asarray(self, data, dtype=None):
        dt = None if dtype is None else get_dtype(self.xp, dtype)
        if not is_array(data) or array_api_compat.array_namespace(data) is not self.xp:
            data = to_numpy(data)
        return self.xp.asarray(data, dtype=dt)

    def __reduce__(self):
        raise TypeError(f"a device of the array library {self.kind!r} cannot be pickled")


class CUDADevice(Device):
    """CuPy arrays on GPU ``index``; random numbers are drawn on that GPU."""

    @staticmethod
    def _key(kind, index, xp):
        return ("cuda", int(index), None)

    def _init(self, kind, index, xp):
        cupy = _import_cupy()
        n, reason = _probe_cuda()
        if n == 0:
            raise RuntimeError(f"CUDA device requested but unavailable: {reason}; {_CUDA_HINT}")
        if not 0 <= index < n:
            raise RuntimeError(f"CUDA device index {index} out of range: {n} device(s) visible")
        import array_api_compat.cupy as cpx
        self.kind, self.index, self.xp, self._cupy = "cuda", int(index), cpx, cupy

    def _on(self):
        return self._cupy.cuda.Device(self.index)

    def seed(self, s):
        self._seed = s
        with self._on():
            self.rng = self._cupy.random.default_rng(s)

    def _draw(self, method, shape, dtype):
        dt = dtype_name(dtype)  # CuPy draws float32/float64 only: float16 is cast from float32
        with self._on():
            a = getattr(self.rng, method)(shape, dtype=dt if dt in _GENERATOR_FLOATS else "float32")
            return a if a.dtype == dt else a.astype(dt)

    def randint(self, low, high, shape, dtype="int64"):
        with self._on():
            return self.rng.integers(low, high, size=shape, dtype=dtype_name(dtype))

    def permutation(self, n):
        # CuPy's Generator has no permutation: the order that sorts n uniform draws is a
        # uniformly random permutation (a tie between float64 draws still gives a permutation)
        with self._on():
            keys = self.rng.random(int(n), dtype="float64")
            return self._cupy.asnumpy(self._cupy.argsort(keys))

    def get_rng_state(self):
        """``{"device": "cuda", "seed": s}``: CuPy's generator state stays on the GPU, so the
        state is the seed and restoring it restarts that seed's stream. It restores on CUDA
        only (any GPU); the CPU refuses it with a ValueError."""
        return {"device": "cuda", "seed": self._seed}

    def set_rng_state(self, state):
        _check_rng_state(state, "cuda", self)
        self.seed(state["seed"])

    def asarray(self, data, dtype=None):
        dt = None if dtype is None else get_dtype(self.xp, dtype)
        with self._on():
            if array_api_compat.is_cupy_array(data):
                a = data if data.device.id == self.index else self._cupy.asarray(data)
            else:
                a = self._cupy.asarray(to_numpy(data))
            return a if dt is None or a.dtype == dt else a.astype(dt)

    def __enter__(self):
        self._ctx = self._on()
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)

    def synchronize(self):
        with self._on():
            self._cupy.cuda.get_current_stream().synchronize()

    def __str__(self):
        return f"cuda:{self.index}"


def _check_rng_state(state, kind, dev):
    """Refuse, with a ValueError naming both devices, a generator state that the device's
    generator cannot continue: a CUDA state (a seed) on a host generator, or a NumPy
    bit-generator state on CUDA."""
    if not isinstance(state, dict):
        raise TypeError(f"set_rng_state on {dev}: expected the dict get_rng_state returns, "
                        f"got {type(state).__name__}")
    saved = "cuda" if state.get("device") == "cuda" or (
        "seed" in state and "bit_generator" not in state) else "host"
    if saved != kind:
        where = "cuda (a CuPy seed)" if saved == "cuda" else "cpu (a NumPy generator)"
        raise ValueError(f"cannot restore a random-generator state saved on {where} on device "
                         f"{dev}: resume on the device kind that saved it, or start a fresh "
                         f"stream with manual_seed")


def to_numpy(array):
    """``array`` (of any array library, or a nested list or scalar) as a NumPy array in host
    memory; NumPy input is returned as is (no copy)."""
    if isinstance(array, _np.ndarray):
        return array
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if not is_array(array):
        return _np.asarray(array)
    try:
        return _np.asarray(array)
    except Exception:
        return _np.from_dlpack(array)


def cpu() -> Device:
    return Device("cpu")


class _Cuda:
    """``arrayneedle.cuda``: called, the Device of a GPU (``an.cuda(0)``); and PyTorch's
    ``torch.cuda`` functions as attributes: ``is_available()``, ``device_count()``,
    ``manual_seed(s)``, ``synchronize(device=None)``."""

    def __call__(self, index: int = 0) -> Device:
        return Device("cuda", int(index))

    @staticmethod
    def is_available() -> bool:
        return cuda_available()

    @staticmethod
    def device_count() -> int:
        return cuda_device_count()

    def manual_seed(self, seed: int):
        """Seed the generator of every visible GPU (nothing to do without one)."""
        for i in range(cuda_device_count()):
            self(i).seed(int(seed))

    manual_seed_all = manual_seed

    def synchronize(self, device=None):
        (self(0) if device is None else globals()["device"](device)).synchronize()

    def __repr__(self):
        return "<arrayneedle.cuda>"


cuda = _Cuda()


def device(spec=None) -> Device:
    """``device("cpu")``, ``device("cuda")``, ``device("cuda:1")`` or a Device (returned as is)."""
    if spec is None:
        return cpu()
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0' or a Device, got {spec!r}")
    s = spec.strip().lower()
    if s == "cpu":
        return cpu()
    if s == "cuda":
        return cuda(0)
    if s.isdigit():
        return cuda(int(s))
    if s.startswith("cuda:") and s[5:].isdigit():
        return cuda(int(s[5:]))
    raise ValueError(f"unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def device_of(array) -> Device:
    """The Device an array lives on."""
    if isinstance(array, (_np.ndarray, _np.generic)):
        return cpu()
    if array_api_compat.is_cupy_array(array):
        return cuda(array.device.id)
    xp = array_api_compat.array_namespace(array)
    if array_api_compat.is_numpy_namespace(xp):
        return cpu()
    return Device(xp.__name__, 0, xp)


def to_device(array, dev) -> "object":
    """Copy ``array`` to ``dev`` (no copy when already there)."""
    dev = device(dev)
    if device_of(array) is dev:
        return array
    return dev.asarray(array)


def manual_seed(s: int):
    """Seed the generator of every device (created now or later) with ``s``."""
    global _GLOBAL_SEED
    _GLOBAL_SEED = int(s)
    for dev in list(Device._cache.values()):
        dev.seed(_GLOBAL_SEED)
