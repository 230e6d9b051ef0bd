import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import backend


def test_device_parsing_and_identity():
    assert an.device("cpu") is an.cpu()
    assert an.device(an.cpu()) is an.cpu()
    assert str(an.cpu()) == "cpu"
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
        an.device("tpu")
    with pytest.raises(TypeError):
        an.device(3)


def test_cpu_device_namespace():
    import array_api_compat.numpy as npx
    assert an.cpu().xp is npx


@pytest.mark.skipif(backend.cuda_available(), reason="this checks the error without a GPU")
def test_cuda_without_gpu_says_how_to_install():
    with pytest.raises(RuntimeError, match=r'pip install "arrayneedle\[cuda12\]"'):
        an.cuda()
    with pytest.raises(RuntimeError, match="cuda12"):
        an.device("cuda:1")


def test_manual_seed_reproducible():
    an.manual_seed(123)
    a = an.randn(5).numpy()
    b = an.rand(3).numpy()
    an.manual_seed(123)
    np.testing.assert_array_equal(an.randn(5).numpy(), a)
    np.testing.assert_array_equal(an.rand(3).numpy(), b)
    an.manual_seed(124)
    assert not np.array_equal(an.randn(5).numpy(), a)


def test_rng_state_roundtrip():
    dev = an.cpu()
    state = dev.get_rng_state()
    a = an.randn(4).numpy()
    dev.set_rng_state(state)
    np.testing.assert_array_equal(an.randn(4).numpy(), a)


def test_random_dtypes(device):
    assert an.randn(2, 3, device=device).dtype == np.float32
    assert an.randn(2, device=device, dtype="float64").dtype == np.float64
    r = an.randint(0, 5, (100,), device=device).numpy()
    assert r.dtype == np.int64 and r.min() >= 0 and r.max() < 5


def test_dtype_names():
    assert backend.dtype_name("float") == "float32"
    assert backend.dtype_name(np.float64) == "float64"
    with pytest.raises(TypeError, match="unsupported dtype 'complex64'"):
        backend.dtype_name("complex64")


def test_no_numpy_import_in_op_code():
    """Op code gets its namespace from its inputs: it must not import numpy."""
    import pathlib
    root = pathlib.Path(an.__file__).parent
    for f in sorted((root / "ops").glob("*.py")) + [root / n for n in (
            "autograd/__init__.py", "autograd/functional.py", "graph.py", "tensor.py",
            "tensor_ops.py", "tensor_api.py", "inplace.py")]:
        src = f.read_text()
        assert "import numpy as np\n" not in src and "\nimport numpy\n" not in src, f


# ---- device classes ----
def test_devices_are_cached_subclass_singletons():
    import copy
    import pickle
    cpu = an.cpu()
    assert type(cpu) is backend.CPUDevice and isinstance(cpu, backend.Device)
    assert backend.Device("cpu") is cpu and an.device("cpu") is cpu
    assert cpu.kind == "cpu" and cpu.index is None and hash(cpu) == hash(an.cpu())
    assert copy.deepcopy(cpu) is cpu and pickle.loads(pickle.dumps(cpu)) is cpu
    with pytest.raises(ValueError, match="unknown device kind 'tpu'"):
        backend.Device("tpu")


def test_namespace_device_draws_on_the_host_and_refuses_pickling():
    import pickle
    xps = pytest.importorskip("array_api_strict")
    dev = backend.device_of(xps.asarray([1.0]))
    assert type(dev) is backend.NamespaceDevice and dev.xp is xps
    assert dev.kind == "array_api_strict" and str(dev) == "array_api_strict"
    dev.seed(3)
    a = dev.randn((4,), dtype="float64")
    assert type(a).__module__.startswith("array_api_strict") and a.dtype == xps.float64
    np.testing.assert_array_equal(np.asarray(a), np.random.default_rng(3).standard_normal(4))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(dev)


def test_to_numpy_is_public_and_does_not_copy_numpy_input():
    a = np.arange(3.0)
    assert backend.to_numpy(a) is a
    np.testing.assert_array_equal(backend.to_numpy([1, 2]), [1, 2])
    assert isinstance(backend.to_numpy(2.5), np.ndarray)
    xps = pytest.importorskip("array_api_strict")
    out = backend.to_numpy(xps.asarray([1.0, 2.0]))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [1.0, 2.0])


def test_cuda_unavailable_reason_matches_availability():
    reason = backend.cuda_unavailable_reason()
    if backend.cuda_available():
        assert reason is None
    else:
        assert isinstance(reason, str) and reason


# ---- CUDA device logic on a stand-in for CuPy (no GPU needed) ----
class _Generator:
    """CuPy 14's Generator as far as the device uses it: no ``permutation``, and float draws
    take float32/float64 only."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def _float(self, dtype):
        if np.dtype(dtype).name not in ("float32", "float64"):
            raise TypeError(f"Unsupported dtype {np.dtype(dtype).name} for standard_normal")
        return dtype

    def standard_normal(self, size=None, dtype=np.float64):
        return self._rng.standard_normal(size, dtype=self._float(dtype))

    def random(self, size=None, dtype=np.float64):
        return self._rng.random(size, dtype=self._float(dtype))

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return self._rng.integers(low, high, size=size, dtype=dtype)


def _fake_cupy(count=1, error=None):
    import contextlib
    import types

    def device_count():
        if error is not None:
            raise error
        return count

    cupy = types.ModuleType("cupy")
    cupy.ndarray = type("ndarray", (), {})  # nothing here is a CuPy array
    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=device_count),
        Device=lambda index=0: contextlib.nullcontext(),
        get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None))
    cupy.random = types.SimpleNamespace(default_rng=_Generator)
    cupy.asnumpy, cupy.argsort, cupy.asarray = np.asarray, np.argsort, np.asarray
    return cupy


@pytest.fixture
def fake_cuda(monkeypatch):
    """Install a stand-in CuPy; returns a function that sets it up and gives ``an.cuda(0)``."""
    import sys

    import array_api_compat
    import array_api_compat.numpy as npx
    monkeypatch.setattr(backend.Device, "_cache", {})
    monkeypatch.delattr(array_api_compat, "cupy", raising=False)
    monkeypatch.setitem(sys.modules, "array_api_compat.cupy", npx)

    def install(**kw):
        monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(**kw))
        return an.cuda(0) if not kw else None
    return install


def test_cuda_permutation_without_generator_permutation(fake_cuda):
    dev = fake_cuda()
    assert type(dev) is backend.CUDADevice and str(dev) == "cuda:0"
    assert not hasattr(dev.rng, "permutation")
    dev.seed(1)
    p = dev.permutation(50)
    assert isinstance(p, np.ndarray) and sorted(p.tolist()) == list(range(50))
    assert p.tolist() != list(range(50))
    dev.seed(1)
    np.testing.assert_array_equal(dev.permutation(50), p)
    assert dev.permutation(0).shape == (0,)


@pytest.mark.parametrize("method", ["randn", "rand"])
def test_cuda_float16_draws_are_float32_draws_cast(fake_cuda, method):
    dev = fake_cuda()
    dev.seed(5)
    half = getattr(dev, method)((3, 4), dtype="float16")
    dev.seed(5)
    single = getattr(dev, method)((3, 4), dtype="float32")
    assert half.dtype == np.float16 and single.dtype == np.float32
    np.testing.assert_array_equal(half, single.astype(np.float16))
    assert getattr(dev, method)((2,), dtype="float64").dtype == np.float64


def test_cuda_rng_state_roundtrip_and_refused_across_device_kinds(fake_cuda):
    dev = fake_cuda()
    dev.seed(7)
    state = dev.get_rng_state()
    assert state == {"device": "cuda", "seed": 7}
    a = dev.randn((4,))
    dev.set_rng_state(state)
    np.testing.assert_array_equal(dev.randn((4,)), a)
    dev.set_rng_state({"seed": 7})  # the seed-only form older checkpoints hold
    np.testing.assert_array_equal(dev.randn((4,)), a)
    cpu = an.cpu()
    before = cpu.get_rng_state()
    for cuda_state in (state, {"seed": 7}):
        with pytest.raises(ValueError, match=r"saved on cuda .* on device cpu"):
            cpu.set_rng_state(cuda_state)
    assert cpu.get_rng_state() == before  # a refused state changes nothing
    with pytest.raises(ValueError, match=r"saved on cpu .* on device cuda:0"):
        dev.set_rng_state(before)
    with pytest.raises(TypeError, match="expected the dict get_rng_state returns"):
        cpu.set_rng_state(7)


def test_cuda_init_error_is_kept_as_the_unavailable_reason(fake_cuda):
    fake_cuda(error=RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is "
                                 "insufficient for CUDA runtime version"))
    assert backend.cuda_device_count() == 0 and not backend.cuda_available()
    reason = backend.cuda_unavailable_reason()
    assert "could not initialise CUDA" in reason and "cudaErrorInsufficientDriver" in reason
    with pytest.raises(RuntimeError, match="cudaErrorInsufficientDriver"):
        an.cuda()
    fake_cuda(count=0)
    assert "sees no CUDA GPU" in backend.cuda_unavailable_reason()
    fake_cuda(count=2)
    assert backend.cuda_unavailable_reason() is None and backend.cuda_device_count() == 2
    with pytest.raises(RuntimeError, match="index 2 out of range: 2 device"):
        an.cuda(2)
