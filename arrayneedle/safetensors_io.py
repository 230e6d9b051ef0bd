"""Weights as ``.safetensors``: the format PyTorch, diffusers and Hugging Face read and write.

``save_file(tensors, path, metadata=None)`` and ``load_file(path, device="cpu")`` have the
signatures of ``safetensors.torch``; they go through the ``safetensors`` package's NumPy API
(no torch, no pickle: a file is a JSON header plus raw little-endian bytes, and loading runs no
code from it). A ``state_dict()`` saved here loads into the PyTorch module with the same
parameter names, and one saved by PyTorch loads into ours.

The header is checked before any tensor is read (its length, JSON, and that every tensor's
byte range lies inside the file and matches its dtype and shape), so a truncated or forged
file gives a ``ValueError`` naming the file instead of a crash or a huge allocation.

``bfloat16`` (which NumPy lacks) is widened to float32 on load, exactly (a bfloat16 is the top
half of a float32), with a warning naming the tensors. Integer dtypes a Tensor lacks (int8,
int16, uint16, uint32, uint64) are widened losslessly; float8 tensors are an error.
"""
from __future__ import annotations

import json
import os
import struct
import warnings

import numpy as np

from .autograd import Tensor
from .backend import device as _device
from .backend import to_numpy
from .serialization import atomic_write, open_regular

__all__ = ["save_file", "load_file", "read_metadata"]

# The specification allows 100 MB of header, but Python's JSON objects take ~20x their text
# (a 99 MB header of small entries parsed into 2 GB); real headers are well under 1 MB (one
# entry of ~100 bytes per tensor), so 16 MiB bounds the parse to a few hundred MiB.
_MAX_HEADER = 16 << 20
_EXPECTED = "a safetensors file"
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
_WIDEN = {"int8": "int32", "int16": "int32", "uint16": "int32", "uint32": "int64",
          "uint64": "int64"}


def _flat_error(what):
    return ValueError(f"safetensors holds only a flat dict of tensors (str -> Tensor or array); "
                      f"{what}. Save nested state (optimizer, scheduler, training checkpoints) "
                      f"with an arrayneedle file (.npz or any other extension)")


def save_file(tensors, filename, metadata=None):
    """Write a flat ``{name: Tensor or array}`` dict to ``filename`` as safetensors (atomic:
    a temporary file renamed over the target). ``metadata``: an optional ``{str: str}``."""
    from safetensors.numpy import save_file as _save

    if not isinstance(tensors, dict):
        raise _flat_error(f"got a {type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise _flat_error(f"key {name!r} is a {type(name).__name__}, not a str")
        if isinstance(value, Tensor):
            value = value.array
        if isinstance(value, (dict, list, tuple, str, bytes)) or value is None:
            raise _flat_error(f"the value at {name!r} is a {type(value).__name__}")
        try:
            a = np.asarray(to_numpy(value))
        except Exception:  # noqa: BLE001 - anything that is not array-like
            raise _flat_error(f"the value at {name!r} is a {type(value).__name__}") from None
        if a.dtype.kind not in "biuf":
            raise _flat_error(f"the value at {name!r} has dtype {a.dtype}")
        arrays[name] = a if a.flags.c_contiguous else np.array(a, order="C")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError(f"metadata must be a dict of str -> str, got {metadata!r}")
    def write(tmp):
        try:
            _save(arrays, tmp, metadata=metadata)
        except Exception as e:  # noqa: BLE001 - the Rust library's SafetensorError
            if "I/O error" not in str(e):
                raise
            # disk full, file-size limit: an OSError like any other failed write
            raise OSError(str(e).rsplit("I/O error: ", 1)[-1]) from None
    atomic_write(filename, write)


def _read_header(path, size, f):
    if size < 8:
        raise ValueError(f"{size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > size - 8:
        raise ValueError(f"header length {n} exceeds the file ({size} bytes)")
    if n > _MAX_HEADER:
        raise ValueError(f"header length {n} exceeds arrayneedle's limit of {_MAX_HEADER} "
                         f"bytes (real files hold well under 1 MB of header)")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"header is not JSON ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    data_size = size - 8 - n
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("__metadata__ is not a JSON object of strings")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            begin, end = int(begin), int(end)
            count = int(np.prod([int(s) for s in shape], dtype=np.int64))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"entry {name!r} is malformed ({e})") from None
        if dtype not in _ITEMSIZE:
            raise ValueError(f"tensor {name!r} has dtype {dtype}, which arrayneedle cannot hold "
                             f"(supported: {', '.join(_ITEMSIZE)})")
        if any(int(s) < 0 for s in shape) or not 0 <= begin <= end <= data_size \
                or end - begin != count * _ITEMSIZE[dtype]:
            raise ValueError(f"tensor {name!r}: bytes {begin}..{end} do not hold {dtype} "
                             f"{list(shape)} inside the {data_size}-byte data section "
                             f"(truncated or corrupted)")
    return header, 8 + n


def load_file(filename, device="cpu"):
    """Read a safetensors file into ``{name: Tensor}`` on ``device`` (file order kept)."""
    from safetensors import safe_open

    path = os.fspath(filename)
    dev = _device(device)
    f, size = open_regular(path, "load_file", _EXPECTED)
    try:
        with f:
            header, start = _read_header(path, size, f)
            names = [k for k in header if k != "__metadata__"]
            bf16 = [k for k in names if header[k]["dtype"] == "BF16"]
            raw = {}
            for k in bf16:  # NumPy has no bfloat16: read the bits, widen to float32
                begin, end = header[k]["data_offsets"]
                f.seek(start + begin)
                bits = np.frombuffer(f.read(end - begin), dtype="<u2").astype(np.uint32)
                raw[k] = (bits << 16).view(np.float32).reshape(header[k]["shape"])
        with safe_open(path, framework="np") as st:
            for k in names:
                if k not in raw:
                    raw[k] = st.get_tensor(k)
    except ValueError as e:
        raise ValueError(f"load_file: {path} is not a valid safetensors file: {e}") from None
    except Exception as e:  # noqa: BLE001 - the safetensors library's own errors
        raise ValueError(f"load_file: {path} is not a valid safetensors file: "
                         f"{type(e).__name__}: {e}") from None
    if bf16:
        warnings.warn(f"load_file: {path}: bfloat16 tensors converted to float32 (exactly): "
                      f"{', '.join(bf16)}", stacklevel=2)
    out = {}
    for k in names:
        a = raw[k]
        if a.dtype.name in _WIDEN:
            if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
                raise ValueError(f"load_file: {path}: tensor {k!r} is uint64 with values up to "
                                 f"{int(a.max())}, which do not fit int64 (the widest integer "
                                 f"a Tensor holds)")
            a = a.astype(_WIDEN[a.dtype.name])
        if not (a.flags.writeable and a.flags.c_contiguous):
            a = np.array(a, order="C")
        out[k] = Tensor(a, device=dev)
    return out


def read_metadata(filename):
    """The ``__metadata__`` dict of a safetensors file (``{}`` when it has none)."""
    path = os.fspath(filename)
    f, size = open_regular(path, "read_metadata", _EXPECTED)
    try:
        with f:
            header, _ = _read_header(path, size, f)
    except (ValueError, OSError, struct.error) as e:
        raise ValueError(f"read_metadata: {path} is not a valid safetensors file: {e}") from None
    return dict(header.get("__metadata__") or {})
