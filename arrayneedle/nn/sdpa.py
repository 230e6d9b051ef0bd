"""``nn.attention.SDPBackend`` and ``sdpa_kernel``: PyTorch's choice of attention kernel.

arrayneedle has one kernel for ``F.scaled_dot_product_attention``: the plain composition of
matmul, softmax and matmul, PyTorch's MATH backend. ``sdpa_kernel`` accepts any list that
includes MATH (the region runs as before) and refuses, on entry, a list without it, since no
kernel could run there (PyTorch raises too when none of the allowed kernels fits)."""
from __future__ import annotations

import contextlib
import enum

__all__ = ["SDPBackend", "sdpa_kernel"]


class SDPBackend(enum.IntEnum):
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Run the block with ``backends`` (one or a list) allowed; MATH must be among them."""
    allowed = list(backends) if isinstance(backends, (list, tuple, set)) else [backends]
    if not all(isinstance(b, SDPBackend) for b in allowed):
        raise TypeError("sdpa_kernel: backends must be SDPBackend members")
    if SDPBackend.MATH not in allowed:
        names = ", ".join(b.name for b in allowed)
        raise RuntimeError(f"sdpa_kernel: arrayneedle has only the MATH attention kernel; "
                           f"none of {names} is available")
    yield
