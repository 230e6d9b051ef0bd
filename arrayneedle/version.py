"""``arrayneedle.version``: ``__version__``, and ``cuda``: the CUDA runtime version CuPy was
built for ("12.4"...), or None without CuPy (as ``torch.version.cuda`` on a CPU build)."""
__version__ = "0.1.0"


def _cuda():
    try:
        import cupy
        v = int(cupy.cuda.runtime.runtimeGetVersion())
    except Exception:  # noqa: BLE001 - no CuPy, or no driver: no CUDA
        return None
    return f"{v // 1000}.{(v % 1000) // 10}"


def __getattr__(name):  # looked up when read, so importing arrayneedle never loads CuPy
    if name == "cuda":
        return _cuda()
    raise AttributeError(f"module 'arrayneedle.version' has no attribute {name!r}")
