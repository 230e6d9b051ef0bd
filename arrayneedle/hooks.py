"""Process-wide observers of every ``Function`` (profilers, benchmarks) and the handle that
every ``register_*_hook`` returns."""
from __future__ import annotations

__all__ = ["RemovableHandle", "register_function_hook"]


class RemovableHandle:
    """What a ``register_*_hook`` call returns: ``remove()`` unregisters the hook (a second call
    does nothing); as a context manager it removes the hook on exit."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook
        hooks.append(hook)

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# Read by Function.apply and the backward walk with one truth test, so a process without
# observers pays nothing else.
_function_hooks: list = []


def register_function_hook(hook) -> RemovableHandle:
    """Observe every ``Function``'s forward and backward, process-wide (profilers, benchmarks).

    ``hook(fn, phase, arrays, params)`` runs just before ``fn.forward`` (``phase`` "forward",
    ``arrays`` the raw input arrays, ``params`` the keyword parameters) or ``fn.backward``
    (``phase`` "backward", ``arrays`` ``(grad_out,)``, ``params`` ``{}``). ``fn`` is the
    Function object: ``type(fn)`` names the op, ``fn.needs_input_grad`` tells which input
    gradients were asked for (none: no graph node is kept), and the same object is seen again
    at its backward. The hook may return a callable, which is called with the result (forward:
    the output array; backward: what ``backward`` returned) right after. Hooks observe only:
    they must not change the arrays. Returns a ``RemovableHandle``."""
    if not callable(hook):
        raise TypeError(f"register_function_hook expects a callable, got {type(hook).__name__}")
    return RemovableHandle(_function_hooks, hook)


def _observed(fn, phase, method, arrays, params):
    after = [a for a in (h(fn, phase, arrays, params) for h in tuple(_function_hooks))
             if a is not None]
    out = method(*arrays, **params)
    for a in after:
        a(out)
    return out
