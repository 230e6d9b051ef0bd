"""Every CuPy kernel against the NumPy path, forward and backward, float32 and float64; and the
convolution ops on the GPU against the CPU. Skipped cleanly without CuPy or a GPU."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import kernels, ops
from arrayneedle.kernels import cpu

pytestmark = pytest.mark.gpu

if not an.backend.cuda_available():
    pytest.skip("CuPy or a CUDA GPU is not available", allow_module_level=True)

import cupy  # noqa: E402

from arrayneedle.kernels import cuda  # noqa: E402

CONV_CASES = [
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 3, 7, 6), (3, 2), (2, 1), (0, 2), (1, 1)),
    ((1, 2, 9, 8), (5, 5), (3, 3), (2, 2), (1, 1)),
    ((3, 2, 6, 5), (2, 4), (1, 2), (1, 2), (1, 1)),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 0), (2, 1)),
    ((4, 16, 32, 32), (3, 3), (1, 1), (1, 1), (1, 1)),
]
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
    ((2, 2, 7, 9), (3, 2), (1, 1), (1, 0)),
    ((4, 16, 32, 32), (2, 2), (2, 2), (0, 0)),
]
DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_col2im_match_numpy(case, dtype):
    shape, k, s, p, d = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    cols = kernels.im2col(cupy.asarray(x), k, s, p, d)
    assert isinstance(cols, cupy.ndarray) and cols.dtype == dtype
    np.testing.assert_array_equal(cols.get(), cpu.im2col(x, k, s, p, d))
    c = rng.standard_normal(cols.shape).astype(dtype)
    back = kernels.col2im(cupy.asarray(c), shape, k, s, p, d)
    np.testing.assert_allclose(back.get(), cpu.col2im(c, shape, k, s, p, d), **_tol(dtype))


def test_col2im_is_deterministic():
    rng = np.random.default_rng(1)
    c = cupy.asarray(rng.standard_normal((3 * 9, 2, 8, 8)).astype(np.float32))
    a = kernels.col2im(c, (2, 3, 8, 8), 3, 1, 1)
    b = kernels.col2im(c, (2, 3, 8, 8), 3, 1, 1)
    assert bool((a == b).all())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_matches_numpy(case, dtype):
    shape, k, s, p = case
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, :3, :3] = 0.25  # ties
    out, arg = kernels.maxpool_forward(cupy.asarray(x), k, s, p)
    ref_out, ref_arg = cpu.maxpool_forward(x, k, s, p)
    np.testing.assert_array_equal(out.get(), ref_out)
    np.testing.assert_array_equal(arg.get(), ref_arg)
    g = rng.standard_normal(ref_out.shape).astype(dtype)
    gx = kernels.maxpool_backward(cupy.asarray(g), arg, shape, k, s, p)
    np.testing.assert_allclose(gx.get(), cpu.maxpool_backward(g, ref_arg, shape, k, s, p),
                               **_tol(dtype))
    only, none = kernels.maxpool_forward(cupy.asarray(x), k, s, p, with_arg=False)
    assert none is None
    np.testing.assert_array_equal(only.get(), ref_out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dilate_undilate_match_numpy(dtype):
    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(dtype)
    d = kernels.dilate(cupy.asarray(x), (0, 2), 2)
    ref = np.zeros((9, 4, 15), dtype=dtype)
    ref[::3, :, ::3] = x
    assert d.dtype == x.dtype
    np.testing.assert_array_equal(d.get(), ref)
    np.testing.assert_array_equal(kernels.undilate(d, (0, 2), 2).get(), x)


def test_kernels_are_cached_per_device_and_dtype():
    x = cupy.ones((1, 1, 4, 4), dtype=cupy.float32)
    kernels.im2col(x, 3, 1, 1)
    kernels.im2col(x.astype(cupy.float64), 3, 1, 1)
    dev = x.device.id
    assert (dev, "im2col.cu", "im2col_f32") in cuda._functions
    assert (dev, "im2col.cu", "im2col_f64") in cuda._functions
    first = cuda._functions[(dev, "im2col.cu", "im2col_f32")]
    kernels.im2col(x, 3, 1, 1)
    assert cuda._functions[(dev, "im2col.cu", "im2col_f32")] is first
    assert sum(1 for d, _ in cuda._modules if d == dev) <= len(cuda.source_files())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ops_on_cuda_match_cpu(dtype):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s).astype(dtype) for s in
              [(2, 4, 9, 8), (6, 4, 3, 3), (6,), (6, 3, 4, 4), (3,)]]

    def run(dev):
        x, w, b, wt, bt = (an.Tensor(a, device=dev, requires_grad=True) for a in arrays)
        h = ops.conv2d(x, w, b, padding=1)
        h = ops.max_pool2d(ops.relu(h), 3, stride=2, padding=1)
        h = ops.conv_transpose2d(h, wt, bt, stride=2, padding=1)
        h = ops.conv2d(h, wt[:, :, :2, :], stride=(2, 1))
        ops.sum(h * h).backward()
        return [h.numpy()] + [t.grad.numpy() for t in (x, w, b, wt, bt)]

    tol = _tol(np.dtype(dtype).type)
    tol = dict(rtol=tol["rtol"] * 100, atol=tol["atol"] * 100)
    for got, want in zip(run("cuda"), run("cpu")):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layout_affine_and_relu_kernels_match_numpy(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 6, 7)).astype(dtype)
    s, b = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    xc, sc, bc, gc = (cupy.asarray(a) for a in (x, s, b, g))
    np.testing.assert_array_equal(kernels.swap01(xc).get(), cpu.swap01(x))
    np.testing.assert_allclose(kernels.channel_affine(xc, sc, bc).get(),
                               cpu.channel_affine(x, s, b), **_tol(dtype))
    inplace = xc.copy()
    assert kernels.channel_affine(inplace, None, bc, out=inplace) is inplace
    np.testing.assert_allclose(inplace.get(), cpu.channel_affine(x, None, b), **_tol(dtype))
    y = kernels.relu(xc)
    np.testing.assert_array_equal(y.get(), cpu.relu(x))
    np.testing.assert_array_equal(kernels.relu_backward(gc, y).get(),
                                  cpu.relu_backward(g, cpu.relu(x)))
