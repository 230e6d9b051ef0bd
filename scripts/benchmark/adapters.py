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
    """Both hook handles of ``forward_hooks``, removed together."""

    def __init__(self, handles):
        self.handles = handles

    def remove(self):
        for h in self.handles:
            h.remove()


def forward_hooks(module, pre, post):
    """Call ``pre(module)`` before and ``post(module)`` after each forward of ``module`` (one
    layer instance); returns a handle whose ``remove()`` undoes it."""
    return _ForwardHooks([
        module.register_forward_pre_hook(lambda m, args: pre(m)),
        module.register_forward_hook(lambda m, args, out: post(m)),
    ])
