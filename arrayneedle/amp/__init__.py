"""``arrayneedle.amp``: ``GradScaler`` (dynamic loss scaling, as PyTorch's) and ``autocast``.

Mixed-precision autocasting is not offered: the kernels run in the dtype of their inputs, and
no op switches precision inside a region. ``autocast(..., enabled=False)`` is the plain region
it means in PyTorch; ``enabled=True`` raises an error that says so (cast the model with
``.half()`` / ``.to(dtype)`` for float16 instead)."""
from __future__ import annotations

from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast"]


class autocast:  # noqa: N801 - PyTorch's name
    """``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``; usable as a
    context manager or decorator. Only ``enabled=False`` is offered."""

    __arrayneedle_declined__ = "enabled=True: mixed-precision autocasting is not offered"

    def __init__(self, device_type="cuda", dtype=None, enabled=True, cache_enabled=None):
        if enabled:
            raise RuntimeError("autocast: mixed-precision autocasting is not offered by "
                               "arrayneedle (kernels run in their inputs' dtype); use "
                               "autocast(..., enabled=False), or cast the model with .half()")
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapped
