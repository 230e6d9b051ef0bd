"""Safe, atomic save/load of nested containers of tensors, arrays, numbers and strings.

Format: one ``.npz`` (zip) file. Every array is stored as a plain ``.npy`` member, and the
structure (dicts, lists, tuples, numbers, strings, which entries are tensors) is stored as JSON
in the member ``__arrayneedle__``. Loading uses ``numpy.load(allow_pickle=False)`` and
``json.loads``: it never executes code from the file. Writes go to a temporary file in the same
folder which then replaces the target with ``os.replace``, so a crash mid-save never leaves a
half-written file at the target path.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile

import numpy as np

from .autograd import Tensor
from .backend import to_numpy, device as _device

__all__ = ["save", "load", "FORMAT"]

FORMAT = "arrayneedle.save"
VERSION = 1
_META = "__arrayneedle__"


def _encode(obj, arrays, path="root"):
    if isinstance(obj, Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(to_numpy(obj.array))
        return {"t": "tensor", "key": key, "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays, path)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"t": "float", "v": repr(obj)}
    if isinstance(obj, dict):
        keys = list(obj.keys())
        for k in keys:
            if not isinstance(k, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__} "
                                f"at {path}")
        return {"t": "dict", "k": keys,
                "v": [_encode(obj[k], arrays, f"{path}[{k!r}]") for k in keys]}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "v": [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]}
    try:
        arr = np.asarray(to_numpy(obj))
    except Exception:
        arr = None
    if arr is not None and arr.dtype.kind in "biuf" and not isinstance(obj, (set, bytes)):
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return {"t": "array", "key": key}
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {path}; supported: dicts, "
                    f"lists, tuples, Tensors, arrays, numbers, strings, None")


def _default_file_mode():
    """The mode ``open()`` would give a new file (0o666 less the umask): ``mkstemp`` makes its
    files 0o600, and an atomic rename would otherwise leave checkpoints and images private."""
    try:
        with open("/proc/self/status") as f:  # Linux: read the umask without changing it
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, flush it to disk, then
    rename it over ``path``: a crash or an error never leaves a half-written file at ``path``
    (an existing file there stays as it was). The result gets the usual permissions."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    os.close(fd)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def save(obj, path):
    """Write ``obj`` to ``path`` atomically (temporary file in the same folder, then rename).
    A ``.safetensors`` path takes a flat ``{name: Tensor}`` dict (``save_file``)."""
    if os.fspath(path).endswith(".safetensors"):
        from .safetensors_io import save_file
        return save_file(obj, path)
    arrays: dict = {}
    tree = _encode(obj, arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays, **{_META: np.frombuffer(meta.encode(), dtype=np.uint8)})

    atomic_write(path, write)


def _decode(node, arrays, dev):
    if not isinstance(node, dict):
        return node
    t = node.get("t")
    if t == "dict":
        return {k: _decode(v, arrays, dev) for k, v in zip(node["k"], node["v"])}
    if t == "list":
        return [_decode(v, arrays, dev) for v in node["v"]]
    if t == "tuple":
        return tuple(_decode(v, arrays, dev) for v in node["v"])
    if t == "float":
        return float(node["v"])
    if t in ("tensor", "array"):
        arr = arrays[node["key"]]
        if t == "array":
            return arr if dev is None else dev.asarray(arr)
        out = Tensor(arr, device=dev or "cpu")
        if node.get("requires_grad"):
            out.requires_grad_(True)
        return out
    raise ValueError(f"unknown node type {t!r}")


def load(path, device=None):
    """Read what ``save`` wrote. Tensors land on ``device`` (default: CPU); arrays stay NumPy
    unless a device is given. Never runs code from the file. A ``.safetensors`` path gives a
    flat ``{name: Tensor}`` dict (``load_file``)."""
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from .safetensors_io import load_file
        return load_file(path, device="cpu" if device is None else device)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    dev = None if device is None else _device(device)
    try:
        with np.load(path, allow_pickle=False) as z:
            if _META not in z.files:
                raise ValueError("no arrayneedle metadata")
            meta = json.loads(bytes(z[_META]).decode())
            if meta.get("format") != FORMAT:
                raise ValueError("not an arrayneedle file")
            if meta.get("version", 0) > VERSION:
                raise ValueError(f"written by a newer arrayneedle (format version "
                                 f"{meta.get('version')}, this one reads {VERSION})")
            arrays = {k: z[k] for k in z.files if k != _META}
        return _decode(meta["tree"], arrays, dev)
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError,
            json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"load: {path} is not a valid arrayneedle file "
                         f"(corrupted, truncated, or not written by arrayneedle.save): {e}") from None
