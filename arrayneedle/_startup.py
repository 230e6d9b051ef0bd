"""Process settings arrayneedle makes before NumPy loads. Each is documented in the README and
has an opt-out.

OpenBLAS's worker threads busy-wait for new work for 2**28 cycles (about 0.1 s) after every
matmul before they sleep. In a training step the matmuls alternate with NumPy copies (im2col,
col2im, layout changes) that ``kernels/_parallel.py`` splits over the same cores, so those
copies ran next to spinning BLAS threads. ``OPENBLAS_THREAD_TIMEOUT=16`` makes the workers
spin for 2**16 cycles (tens of microseconds: still no sleep between back-to-back matmuls) and
then give the core back. Measured on the 2-core benchmark machine, together with the threaded
copies: the SimpleUnet 64x64 training step 2-12% and the sampling step 8-11% faster (see
BENCHMARKS.md). OpenBLAS reads the variable once, when NumPy loads it, so this only works when
arrayneedle is imported before NumPy; a value already set is kept, and
``ARRAYNEEDLE_BLAS_TUNING=0`` leaves the environment alone.
"""
from __future__ import annotations

import os
import sys

OPENBLAS_THREAD_TIMEOUT = "16"


def tune_openblas_threads():
    """Set ``OPENBLAS_THREAD_TIMEOUT`` if NumPy is not loaded yet. Returns whether the
    setting in force is ours or the user's (False: NumPy was loaded first, or opted out)."""
    if os.environ.get("ARRAYNEEDLE_BLAS_TUNING", "1") == "0" or "numpy" in sys.modules:
        return False
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    return True


OPENBLAS_TUNED = tune_openblas_threads()
