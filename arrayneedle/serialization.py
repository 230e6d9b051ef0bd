"""Safe, atomic save/load of nested containers of tensors, arrays, numbers and strings.

Format: one ``.npz`` (zip) file. Every array is stored as a plain, uncompressed ``.npy``
member, and the structure (dicts, lists, tuples, numbers, strings, which entries are tensors) is
stored as JSON in the member ``__arrayneedle__``. Loading never executes code from the file and
never needs more memory than the file's own size: the zip and ``.npy`` headers are parsed and
checked (uncompressed members only, plain numeric dtypes, shape x itemsize equal to the bytes
stored) before any array is allocated, and anything else is a ``ValueError`` naming the file and
the problem. Writes go to a temporary file in the same folder which then replaces the target with
``os.replace``, so a crash mid-save never leaves a half-written file at the target path.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import time
import zipfile

import numpy as np

from .autograd import Tensor
from .backend import to_numpy, device as _device

__all__ = ["save", "load", "FORMAT"]

FORMAT = "arrayneedle.save"
VERSION = 1
_META = "__arrayneedle__"
_MAX_DEPTH = 100  # nesting of containers; deeper is refused on save and on load, not recursed


def _encode(obj, arrays, path="root", depth=0):
    if depth > _MAX_DEPTH:
        raise ValueError(f"save: containers nested deeper than {_MAX_DEPTH} levels at {path}")
    return _encode_node(obj, arrays, path, depth)


def _encode_node(obj, arrays, path, depth):
    if isinstance(obj, Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(to_numpy(obj.array))
        return {"t": "tensor", "key": key, "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), arrays, path, depth)
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
                "v": [_encode(obj[k], arrays, f"{path}[{k!r}]", depth + 1) for k in keys]}
    if isinstance(obj, (list, tuple)):
        return {"t": "list" if isinstance(obj, list) else "tuple",
                "v": [_encode(v, arrays, f"{path}[{i}]", depth + 1)
                      for i, v in enumerate(obj)]}
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


def current_umask() -> int:
    """The process's umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_file_mode():
    """The mode ``open()`` would give a new file (0o666 less the umask): ``mkstemp`` makes its
    files 0o600, and an atomic rename would otherwise leave checkpoints and images private."""
    return 0o666 & ~current_umask()


# A temporary file is ".tmp-" + mkstemp's 8 random characters + "-" + the target's name, so a
# save killed before its rename leaves a file that the next save of the same target recognises.
_TMP_PREFIX = ".tmp-"
_TMP_RANDOM = "[a-z0-9_]{8}"
# Seconds since its last write after which a temporary file of our pattern counts as abandoned.
STALE_TMP_SECONDS = 10.0


def _tmp_suffix(name):
    return "-" + name[-200:]  # the whole temporary name stays under the usual 255-byte limit


def _remove_stale_tmp(folder, name):
    """Delete temporary files of ``atomic_write``'s exact pattern for target ``name`` in
    ``folder`` not written for :data:`STALE_TMP_SECONDS` (left by a killed save)."""
    pattern = re.compile(re.escape(_TMP_PREFIX) + _TMP_RANDOM + re.escape(_tmp_suffix(name)) +
                         r"\Z")
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        if not pattern.match(e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= STALE_TMP_SECONDS:
                os.unlink(e.path)
        except OSError:
            pass  # gone already, or not ours to remove


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def check_replaceable(path):
    """Refuse to replace an existing ``path`` that is not a regular file (a device node, a
    FIFO, a socket, a folder): an atomic rename would swap a regular file in for it
    (``/dev/null`` as root). A symbolic link is replaced itself, never written through."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # absent (or unreachable: the write itself says why)
    for test, kind in _KINDS:
        if test(mode):
            err = IsADirectoryError if kind == "a directory" else FileExistsError
            raise err(f"cannot write {path}: it exists and is {kind}, not a regular file; "
                      f"refusing to replace it")


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, flush it to disk, then
    rename it over ``path``: a crash or an error never leaves a half-written file at ``path``
    (an existing file there stays as it was). The result gets the usual permissions. Temporary
    files of an earlier, killed write of the same ``path`` are removed first."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    check_replaceable(path)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_tmp(folder, name)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_tmp_suffix(name), dir=folder)
    os.close(fd)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _default_file_mode())
        check_replaceable(path)  # again: it may have appeared while ``write`` ran
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



class _Malformed(Exception):
    """A problem with the file's content; ``load`` turns it into one ValueError line."""


def open_regular(path, who, expected):
    """(binary file, size) of ``path``, refusing what is not a regular file before reading a
    byte (a FIFO would block forever, a device never end): ``FileNotFoundError`` /
    ``PermissionError`` when it cannot be opened, else a ``ValueError`` saying ``path`` is not
    ``expected``. ``who`` starts each message (the function the caller called)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{who}: no such file: {path}") from None
    except PermissionError:
        raise PermissionError(f"{who}: permission denied: cannot read {path}") from None
    except OSError as e:
        raise ValueError(f"{who}: cannot open {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ValueError(f"{who}: {path} is {what}, not {expected}")
    return os.fdopen(fd, "rb"), st.st_size


def _open_regular(path):
    return open_regular(path, "load", "a checkpoint file (expected an .npz written by "
                                      "arrayneedle.save)")


_CHUNK = 1 << 20
_ARRAY_MEMBER = re.compile(r"a[0-9]{1,9}\.npy\Z")
_DTYPE_KINDS = {"c": "complex", "S": "bytes", "U": "string", "O": "object", "V": "structured",
                "M": "datetime", "m": "timedelta"}


def _dtype_problem(dtype):
    if dtype.kind in "biuf" and dtype.fields is None and dtype.subdtype is None:
        return None
    kind = "structured" if dtype.fields is not None or dtype.subdtype is not None else \
        _DTYPE_KINDS.get(dtype.kind, dtype.kind)
    return f"a {kind} dtype ({dtype.str})"


def _read_member(z, info):
    """The array in one stored ``.npy`` member, its header checked against the member's size
    before anything is allocated."""
    name = info.filename
    fmt = np.lib.format
    with z.open(info) as m:
        try:
            version = fmt.read_magic(m)
            if version not in ((1, 0), (2, 0)):  # 3.0 only adds unicode structured names
                raise ValueError(f"unsupported .npy version {version}")
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else \
                fmt.read_array_header_2_0
            shape, fortran, dtype = read_header(m, max_header_size=10000)
        except (ValueError, TypeError, SyntaxError, EOFError) as e:
            raise _Malformed(f"member {name!r} has no valid .npy header ({e})") from None
        problem = _dtype_problem(dtype)
        if problem:
            raise _Malformed(f"member {name!r} holds {problem}; expected bool, integer or "
                             f"float arrays")
        nbytes = math.prod(shape) * dtype.itemsize
        stored = info.file_size - m.tell()
        if nbytes != stored:
            raise _Malformed(f"member {name!r} declares shape {tuple(shape)} of {dtype} "
                             f"({nbytes} bytes) but stores {stored} bytes")
        arr = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        buf = memoryview(arr.reshape(-1).view(np.uint8))
        got = 0
        while got < nbytes:
            n = m.readinto(buf[got:got + _CHUNK])  # a bounded temporary per read
            if not n:
                raise _Malformed(f"member {name!r} is truncated")
            got += n
    if fortran:
        arr = arr.T
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _read_meta(z, info):
    raw = _read_member(z, info)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Malformed(f"metadata member is {raw.dtype} of shape {raw.shape}, expected uint8 "
                         f"bytes")

    def no_constant(c):
        raise _Malformed(f"metadata holds the non-JSON constant {c}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=no_constant)
    except UnicodeDecodeError:
        raise _Malformed("metadata is not UTF-8 text") from None
    except RecursionError:
        raise _Malformed("metadata is nested too deeply") from None
    except ValueError as e:
        raise _Malformed(f"metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or "tree" not in meta:
        raise _Malformed("metadata is not an object with 'format', 'version' and 'tree'")
    if meta.get("format") != FORMAT:
        raise _Malformed(f"metadata format is {meta.get('format')!r}, expected {FORMAT!r}")
    v = meta.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise _Malformed(f"format version {v!r} is not a positive integer")
    if v > VERSION:
        raise _Malformed(f"written by a newer arrayneedle (format version {v}, this one reads "
                         f"{VERSION})")
    return meta


def _read_archive(f, size):
    """(metadata, {key: array}) of an open checkpoint of ``size`` bytes."""
    if f.read(6) == b"\x93NUMPY":
        raise _Malformed("it is a plain .npy array, not a checkpoint written by arrayneedle.save")
    f.seek(0)
    if not zipfile.is_zipfile(f):
        raise _Malformed("not a zip archive (corrupted, truncated, or not written by "
                         "arrayneedle.save)")
    f.seek(0)
    try:
        z = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as e:
        raise _Malformed(f"corrupted, truncated zip archive ({e})") from None
    with z:
        infos = z.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise _Malformed("the archive lists a member twice")
        meta_name = _META + ".npy"
        if meta_name not in names:
            raise _Malformed(f"no arrayneedle metadata (member {meta_name!r}); members: "
                             f"{', '.join(names[:5]) or 'none'}")
        total = 0
        for i in infos:
            if i.filename != meta_name and not _ARRAY_MEMBER.match(i.filename):
                raise _Malformed(f"unexpected member {i.filename!r}")
            if i.compress_type != zipfile.ZIP_STORED or i.flag_bits & 0x1:
                raise _Malformed(f"member {i.filename!r} is compressed or encrypted; "
                                 f"arrayneedle.save writes stored members only")
            total += i.file_size
            if i.file_size != i.compress_size or total > size:
                raise _Malformed(f"member {i.filename!r} declares {i.file_size} bytes, more "
                                 f"than the file holds")
        meta = _read_meta(z, z.getinfo(meta_name))
        arrays = {i.filename[:-4]: _read_member(z, i) for i in infos if i.filename != meta_name}
    return meta, arrays


def _field(node, key, typ, what):
    v = node.get(key)
    if not isinstance(v, typ):
        raise _Malformed(f"metadata {what} node has no valid {key!r} field")
    return v


def _decode(node, arrays, dev, used, depth=0):
    if depth > _MAX_DEPTH:
        raise _Malformed(f"containers nested deeper than {_MAX_DEPTH} levels")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict):
        raise _Malformed(f"metadata tree holds a bare {type(node).__name__}")
    t = node.get("t")
    if t in ("list", "tuple"):
        items = [_decode(v, arrays, dev, used, depth + 1)
                 for v in _field(node, "v", list, t)]
        return items if t == "list" else tuple(items)
    if t == "dict":
        keys, vals = _field(node, "k", list, t), _field(node, "v", list, t)
        if len(keys) != len(vals) or not all(
                isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
            raise _Malformed("metadata dict node has mismatched or non-str/int keys")
        return {k: _decode(v, arrays, dev, used, depth + 1) for k, v in zip(keys, vals)}
    if t == "float":
        v = node.get("v")
        if v not in ("nan", "inf", "-inf"):
            raise _Malformed(f"metadata float node holds {v!r}, expected 'nan', 'inf' or '-inf'")
        return float(v)
    if t in ("tensor", "array"):
        key = node.get("key")
        if not isinstance(key, str) or key not in arrays:
            raise _Malformed(f"metadata refers to a missing array {key!r}")
        used.add(key)
        arr = arrays[key]
        if t == "array":
            return arr if dev is None else dev.asarray(arr)
        grad = node.get("requires_grad", False)
        if not isinstance(grad, bool) or (grad and arr.dtype.kind != "f"):
            raise _Malformed(f"array {key!r}: requires_grad must be a bool, and true only for "
                             f"float tensors")
        out = Tensor(arr, device=dev or "cpu")
        if grad:
            out.requires_grad_(True)
        return out
    raise _Malformed(f"unknown metadata node type {t!r}")


def load(path, device=None, *, map_location=None, weights_only=None, mmap=None):
    """Read what ``save`` wrote. Tensors land on ``device`` (default: CPU; PyTorch's
    ``map_location`` as a device or device string is the same); arrays stay NumPy unless a
    device is given. ``weights_only`` changes nothing: no file is ever unpickled here.
    Never runs code from the file, and never allocates more than about the file's size:
    anything that is not exactly what ``save`` writes raises
    ``ValueError`` naming the file and the problem (``FileNotFoundError`` /
    ``PermissionError`` when the file cannot be opened). A ``.safetensors`` path gives a flat
    ``{name: Tensor}`` dict (``load_file``)."""
    if map_location is not None:  # a dict or function of storages means nothing without pickle
        if device is not None or callable(map_location) or isinstance(map_location, dict):
            raise TypeError("load: map_location must be a device or device string")
        device = map_location
    if mmap:
        raise ValueError("load: mmap=True is not offered (the archive is checked first)")
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from .safetensors_io import load_file
        return load_file(path, device="cpu" if device is None else device)
    dev = None if device is None else _device(device)
    f, size = _open_regular(path)
    try:
        with f:
            meta, arrays = _read_archive(f, size)
            used = set()
            out = _decode(meta["tree"], arrays, dev, used)
        extra = sorted(set(arrays) - used)
        if extra:
            raise _Malformed(f"member {extra[0]}.npy is not referenced by the metadata")
        return out
    except _Malformed as e:
        problem = str(e)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        problem = f"corrupted, truncated or unreadable ({type(e).__name__}: {e})"
    problem = " ".join(problem.split())
    raise ValueError(f"load: {path} is not a valid arrayneedle file: {problem}")
