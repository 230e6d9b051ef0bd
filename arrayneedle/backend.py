"""Devices, their array namespaces and random generators.

This module and ``arrayneedle/kernels`` are the only places that know which array library
(NumPy or CuPy) sits underneath. Everything else asks an array for its namespace with
``array_api_compat.array_namespace`` and computes through the Python array API.
"""
from __future__ import annotations

import contextlib
import threading

import array_api_compat
import numpy as _np

__all__ = [
    "Device", "cpu", "cuda", "device", "device_of", "to_device", "manual_seed",
    "get_dtype", "dtype_name", "DTYPES", "cuda_available", "cuda_device_count",
]

_GLOBAL_SEED = None  # set by manual_seed; devices created later start from it too
DTYPES = ("float32", "float64", "float16", "int64", "int32", "bool", "uint8")
_CUDA_HINT = ('install CuPy for your CUDA version: pip install "arrayneedle[cuda12]" '
              '(or "arrayneedle[cuda13]")')


def _import_cupy():
    try:
        import cupy  # noqa: F401
    except Exception as e:  # ImportError, or a CuPy that fails to find its CUDA libraries
        raise RuntimeError(f"CUDA device requested but CuPy could not be imported ({e}); "
                           f"{_CUDA_HINT}") from None
    return cupy


def cuda_device_count() -> int:
    """Number of visible CUDA devices; 0 when CuPy or a GPU is missing (never raises)."""
    try:
        import cupy
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def cuda_available() -> bool:
    return cuda_device_count() > 0


class Device:
    """A place where arrays live: ``cpu``, ``cuda:N``, or any other array-API namespace.

    A device knows its array namespace (``xp``) and owns a random generator, so that
    ``manual_seed`` makes every device reproducible.
    """

    _cache: dict = {}
    _lock = threading.Lock()

    def __new__(cls, kind: str, index: int = 0, xp=None):
        key = (kind, index if kind == "cuda" else 0, None if xp is None else xp.__name__)
        with cls._lock:
            dev = cls._cache.get(key)
            if dev is None:
                dev = super().__new__(cls)
                dev._init(kind, index, xp)
                cls._cache[key] = dev
        return dev

    def _init(self, kind, index, xp):
        self.kind = kind
        self.index = index if kind == "cuda" else None
        if kind == "cpu":
            import array_api_compat.numpy as npx
            self.xp = npx
        elif kind == "cuda":
            cupy = _import_cupy()
            n = cuda_device_count()
            if n == 0:
                raise RuntimeError(f"CUDA device requested but no GPU is visible to CuPy; {_CUDA_HINT}")
            if not 0 <= index < n:
                raise RuntimeError(f"CUDA device index {index} out of range: {n} device(s) visible")
            import array_api_compat.cupy as cpx
            self.xp = cpx
            self._cupy = cupy
        else:
            if xp is None:
                raise ValueError(f"unknown device kind {kind!r}; expected 'cpu' or 'cuda'")
            self.xp = xp
        self._seed = None
        self.rng = None
        self.seed(_GLOBAL_SEED)

    # ---- random numbers (one generator per device) ----
    def seed(self, s):
        self._seed = s
        if self.kind == "cuda":
            with self._cupy.cuda.Device(self.index):
                self.rng = self._cupy.random.default_rng(s)
        else:
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

    def _host_or_device(self, host_array):
        return host_array if self.kind in ("cpu", "cuda") else self.xp.asarray(host_array)

    def randn(self, shape, dtype="float32"):
        dt = dtype_name(dtype)
        if self.kind == "cuda":
            with self._cupy.cuda.Device(self.index):
                return self.rng.standard_normal(shape, dtype=dt)
        if dt in ("float32", "float64"):
            a = self.rng.standard_normal(shape, dtype=dt)
        else:
            a = self.rng.standard_normal(shape).astype(dt)
        return self._host_or_device(a)

    def rand(self, shape, dtype="float32"):
        dt = dtype_name(dtype)
        if self.kind == "cuda":
            with self._cupy.cuda.Device(self.index):
                return self.rng.random(shape, dtype=dt)
        a = self.rng.random(shape, dtype=dt) if dt in ("float32", "float64") else \
            self.rng.random(shape).astype(dt)
        return self._host_or_device(a)

    def randint(self, low, high, shape, dtype="int64"):
        if self.kind == "cuda":
            with self._cupy.cuda.Device(self.index):
                return self.rng.integers(low, high, size=shape, dtype=dtype_name(dtype))
        return self._host_or_device(self.rng.integers(low, high, size=shape, dtype=dtype_name(dtype)))

    def permutation(self, n):
        """A random permutation of range(n) as a host (NumPy) array; used by data loaders."""
        if self.kind == "cuda":
            return self._cupy.asnumpy(self.rng.permutation(n))
        return self.rng.permutation(n)

    def get_rng_state(self):
        """A JSON-able description of the generator state (CPU only; CUDA returns the seed)."""
        if self.kind == "cuda":
            return {"seed": self._seed}
        return self.rng.bit_generator.state

    def set_rng_state(self, state):
        if self.kind == "cuda":
            self.seed(state.get("seed"))
        else:
            self.rng.bit_generator.state = state

    # ---- arrays ----
    def asarray(self, data, dtype=None):
        """Put ``data`` (array of any library, list, scalar) on this device."""
        dt = None if dtype is None else get_dtype(self.xp, dtype)
        if self.kind == "cuda":
            with self._cupy.cuda.Device(self.index):
                if array_api_compat.is_cupy_array(data):
                    a = data if data.device.id == self.index else self._cupy.asarray(data)
                else:
                    a = self._cupy.asarray(_host(data))
                return a if dt is None or a.dtype == dt else a.astype(dt)
        if self.kind == "cpu":
            a = _host(data)
            a = _np.asarray(a)
            return a if dt is None or a.dtype == dt else a.astype(dt)
        if not _is_array(data) or array_api_compat.array_namespace(data) is not self.xp:
            data = _np.asarray(_host(data))
        return self.xp.asarray(data, dtype=dt)

    def __enter__(self):
        if self.kind == "cuda":
            self._ctx = self._cupy.cuda.Device(self.index)
            self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self.kind == "cuda":
            self._ctx.__exit__(*exc)

    def synchronize(self):
        if self.kind == "cuda":
            with self._cupy.cuda.Device(self.index):
                self._cupy.cuda.get_current_stream().synchronize()

    def __repr__(self):
        return f"device({str(self)!r})"

    def __str__(self):
        if self.kind == "cuda":
            return f"cuda:{self.index}"
        return self.kind

    # devices are singletons: copying a model keeps pointing at the same device
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        if self.kind not in ("cpu", "cuda"):
            raise TypeError(f"a device of the array library {self.kind!r} cannot be pickled")
        return (device, (str(self),))


def _is_array(x):
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float, bool))


def _host(data):
    """Bring any array-like to host memory (NumPy) without copying NumPy input."""
    if array_api_compat.is_cupy_array(data):
        return data.get()
    if isinstance(data, _np.ndarray) or not _is_array(data):
        return data
    try:
        return _np.asarray(data)
    except Exception:
        return _np.from_dlpack(data)


def cpu() -> Device:
    return Device("cpu")


def cuda(index: int = 0) -> Device:
    return Device("cuda", int(index))


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
    if s.startswith("cuda:") and s[5:].isdigit():
        return cuda(int(s[5:]))
    raise ValueError(f"unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def device_of(array) -> Device:
    """The Device an array lives on."""
    if isinstance(array, _np.ndarray) or isinstance(array, _np.generic):
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



_NAMES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int64"}


def dtype_name(dtype) -> str:
    """Canonical string name of a dtype given as a string or a namespace dtype."""
    if isinstance(dtype, str):
        name = _NAMES.get(dtype, dtype)
    else:
        try:
            name = _np.dtype(dtype).name
        except TypeError:
            name = str(dtype).split(".")[-1].strip("'>")
    if name not in DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    return name


def get_dtype(xp, dtype):
    """The namespace's dtype object for ``dtype`` (a string or a dtype)."""
    return getattr(xp, dtype_name(dtype))
