"""Gradient mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``
(per thread, as PyTorch)."""
from __future__ import annotations

import functools
import threading

__all__ = ["is_grad_enabled", "set_grad_enabled", "no_grad", "enable_grad", "inference_mode"]

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


def _set_mode(mode):
    _state.grad_enabled = bool(mode)


class _GradMode:
    """Sets gradient mode on ``__enter__`` and restores the previous mode on exit; also a
    decorator."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set_mode(self.mode)
        return self

    def __exit__(self, *exc):
        _set_mode(self.prev)

    def __call__(self, fn):  # usable as a decorator
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with _GradMode(self.mode):
                return fn(*a, **k)
        return wrapper


class set_grad_enabled(_GradMode):
    """PyTorch's ``set_grad_enabled(mode)``: sets the mode when called (so a plain call works
    as a function), and as a context manager restores the mode that was active before the
    call on exit."""

    def __init__(self, mode):
        super().__init__(mode)
        self.prev = is_grad_enabled()
        _set_mode(self.mode)

    def __enter__(self):
        return self

    def __call__(self, fn):
        # used as a decorator: the call that built it must not change the mode for good
        _set_mode(self.prev)
        return super().__call__(fn)


def no_grad():
    """Context manager (or decorator) under which no graph is built."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


def inference_mode(mode=True):
    """PyTorch's ``inference_mode``: here the same as ``no_grad`` (``mode=False`` enables
    gradients)."""
    return _GradMode(not mode)
