""".safetensors: our round trip, hostile files, and weights crossing to and from PyTorch."""
import json
import struct
import warnings

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn
from arrayneedle.safetensors_io import read_metadata


def _raw_file(path, header, data=b""):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def test_round_trip_dtypes_order_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    sd = {"w": an.tensor(rng.standard_normal((3, 2)).astype(np.float32)),
          "b": an.tensor(np.arange(4, dtype=np.float64)),
          "h": an.tensor(np.ones(2, np.float16)),
          "i": an.tensor(np.array([1, -2], np.int64)),
          "j": an.tensor(np.array([7], np.int32)),
          "m": an.tensor(np.array([True, False])),
          "u": np.array([0, 255], np.uint8),       # raw arrays are accepted too
          "s": an.tensor(np.float32(2.5))}         # 0-d
    p = tmp_path / "m.safetensors"
    an.save_file(sd, p, metadata={"format": "pt"})
    out = an.load_file(p)
    assert set(out) == set(sd)
    for k, v in sd.items():
        ref = v.detach().numpy() if isinstance(v, an.Tensor) else v
        assert isinstance(out[k], an.Tensor) and out[k].device is an.cpu()
        assert out[k].dtype == ref.dtype and out[k].shape == ref.shape
        np.testing.assert_array_equal(out[k].detach().numpy(), ref)
    assert read_metadata(p) == {"format": "pt"}
    out["w"].array[0, 0] = 1.0                    # loaded tensors are writable
    # the file is the documented format: 8-byte length, JSON header, raw bytes
    raw = p.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["w"]["dtype"] == "F32" and header["w"]["shape"] == [3, 2]


def test_save_load_dispatch_by_extension(tmp_path):
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    p = tmp_path / "model.safetensors"
    an.save(m.state_dict(), p)
    assert p.read_bytes()[8:9] == b"{"            # safetensors, not an npz zip
    m2 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    m2.load_state_dict(an.load(p))
    x = an.tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_array_equal(m(x).detach().numpy(), m2(x).detach().numpy())
    opt = an.optim.Adam(m.parameters())
    with pytest.raises(ValueError, match="flat dict of tensors"):
        an.save({"model": m.state_dict(), "optimizer": opt.state_dict()}, p)
    with pytest.raises(ValueError, match="flat dict of tensors"):
        an.save_file({"lr": "0.1"}, p)
    with pytest.raises(ValueError, match="flat dict of tensors"):
        an.save_file([an.ones(2)], p)
    with pytest.raises(TypeError, match="metadata"):
        an.save_file({"a": an.ones(2)}, p, metadata={"n": 1})
    m2.load_state_dict(an.load(p))                # failed saves left the file intact


@pytest.mark.parametrize("case", ["empty", "short", "huge_header", "header_past_end",
                                  "not_json", "offsets_lie", "truncated_data", "bad_dtype",
                                  "not_object"])
def test_hostile_files_raise_value_error_naming_the_file(tmp_path, case):
    p = tmp_path / f"{case}.safetensors"
    good = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    if case == "empty":
        p.write_bytes(b"")
    elif case == "short":
        p.write_bytes(b"\x01\x02")
    elif case == "huge_header":
        p.write_bytes(struct.pack("<Q", 2 ** 62) + b"{}")
    elif case == "header_past_end":
        p.write_bytes(struct.pack("<Q", 500) + b"{}")
    elif case == "not_json":
        p.write_bytes(struct.pack("<Q", 4) + b"{{{{")
    elif case == "offsets_lie":
        _raw_file(p, {"a": {"dtype": "F32", "shape": [100, 100], "data_offsets": [0, 16]}},
                  b"\0" * 16)
    elif case == "truncated_data":
        _raw_file(p, good, b"\0" * 10)
    elif case == "bad_dtype":
        _raw_file(p, {"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0")
    elif case == "not_object":
        _raw_file(p, [1, 2])
    with pytest.raises(ValueError, match=case):
        an.load_file(p)
    with pytest.raises(ValueError, match=case):
        an.load(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        an.load_file(tmp_path / "nope.safetensors")


def test_bfloat16_widened_to_float32_with_a_warning(tmp_path):
    vals = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)   # exactly representable in bf16
    bits = (vals.view(np.uint32) >> 16).astype("<u2")
    p = _raw_file(tmp_path / "bf.safetensors",
                  {"x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]},
                   "y": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}},
                  bits.tobytes() + np.float32(7).tobytes())
    with pytest.warns(UserWarning, match=r"bfloat16.*float32.*\bx\b"):
        out = an.load_file(p)
    assert out["x"].dtype == np.float32
    np.testing.assert_array_equal(out["x"].detach().numpy(), vals.reshape(2, 2))
    np.testing.assert_array_equal(out["y"].detach().numpy(), [7.0])


def test_bfloat16_from_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    t = torch.tensor([[0.5, -1.25], [100.0, 3.0]], dtype=torch.bfloat16)
    save_file({"t": t}, str(tmp_path / "t.safetensors"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = an.load_file(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(out["t"].detach().numpy(), t.float().detach().numpy())


def _torch_pair(torch):
    tnn = torch.nn
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5))
    theirs = tnn.Sequential(tnn.Conv2d(2, 3, 3, padding=1), tnn.ReLU(), tnn.Flatten(),
                            tnn.Linear(3 * 4 * 4, 5))
    return ours, theirs


def test_pytorch_state_dict_loads_into_ours_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load
    from safetensors.torch import save_file as torch_save
    ours, theirs = _torch_pair(torch)
    x = np.random.default_rng(2).standard_normal((2, 2, 4, 4)).astype(np.float32)
    # PyTorch -> arrayneedle
    torch_save(theirs.state_dict(), str(tmp_path / "theirs.safetensors"))
    ours.load_state_dict(an.load_file(tmp_path / "theirs.safetensors"))
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(an.tensor(x)).detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    # arrayneedle -> PyTorch
    ours2, theirs2 = _torch_pair(torch)
    an.save_file(ours2.state_dict(), tmp_path / "ours.safetensors")
    sd = torch_load(str(tmp_path / "ours.safetensors"))
    assert list(sd) != [] and set(sd) == set(theirs2.state_dict())
    theirs2.load_state_dict(sd)
    with torch.no_grad():
        ref2 = theirs2(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours2(an.tensor(x)).detach().numpy(), ref2, rtol=1e-5, atol=1e-5)


def test_linear_weights_land_where_hand_computation_says(tmp_path):
    # without PyTorch: a file written by the safetensors package itself (PyTorch's layout)
    from safetensors.numpy import save_file
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)   # (out=3, in=2)
    b = np.array([0.5, -0.5, 1.0], np.float32)
    save_file({"weight": w, "bias": b}, str(tmp_path / "lin.safetensors"))
    lin = nn.Linear(2, 3)
    lin.load_state_dict(an.load(tmp_path / "lin.safetensors"))
    y = lin(an.tensor(np.array([[1.0, 1.0]], np.float32))).detach().numpy()
    np.testing.assert_array_equal(y, [[3.5, 6.5, 12.0]])
