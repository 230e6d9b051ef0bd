"""``backends.cudnn``: the flags of ``torch.backends.cudnn``. arrayneedle's GPU kernels are
CuPy's and its own (not cuDNN's): ``is_available()`` is False, ``version()`` None, and the flags
keep what a program sets. ``benchmark`` has nothing to search (one kernel per op) and every
kernel is deterministic whatever ``deterministic`` says."""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10


def is_available() -> bool:
    return False


def version():
    return None
