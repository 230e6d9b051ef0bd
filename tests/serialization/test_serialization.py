import os

import numpy as np
import pytest

import arrayneedle as an


def test_roundtrip_nested(tmp_path):
    obj = {"model": {"w": an.randn(3, 4), "b": an.Tensor([1, 2, 3])},
           "arr": np.arange(5, dtype=np.int32), "step": 7, "lr": 1e-3, "name": "run",
           "flags": [True, None, float("inf")], "pair": (1, "x"), 3: "int key"}
    an.save(obj, tmp_path / "x.npz")
    back = an.load(tmp_path / "x.npz")
    assert back["step"] == 7 and back["lr"] == 1e-3 and back["name"] == "run"
    assert back["flags"] == [True, None, float("inf")] and back["pair"] == (1, "x")
    assert back[3] == "int key"
    np.testing.assert_array_equal(back["model"]["w"].numpy(), obj["model"]["w"].numpy())
    assert isinstance(back["model"]["b"], an.Tensor) and back["model"]["b"].dtype == np.int64
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == np.int32


def test_no_pickle_in_file(tmp_path):
    an.save({"a": an.randn(2)}, tmp_path / "x.npz")
    import zipfile
    with zipfile.ZipFile(tmp_path / "x.npz") as z:
        for n in z.namelist():
            # every member is a plain .npy array; object arrays (pickles) are refused on load
            assert n.endswith(".npy")


def test_unsupported_objects_rejected(tmp_path):
    with pytest.raises(TypeError, match="cannot store a object"):
        an.save({"f": object()}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    an.save({"v": 1}, path)

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        an.save({"v": 2}, path)
    monkeypatch.undo()
    assert an.load(path) == {"v": 1}
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # no temporary file left behind


def test_saved_files_get_the_usual_permissions(tmp_path):
    """Atomic writes go through mkstemp (mode 0o600); the result must still get 0o666 & ~umask,
    like any file the user creates, not stay private."""
    from diffusion.images import save_grid
    mask = os.umask(0o022)
    try:
        an.save({"v": 1}, tmp_path / "ck.npz")
        save_grid(np.zeros((2, 3, 4, 4)), tmp_path / "g.png")
    finally:
        os.umask(mask)
    for name in ("ck.npz", "g.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_not_ours_truncated_or_missing(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a valid arrayneedle file"):
        an.load(p)
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not a valid arrayneedle file"):
        an.load(tmp_path / "plain.npz")
    good = tmp_path / "good.npz"
    an.save({"w": an.randn(100, 100)}, good)
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted, truncated"):
        an.load(tmp_path / "trunc.npz")
    with pytest.raises(FileNotFoundError):
        an.load(tmp_path / "nope.npz")


def test_object_arrays_never_unpickled(tmp_path):
    """A crafted file with a pickled object array is refused, not executed."""
    import io
    import json
    import zipfile
    meta = json.dumps({"format": "arrayneedle.save", "version": 1,
                       "tree": {"t": "array", "key": "a0"}}).encode()
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    mbuf = io.BytesIO()
    np.save(mbuf, np.frombuffer(meta, dtype=np.uint8))
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        z.writestr("a0.npy", buf.getvalue())
        z.writestr("__arrayneedle__.npy", mbuf.getvalue())
    with pytest.raises(ValueError, match="not a valid arrayneedle file"):
        an.load(tmp_path / "evil.npz")


def test_load_onto_device(tmp_path, device):
    an.save({"t": an.randn(3)}, tmp_path / "x.npz")
    t = an.load(tmp_path / "x.npz", device=device)["t"]
    assert t.device is device


def test_load_allocates_about_the_file_size(tmp_path):
    """Arrays are read straight into their final buffers (no whole-member temporary)."""
    import tracemalloc
    an.save({"w": np.ones(1 << 21, np.float32)}, tmp_path / "x.npz")  # 8 MiB
    tracemalloc.start()
    try:
        back = an.load(tmp_path / "x.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert back["w"].sum() == 1 << 21
    assert peak < (8 + 3) << 20, peak  # the array, one 1 MiB read, zip and Python overhead


def test_atomic_write_long_names_and_stale_cleanup(tmp_path, monkeypatch):
    import arrayneedle.serialization as ser
    name = "c" * 240 + ".npz"  # a legal name; the temporary file's name must stay legal too
    an.save({"v": 1}, tmp_path / name)
    stale = tmp_path / (".tmp-abcdefgh-" + name[-200:])
    stale.write_bytes(b"left by a killed save")
    monkeypatch.setattr(ser, "STALE_TMP_SECONDS", 0.0)
    an.save({"v": 2}, tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == [name] and an.load(tmp_path / name) == {"v": 2}
