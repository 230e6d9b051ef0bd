"""The hostile inputs of tests/test_hostile.py: how to craft each malformed file, and the table
of rows (what to create, what to call, the exception and message expected). A new class of
hostile input is a new row here."""
import io
import json
import os
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import arrayneedle as an
import arrayneedle.serialization as ser

MB = 1 << 20


# ---------------------------------------------------------------------------------------------
# crafting checkpoints by hand
# ---------------------------------------------------------------------------------------------
def _npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _meta(tree=None, **fields):
    meta = {"format": "arrayneedle.save", "version": 1,
            "tree": {"t": "tensor", "key": "a0"} if tree is None else tree}
    meta.update(fields)
    return _npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _ckpt(arr=None, **meta_kw):
    """A maker: a checkpoint whose single array member holds ``arr`` (npy bytes or array)."""
    def make(tmp):
        data = arr if isinstance(arr, bytes) else _npy(np.arange(4.0) if arr is None else arr,
                                                       allow_pickle=True)
        return _zip(tmp / "ck.npz", {"a0.npy": data, "__arrayneedle__.npy": _meta(**meta_kw)})
    return make


def _raw_meta(text):
    def make(tmp):
        raw = _npy(np.frombuffer(text.encode(), dtype=np.uint8))
        return _zip(tmp / "ck.npz", {"a0.npy": _npy(np.arange(4.0)),
                                     "__arrayneedle__.npy": raw})
    return make


def _zip_bomb(tmp):
    """A deflated member that would inflate to 24 MiB of float32 zeros (about 24 KiB on disk)."""
    path = tmp / "bomb.npz"
    n = 6 * MB
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (n,)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("__arrayneedle__.npy", _meta(), compress_type=zipfile.ZIP_STORED)
        with z.open("a0.npy", "w", force_zip64=True) as m:
            m.write(header.getvalue())
            chunk = bytes(MB)
            for _ in range(4 * n // MB):
                m.write(chunk)
    assert path.stat().st_size < MB
    return path


def _huge_header(tmp):
    """An .npy header claiming 10^12 float64 elements over 32 stored bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10 ** 12,)})
    return _ckpt(header.getvalue() + bytes(32))(tmp)


def _declared_size_lie(tmp):
    """A stored member whose zip directory entry claims 10^12 bytes."""
    path = _ckpt()(tmp)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a0.npy")
    cd = data.find(b"PK\x01\x02")  # central directory entry of the first member
    assert data[cd + 46:cd + 46 + len(info.filename)] == info.filename.encode()
    data[cd + 24:cd + 28] = (0xFFFFFFFE).to_bytes(4, "little")  # uncompressed size
    path.write_bytes(bytes(data))
    return path


def _extra_member(tmp):
    return _zip(tmp / "ck.npz", {"a0.npy": _npy(np.arange(4.0)), "a1.npy": _npy(np.ones(2)),
                                 "__arrayneedle__.npy": _meta()})


def _unknown_member(tmp):
    return _zip(tmp / "ck.npz", {"a0.npy": _npy(np.arange(4.0)), "../evil.sh": b"rm -rf /",
                                 "__arrayneedle__.npy": _meta()})


def _corrupt_crc(tmp):
    path = tmp / "ck.npz"
    an.save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[600] ^= 0xFF  # inside the array's data
    path.write_bytes(bytes(data))
    return path


def _truncated(tmp):
    path = tmp / "ck.npz"
    an.save({"w": np.arange(1000.0)}, path)
    path.write_bytes(path.read_bytes()[:3000])
    return path


def _write(name, data):
    def make(tmp):
        p = tmp / name
        p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)
        return p
    return make


def _plain_npy(tmp):
    p = tmp / "weights.npy"
    np.save(p, np.ones((3, 3)))
    return p


def _directory(tmp):
    (tmp / "ck.npz").mkdir()
    return tmp / "ck.npz"


def _fifo(tmp):
    os.mkfifo(tmp / "ck.npz")
    return tmp / "ck.npz"


def _unreadable(tmp):
    p = tmp / "ck.npz"
    an.save({"w": np.ones(3)}, p)
    p.chmod(0)
    return p


def _deep(depth):
    tree = {"t": "list", "v": []}
    for _ in range(depth):
        tree = {"t": "list", "v": [tree]}
    return tree


def _load(path, monkeypatch):
    return an.load(path)


def _load_as_non_root(path, monkeypatch):
    """Root reads any file whatever its mode, so as root the refusal the kernel would give an
    ordinary user is reproduced at the open() call an.load makes."""
    if os.geteuid() == 0:
        real = os.open

        def refusing(p, *a, **k):
            if os.fspath(p) == str(path):
                raise PermissionError(13, "Permission denied", os.fspath(p))
            return real(p, *a, **k)
        monkeypatch.setattr(ser.os, "open", refusing)
    return an.load(path)


@dataclass
class Row:
    id: str
    make: Callable          # tmp folder -> the hostile path
    call: Callable          # (path, monkeypatch) -> must raise
    exc: type
    match: str              # regex the one-line message must contain
    peak_mb: float = 8.0    # Python-traced peak allocation while calling
    names_path: bool = True


_BAD = r"is not a valid arrayneedle file: "
FILE_ROWS = [
    Row("zip-bomb", _zip_bomb, _load, ValueError, _BAD + r"member 'a0.npy' is compressed"),
    Row("compressed-savez", lambda t: _zip(t / "ck.npz", {
        "a0.npy": _npy(np.arange(4.0)), "__arrayneedle__.npy": _meta()}, zipfile.ZIP_DEFLATED),
        _load, ValueError, r"is compressed"),
    Row("size-lie", _declared_size_lie, _load, ValueError, r"more than the file holds"),
    Row("header-1e12-elements", _huge_header, _load, ValueError,
        r"declares shape \(1000000000000,\) of float64 \(8000000000000 bytes\) but stores 32"),
    Row("dtype-complex", _ckpt(np.ones(3, np.complex64)), _load, ValueError, r"complex dtype"),
    Row("dtype-string", _ckpt(np.array(["ab", "c"])), _load, ValueError, r"string dtype"),
    Row("dtype-bytes", _ckpt(np.array([b"ab"])), _load, ValueError, r"bytes dtype"),
    Row("dtype-object", _ckpt(np.array([{"x": 1}], dtype=object)), _load, ValueError,
        r"object dtype"),
    Row("dtype-structured", _ckpt(np.zeros(2, [("a", "<f4"), ("b", "<i4")])), _load,
        ValueError, r"structured dtype"),
    Row("dtype-datetime", _ckpt(np.array(["2020-01-01"], "datetime64[D]")), _load, ValueError,
        r"datetime dtype"),
    Row("raw-bytes-member", _ckpt(b"\x00\x01 raw weights, no npy header"), _load, ValueError,
        r"member 'a0.npy' has no valid \.npy header"),
    Row("unknown-member", _unknown_member, _load, ValueError,
        r"unexpected member '\.\./evil\.sh'"),
    Row("extra-member", _extra_member, _load, ValueError, r"a1\.npy is not referenced"),
    Row("missing-array", _ckpt(tree={"t": "tensor", "key": "a7"}), _load, ValueError,
        r"missing array 'a7'"),
    Row("meta-list", _raw_meta("[1, 2, 3]"), _load, ValueError, r"not an object with"),
    Row("meta-not-json", _raw_meta("{'format': exec('x')}"), _load, ValueError,
        r"metadata is not valid JSON"),
    Row("meta-nan", _raw_meta('{"format": NaN, "version": 1, "tree": 1}'), _load, ValueError,
        r"non-JSON constant NaN"),
    Row("meta-not-utf8", lambda t: _zip(t / "ck.npz", {
        "__arrayneedle__.npy": _npy(np.frombuffer(b"\xff\xfe{", np.uint8))}),
        _load, ValueError, r"not UTF-8"),
    Row("meta-float-dtype", lambda t: _zip(t / "ck.npz", {
        "__arrayneedle__.npy": _npy(np.ones(3))}), _load, ValueError, r"expected uint8 bytes"),
    Row("meta-wrong-format", _ckpt(format="pickle"), _load, ValueError,
        r"format is 'pickle', expected 'arrayneedle\.save'"),
    Row("meta-version-string", _ckpt(version="1"), _load, ValueError,
        r"format version '1' is not a positive integer"),
    Row("meta-version-newer", _ckpt(version=99), _load, ValueError, r"newer arrayneedle"),
    Row("meta-unknown-node", _ckpt(tree={"t": "exec", "v": "import os"}), _load, ValueError,
        r"unknown metadata node type 'exec'"),
    Row("meta-bare-list", _ckpt(tree=[1, 2]), _load, ValueError, r"bare list"),
    Row("meta-dict-mismatch", _ckpt(tree={"t": "dict", "k": ["a", "b"], "v": [1]}), _load,
        ValueError, r"mismatched or non-str/int keys"),
    Row("meta-float-node", _ckpt(tree={"t": "float", "v": "1e308*10"}), _load, ValueError,
        r"float node holds '1e308\*10'"),
    Row("meta-grad-on-int", lambda t: _zip(t / "ck.npz", {
        "a0.npy": _npy(np.arange(3)), "__arrayneedle__.npy": _meta(
            {"t": "tensor", "key": "a0", "requires_grad": True})}), _load, ValueError,
        r"requires_grad"),
    Row("json-nested-1e5", _raw_meta("[" * 100_000 + "]" * 100_000), _load, ValueError,
        r"nested too deeply"),
    Row("tree-nested-200", _ckpt(tree=_deep(200)), _load, ValueError,
        r"nested deeper than 100 levels"),
    Row("corrupt-crc", _corrupt_crc, _load, ValueError, r"corrupted, truncated or unreadable"),
    Row("truncated", _truncated, _load, ValueError, r"not a zip archive \(corrupted, truncated"),
    Row("plain-npy", _plain_npy, _load, ValueError, r"plain \.npy array"),
    Row("random-bytes", _write("ck.npz", bytes(random.Random(0).randbytes(4096))), _load,
        ValueError, r"not a zip archive"),
    Row("text-file", _write("ck.npz", "step,loss\n1,0.5\n"), _load, ValueError,
        r"not a zip archive"),
    Row("empty-file", _write("ck.npz", b""), _load, ValueError, r"not a zip archive"),
    Row("directory", _directory, _load, ValueError, r"is a directory, not a checkpoint file"),
    Row("fifo", _fifo, _load, ValueError, r"is not a regular file, not a checkpoint file"),
    Row("no-read-permission", _unreadable, _load_as_non_root, PermissionError,
        r"^load: permission denied: cannot read "),
    Row("missing", lambda t: t / "nope.npz", _load, FileNotFoundError, r"^load: no such file: "),
]
