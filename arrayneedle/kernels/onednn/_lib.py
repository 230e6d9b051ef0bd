"""Loading oneDNN (v3.x C API, the ``onednn-cpu-gomp`` wheel's ``libdnnl.so.3``) with ctypes,
the constants of ``dnnl_types.h`` this package uses, and the status check.

``load()`` never raises: it returns ``(lib, None)`` or ``(None, reason)`` (other platform, no
wheel, a missing ``libgomp.so.1``, ``ARRAYNEEDLE_KERNELS=numpy``), and the kernels then stay on
NumPy."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

P = ctypes.c_void_p
DIMS = ctypes.c_int64 * 12  # dnnl_dims_t (DNNL_MAX_NDIMS = 12)

# dnnl_types.h / dnnl_common_types.h (v3.2)
SUCCESS = 0
CPU = 1
F32, U8, S32 = 3, 6, 4
TAG_ANY, TAG_A, TAG_NCHW, TAG_OIHW, TAG_IOHW = 1, 2, 5, 5, 25


def plain_tag(ndim):
    """The row-major tag of ``ndim`` dimensions: dnnl_a, dnnl_ab, dnnl_abc... are 2, 3, 4..."""
    return ndim + 1


FORWARD_TRAINING, FORWARD_INFERENCE = 64, 96
BACKWARD, BACKWARD_DATA, BACKWARD_WEIGHTS = 128, 160, 192
CONVOLUTION_DIRECT, DECONVOLUTION_DIRECT = 1, 10
POOLING_MAX = 511
# dnnl_alg_kind_t eltwise values (v3.2: relu = 0x20 and the rest in order; *_use_dst_for_bwd
# from 0x100)
ELTWISE_RELU, ELTWISE_TANH, ELTWISE_LOGISTIC = 0x20, 0x21, 0x29
ELTWISE_GELU_TANH, ELTWISE_SWISH, ELTWISE_GELU_ERF = 0x2b, 0x2c, 0x31
ELTWISE_RELU_USE_DST, ELTWISE_TANH_USE_DST, ELTWISE_LOGISTIC_USE_DST = 0x100, 0x101, 0x104
QUERY_SRC, QUERY_DIFF_SRC, QUERY_WEIGHTS, QUERY_DIFF_WEIGHTS = 129, 130, 131, 132
QUERY_DST, QUERY_DIFF_DST, QUERY_WORKSPACE, QUERY_SCRATCHPAD = 133, 134, 135, 136
QUERY_IMPL_INFO = 8
SCRATCHPAD_USER = 1
ARG_SRC, ARG_DST, ARG_WEIGHTS, ARG_BIAS = 1, 17, 33, 41
ARG_SRC_1 = 2
ARG_DIFF_SRC, ARG_DIFF_DST, ARG_DIFF_WEIGHTS, ARG_DIFF_BIAS = 129, 145, 161, 169
ARG_WORKSPACE, ARG_SCRATCHPAD = 64, 80
ARG_FROM, ARG_TO = 1, 17
ARG_MEAN, ARG_VARIANCE, ARG_SCALE, ARG_SHIFT = 49, 50, 51, 52
ARG_DIFF_SCALE, ARG_DIFF_SHIFT = 255, 256
SOFTMAX_ACCURATE = 0x30000  # dnnl_alg_kind_t dnnl_softmax_accurate (dnnl_softmax_log: 0x30001)

ENV = "ARRAYNEEDLE_KERNELS"  # "numpy": never load oneDNN; unset or "auto": load it if possible
WHEEL = "onednn-cpu-gomp"


class ExecArg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", P)]


class Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                ("hash", ctypes.c_char_p), ("cpu_runtime", ctypes.c_uint),
                ("gpu_runtime", ctypes.c_uint)]


class DnnlError(RuntimeError):
    """A oneDNN call returned an error status."""


def check(status, what):
    if status != SUCCESS:
        raise DnnlError(f"oneDNN {what} failed with status {status}")


# name: (restype, argtypes); dnnl_status_t is an int
_SIGNATURES = {
    "dnnl_engine_create": (ctypes.c_int, [ctypes.POINTER(P), ctypes.c_int, ctypes.c_size_t]),
    "dnnl_stream_create": (ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_uint]),
    "dnnl_memory_desc_create_with_tag": (ctypes.c_int, [ctypes.POINTER(P), ctypes.c_int, DIMS,
                                                        ctypes.c_int, ctypes.c_int]),
    "dnnl_memory_desc_create_with_strides": (ctypes.c_int, [ctypes.POINTER(P), ctypes.c_int,
                                                            DIMS, ctypes.c_int, DIMS]),
    "dnnl_memory_desc_destroy": (ctypes.c_int, [P]),
    "dnnl_memory_desc_equal": (ctypes.c_int, [P, P]),
    "dnnl_memory_desc_get_size": (ctypes.c_size_t, [P]),
    "dnnl_memory_create": (ctypes.c_int, [ctypes.POINTER(P), P, P, P]),
    "dnnl_memory_destroy": (ctypes.c_int, [P]),
    "dnnl_memory_set_data_handle": (ctypes.c_int, [P, P]),
    "dnnl_primitive_attr_create": (ctypes.c_int, [ctypes.POINTER(P)]),
    "dnnl_primitive_attr_set_scratchpad_mode": (ctypes.c_int, [P, ctypes.c_int]),
    "dnnl_primitive_attr_destroy": (ctypes.c_int, [P]),
    "dnnl_primitive_attr_set_post_ops": (ctypes.c_int, [P, P]),
    "dnnl_post_ops_create": (ctypes.c_int, [ctypes.POINTER(P)]),
    "dnnl_post_ops_destroy": (ctypes.c_int, [P]),
    "dnnl_post_ops_append_binary": (ctypes.c_int, [P, ctypes.c_int, P]),
    "dnnl_post_ops_append_sum": (ctypes.c_int, [P, ctypes.c_float, ctypes.c_int32,
                                                ctypes.c_int]),
    "dnnl_post_ops_append_eltwise": (ctypes.c_int, [P, ctypes.c_int, ctypes.c_float,
                                                    ctypes.c_float]),
    "dnnl_binary_primitive_desc_create": (ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P,
                                                         P, P, P]),
    "dnnl_primitive_desc_query_md": (P, [P, ctypes.c_int, ctypes.c_int]),
    "dnnl_primitive_desc_query": (ctypes.c_int, [P, ctypes.c_int, ctypes.c_int, P]),
    "dnnl_primitive_desc_destroy": (ctypes.c_int, [P]),
    "dnnl_primitive_create": (ctypes.c_int, [ctypes.POINTER(P), P]),
    "dnnl_primitive_destroy": (ctypes.c_int, [P]),
    "dnnl_primitive_execute": (ctypes.c_int, [P, P, ctypes.c_int, ctypes.POINTER(ExecArg)]),
    "dnnl_stream_wait": (ctypes.c_int, [P]),
    "dnnl_reorder_primitive_desc_create": (ctypes.c_int, [ctypes.POINTER(P), P, P, P, P, P]),
    "dnnl_convolution_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, ctypes.c_int, P, P, P, P,
                       DIMS, DIMS, DIMS, DIMS, P]),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, DIMS, DIMS, DIMS, DIMS,
                       P, P]),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, P, DIMS, DIMS, DIMS, DIMS,
                       P, P]),
    "dnnl_deconvolution_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, ctypes.c_int, P, P, P, P,
                       DIMS, DIMS, DIMS, DIMS, P]),
    "dnnl_batch_normalization_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, ctypes.c_float, ctypes.c_uint,
                       P]),
    "dnnl_batch_normalization_backward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, ctypes.c_float,
                       ctypes.c_uint, P, P]),
    "dnnl_layer_normalization_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, ctypes.c_float,
                       ctypes.c_uint, P]),
    "dnnl_layer_normalization_backward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, P, ctypes.c_float,
                       ctypes.c_uint, P, P]),
    "dnnl_pooling_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, ctypes.c_int, P, P, DIMS, DIMS, DIMS,
                       DIMS, DIMS, P]),
    "dnnl_eltwise_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, ctypes.c_int, P, P, ctypes.c_float,
                       ctypes.c_float, P]),
    "dnnl_eltwise_backward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, ctypes.c_float,
                       ctypes.c_float, P, P]),
    "dnnl_matmul_primitive_desc_create": (ctypes.c_int, [ctypes.POINTER(P), P, P, P, P, P, P]),
    "dnnl_softmax_forward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, ctypes.c_int, P, P, ctypes.c_int, P]),
    "dnnl_softmax_backward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, P, ctypes.c_int, P, P]),
    "dnnl_pooling_backward_primitive_desc_create": (
        ctypes.c_int, [ctypes.POINTER(P), P, ctypes.c_int, P, P, DIMS, DIMS, DIMS, DIMS, DIMS,
                       P, P]),
}


def _candidates():
    """Paths of libdnnl.so.3: the wheel's own file first, then the system's."""
    try:
        from importlib import metadata
        for f in metadata.files(WHEEL) or ():
            if f.name.startswith("libdnnl.so"):
                yield str(f.locate())
    except Exception:  # noqa: BLE001 - no wheel (or broken metadata): try the system library
        pass
    for name in (os.path.join(sys.prefix, "lib", "libdnnl.so.3"), ctypes.util.find_library("dnnl")):
        if name:
            yield name


def load(before_dlopen=lambda: None):
    """``(lib, None)`` with every signature declared, or ``(None, why not)``.
    ``before_dlopen()`` runs once, just before the first attempt to load a library file."""
    if os.environ.get(ENV, "auto").strip().lower() == "numpy":
        return None, f"{ENV}=numpy"
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        return None, f"no oneDNN wheel for {sys.platform} {platform.machine()}"
    errors = []
    for i, path in enumerate(dict.fromkeys(_candidates())):
        if i == 0:
            before_dlopen()
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:  # e.g. libgomp.so.1 missing
            errors.append(str(e))
            continue
        try:
            lib.dnnl_version.restype = ctypes.POINTER(Version)
            v = lib.dnnl_version().contents
            if v.major != 3:  # the constants above are v3's (its ABI is stable within v3)
                errors.append(f"{path}: oneDNN {v.major}.{v.minor}, expected 3.x")
                continue
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = restype, argtypes
        except AttributeError as e:
            errors.append(f"{path}: {e}")
            continue
        return lib, None
    if not errors:
        return None, f"oneDNN not installed (pip install {WHEEL})"
    return None, "oneDNN did not load: " + "; ".join(errors)
