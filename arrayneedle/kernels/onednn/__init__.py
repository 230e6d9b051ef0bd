"""oneDNN's CPU primitives through its C API (ctypes, no compiled extension): convolution,
transposed convolution and max-pooling for float32 NCHW arrays; per-channel elementwise
chains (``binary.py``) from which ``kernels/cpu.py`` builds channel_affine and batch
normalisation, and broadcasting binary maps (group normalisation's passes, ``cpu_norm.py``);
elementwise activations (``eltwise.py``) for float32 arrays of any shape; softmax along one
axis (``softmax.py``); layer normalisation of rows (``norm.py``), on which group
normalisation runs; matrix products of float32 arrays of any positive strides, batch axes
broadcast (``matmul.py``). (oneDNN's own
batch-normalisation primitive is not used: its statistics lose precision when a channel's mean
is much larger than its std, and on plain NCHW layouts its ``ncsp_bnorm`` was slower than
NumPy; see BENCHMARKS.md.)

The library is the ``onednn-cpu-gomp`` wheel (oneDNN v3.2, needs only the system's
``libgomp.so.1``). It is loaded on first use; where it does not load (another platform, no
wheel, no libgomp) or ``ARRAYNEEDLE_KERNELS=numpy`` is set, ``runtime()`` is None and
``kernels/cpu.py`` computes with its NumPy kernels. ``info()`` says which path runs and why.
Only ``kernels/cpu.py`` calls this package (the kernel contract is ``kernels/__init__.py``).

Everything here takes C-contiguous float32 arrays (``matmul``: strided views too) and returns
new ones; the layouts the primitives choose (channel-blocked, ``format_tag_any``) stay inside
each call.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from . import _lib
from ._core import Runtime
from ._lib import DnnlError
from .eltwise import eltwise_backward, eltwise_forward
from .conv import (conv_backward, conv_backward_data, conv_backward_weights, conv_forward,
                   deconv_forward)
from .binary import MIN_SIZE, binary, channel_chain
from .norm import layer_norm_forward
from .pool import MAX_TAPS, maxpool_backward, maxpool_forward
from .softmax import softmax_backward, softmax_forward
from .matmul import element_strides, matmul

__all__ = ["runtime", "info", "usable", "DnnlError", "conv_forward", "conv_backward",
           "conv_backward_data",
           "conv_backward_weights", "deconv_forward", "maxpool_forward", "maxpool_backward",
           "MAX_TAPS", "channel_chain", "binary", "MIN_SIZE", "eltwise_forward",
           "eltwise_backward", "layer_norm_forward", "softmax_forward", "softmax_backward",
           "matmul", "element_strides"]

_lock = threading.Lock()
_state = {"loaded": False, "rt": None, "reason": None, "omp_spin": False}


def runtime():
    """The loaded library's engine and stream, or None (the reason is in ``info()``)."""
    if not _state["loaded"]:
        with _lock:
            if not _state["loaded"]:
                from ..._startup import tune_openmp_spin

                def before_dlopen():  # libgomp reads its settings when it loads, with oneDNN
                    _state["omp_spin"] = tune_openmp_spin()
                lib, reason = _lib.load(before_dlopen)
                if lib is not None:
                    try:
                        _state["rt"] = Runtime(lib)
                    except _lib.DnnlError as e:
                        reason = f"oneDNN loaded but failed to start: {e}"
                _state["reason"] = reason
                _state["loaded"] = True
    return _state["rt"]


def _forked_child():
    """GNU OpenMP's thread pool does not survive ``fork``: a oneDNN primitive in a child of a
    process that ran one waits forever for the parent's threads. Such a child computes with the
    NumPy kernels (a child of a process that never loaded oneDNN loads its own)."""
    if _state["rt"] is not None:
        _state["rt"] = None  # not destroyed: nothing of it may be called in this process
        _state["reason"] = ("a forked child of a process that ran oneDNN (GNU OpenMP's threads "
                            "do not survive fork)")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked_child)


def usable(*arrays):
    """The runtime when oneDNN can compute on ``arrays`` (non-empty float32 NumPy arrays),
    else None."""
    if any(a is not None and (a.dtype != np.float32 or a.size == 0) for a in arrays):
        return None
    return runtime()


def info():
    """``{"kernels": "onednn" or "numpy", "reason": why NumPy (None on oneDNN),
    "gomp_spincount": True when arrayneedle set OpenMP's spin before oneDNN loaded}``."""
    rt = runtime()
    return {"kernels": "numpy" if rt is None else "onednn", "reason": _state["reason"],
            "gomp_spincount": bool(_state["omp_spin"]) and rt is not None}
