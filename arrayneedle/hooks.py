"""Process-wide observers of every ``Function`` (profilers, benchmarks) and the handle that
every ``register_*_hook`` returns."""
from __future__ import annotations

__all__ = ["RemovableHandle", "register_function_hook"]


class RemovableHandle:
    """What every ``register_*_hook`` call returns (one class for Tensor, Module and Function
    hooks): ``remove()`` unregisters the hook (a second call does nothing); as a context
    manager it removes the hook on exit. ``hooks`` is the registry: a dict (the hook is stored
    under the handle's ``id``, as PyTorch's ``RemovableHandle``) or a list."""

    __slots__ = ("_hooks", "_hook", "id")
    _next_id = 0

    def __init__(self, hooks, hook):
        RemovableHandle._next_id += 1
        self.id = RemovableHandle._next_id
        self._hooks, self._hook = hooks, hook
        if isinstance(hooks, dict):
            hooks[self.id] = hook
        else:
            hooks.append(hook)

    def remove(self):
        hooks = self._hooks
        if isinstance(hooks, dict):
            hooks.pop(self.id, None)
        elif self._hook in hooks:
            hooks.remove(self._hook)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# Read by Function.apply and the backward walk with one truth test, so a process without
# observers pays nothing else.
_function_hooks: list = []
# Non-zero while a backward formula runs under observation: the ops it is made of are part of
# that backward, not forwards of their own, so they are not reported separately.
_quiet = [0]


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
    """Call ``method`` with every function hook observing. A backward is shown its raw
    arrays: the gradient in, the gradients out."""
    shown = arrays if phase == "forward" else tuple(getattr(a, "_array", a) for a in arrays)
    after = [a for a in (h(fn, phase, shown, params) for h in tuple(_function_hooks))
             if a is not None]
    if phase == "forward":
        out = method(*arrays, **params)
        res = out
    else:
        _quiet[0] += 1
        try:
            out = method(*arrays, **params)
        finally:
            _quiet[0] -= 1
        res = (tuple(None if r is None else getattr(r, "_array", r) for r in out)
               if isinstance(out, (tuple, list)) else getattr(out, "_array", out))
    for a in after:
        a(res)
    return out
