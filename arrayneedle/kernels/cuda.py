"""CuPy kernels: CUDA C sources in ``kernels/cuda/*.cu``, compiled with ``cupy.RawModule``.

CuPy is imported lazily (this module is importable without it). Modules are compiled once per
device and kernels looked up once per (device, kernel, dtype); float32 and float64 have
native kernels, other floating dtypes fall back to the portable implementation. Every kernel
runs one thread per output element with a grid-stride loop; the grid is sized from the
problem (at most 32 blocks of 256 threads per multiprocessor). ``col2im`` and the max-pool
backward are gathers, so results are deterministic (no atomics).

Contracts are those of ``cpu.py`` (the kernels' row-pitch argument R is OW: packed columns).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from . import portable
from .geometry import conv_geometry
from .checks import check_col2im, check_maxpool_backward

_SOURCE_DIR = Path(__file__).with_name("cuda")
_THREADS = 256
_INT32_MAX = 2 ** 31 - 1
_SUFFIX = {"float32": "f32", "float64": "f64"}

_lock = threading.Lock()
_modules: dict = {}    # (device id, source file) -> cupy.RawModule
_functions: dict = {}  # (device id, source file, kernel name) -> cupy.RawKernel
_sm_counts: dict = {}  # device id -> multiprocessor count


def source_files():
    """Paths of the CUDA C sources shipped with the package."""
    return sorted(_SOURCE_DIR.glob("*.cu"))


def _function(source, name):
    import cupy
    dev = cupy.cuda.Device().id
    key = (dev, source, name)
    fn = _functions.get(key)
    if fn is None:
        with _lock:
            mod = _modules.get((dev, source))
            if mod is None:
                code = (_SOURCE_DIR / source).read_text()
                mod = cupy.RawModule(code=code, options=("--std=c++14",))
                _modules[(dev, source)] = mod
            fn = _functions[key] = mod.get_function(name)
    return fn


def _launch(source, name, dtype, total, largest, args):
    """Run kernel ``name`` (dtype-suffixed, 64-bit indexed when needed) over ``total`` items."""
    import cupy
    if total == 0:
        return
    dev = cupy.cuda.Device().id
    sms = _sm_counts.get(dev)
    if sms is None:
        sms = _sm_counts[dev] = cupy.cuda.Device(dev).attributes["MultiProcessorCount"]
    blocks = max(1, min((total + _THREADS - 1) // _THREADS, 32 * sms))
    kernel = f"{name}_{_SUFFIX[np.dtype(dtype).name]}"
    if max(total, largest) + blocks * _THREADS > _INT32_MAX:
        kernel += "_i64"
    _function(source, kernel)((blocks,), (_THREADS,), args)


def _native(dtype):
    return np.dtype(dtype).name in _SUFFIX


def _i32(*values):
    return tuple(np.int32(v) for v in values)


# layout copies and elementwise maps: CuPy's own (already GPU) ufuncs through the portable code
channel_affine = portable.channel_affine
sum_trailing = portable.sum_trailing
channel_sum = portable.channel_sum
channel_dot = portable.channel_dot
relu = portable.relu
relu_backward = portable.relu_backward
silu, silu_backward = portable.silu, portable.silu_backward
gelu, gelu_backward = portable.gelu, portable.gelu_backward
sigmoid, sigmoid_backward = portable.sigmoid, portable.sigmoid_backward
tanh, tanh_backward = portable.tanh, portable.tanh_backward
softmax, softmax_backward = portable.softmax, portable.softmax_backward
swap01 = portable.swap01
matmul, matmul_batch_sum = portable.matmul, portable.matmul_batch_sum
weight_matmul_grads = portable.weight_matmul_grads
group_norm_forward = portable.group_norm_forward
group_norm_backward = portable.group_norm_backward
group_norm_silu = portable.group_norm_silu


def index_add(shape, index, values):
    """zeros(shape) with ``values`` added at ``index`` (repeated indices accumulate)."""
    import cupy
    import cupyx
    with values.device:
        out = cupy.zeros(shape, dtype=values.dtype)
        cupyx.scatter_add(out, index, values)
        return out


def im2col(x, kernel_size, stride, padding, dilation):
    if not _native(x.dtype):
        return portable.im2col(x, kernel_size, stride, padding, dilation)
    import cupy
    with x.device:
        x = cupy.ascontiguousarray(x)
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        OH, OW = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
        cols = cupy.empty((C * kh * kw, N, OH, OW), dtype=x.dtype)
        _launch("im2col.cu", "im2col", x.dtype, cols.size, x.size,
                (x, cols, np.int64(cols.size))
                + _i32(N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, OW))
        return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    # the kernel indexes cols by the geometry of x_shape: a wrong shape would read out of bounds
    N, C, H, W = check_col2im(cols.shape, x_shape, kernel_size, stride, padding, dilation)
    if not _native(cols.dtype):
        return portable.col2im(cols, x_shape, kernel_size, stride, padding, dilation)
    import cupy
    with cols.device:
        cols = cupy.ascontiguousarray(cols)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        OH, OW = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
        x = cupy.empty((N, C, H, W), dtype=cols.dtype)
        _launch("im2col.cu", "col2im", cols.dtype, x.size, cols.size,
                (cols, x, np.int64(x.size))
                + _i32(N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, OW))
        return x


def maxpool_forward(x, kernel_size, stride, padding, with_arg=True):
    if not _native(x.dtype):
        return portable.maxpool_forward(x, kernel_size, stride, padding, with_arg)
    import cupy
    with x.device:
        x = cupy.ascontiguousarray(x)
        N, C, H, W = x.shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        OH, OW = conv_geometry(x.shape, kernel_size, stride, padding, (1, 1))
        out = cupy.empty((N, C, OH, OW), dtype=x.dtype)
        arg = cupy.empty((N, C, OH, OW), dtype=cupy.int32)
        _launch("maxpool.cu", "maxpool_forward", x.dtype, out.size, x.size,
                (x, out, arg, np.int64(out.size))
                + _i32(N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW))
        # one kernel computes both; the argmax costs one int32 store per output
        return out, (arg if with_arg else None)


def maxpool_backward(grad, arg, x_shape, kernel_size, stride, padding):
    N, C, H, W = check_maxpool_backward(grad.shape, arg.shape, x_shape, kernel_size, stride,
                                        padding)
    if not _native(grad.dtype):
        return portable.maxpool_backward(grad, arg, x_shape, kernel_size, stride, padding)
    import cupy
    with grad.device:
        grad = cupy.ascontiguousarray(grad)
        arg = cupy.ascontiguousarray(arg, dtype=cupy.int32)
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        OH, OW = grad.shape[2:]
        gx = cupy.empty((N, C, H, W), dtype=grad.dtype)
        _launch("maxpool.cu", "maxpool_backward", grad.dtype, gx.size, grad.size,
                (grad, arg, gx, np.int64(gx.size))
                + _i32(N, C, H, W, kh, kw, sh, sw, ph, pw, OH, OW))
        return gx
