"""What the benchmark needs from arrayneedle and has no public name yet.

Each function below is the one place that reaches past the public API, marked ``ADAPTER``;
when the public name exists, its body becomes a one-line call to it.
"""
from __future__ import annotations


def openblas_tuned():
    """Whether arrayneedle set ``OPENBLAS_THREAD_TIMEOUT`` before NumPy loaded (recorded in the
    results so that runs with and without the setting are not compared unknowingly)."""
    import arrayneedle
    return arrayneedle.startup_info()["openblas_thread_timeout"]


class _ForwardHooks:
    def __init__(self, module, pre, post):
        self.module = module
        inner = type(module).forward.__get__(module)

        def forward(*args, **kwargs):
            pre(module)
            try:
                return inner(*args, **kwargs)
            finally:
                post(module)

        module.forward = forward

    def remove(self):
        self.module.__dict__.pop("forward", None)


def forward_hooks(module, pre, post):
    """Call ``pre(module)`` before and ``post(module)`` after each forward of ``module`` (one
    layer instance); returns a handle whose ``remove()`` undoes it."""
    # ADAPTER (no public hook): swap for PyTorch's module.register_forward_pre_hook and
    # module.register_forward_hook once arrayneedle.nn.Module has them.
    return _ForwardHooks(module, pre, post)
