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
    for f in sorted((root / "ops").glob("*.py")) + [root / "autograd.py"]:
        src = f.read_text()
        assert "import numpy as np\n" not in src and "\nimport numpy\n" not in src, f
