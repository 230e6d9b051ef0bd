"""The im2col/col2im, dilate/undilate and max-pool kernels against naive loop implementations,
on the NumPy path and the portable (array-API) path; the CUDA sources compiled by nvcc and,
on the host compiler, run against the NumPy path."""
import ctypes
import shutil
import subprocess
import sys

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import kernels
from arrayneedle.kernels import cpu, portable
from arrayneedle.kernels.geometry import conv_geometry

try:
    import array_api_strict as xps
except ImportError:  # pragma: no cover - the strict runs are skipped
    xps = None

# (x shape, kernel, stride, padding, dilation): odd, non-square, batch and channels > 1
CONV_CASES = [
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 3, 7, 6), (3, 2), (2, 1), (0, 2), (1, 1)),
    ((1, 2, 9, 8), (5, 5), (3, 3), (2, 2), (1, 1)),
    ((2, 2, 8, 9), (1, 1), (2, 3), (0, 1), (1, 1)),
    ((3, 2, 6, 5), (2, 4), (1, 2), (1, 2), (1, 1)),
    ((2, 3, 9, 7), (3, 3), (2, 2), (1, 0), (2, 1)),
    ((2, 1, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1)),
    ((1, 4, 10, 7), (4, 3), (3, 2), (1, 1), (1, 2)),
    ((2, 3, 8, 6), (4, 4), (2, 2), (1, 1), (1, 1)),  # the UNets' up-sampling geometry
    ((1, 2, 2, 5), (1, 2), (3, 3), (0, 1), (1, 1)),  # image smaller than the stride
]
POOL_CASES = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1)),
    ((2, 2, 7, 9), (3, 2), (1, 1), (1, 0)),
    ((1, 3, 9, 7), (5, 4), (3, 2), (2, 1)),
    ((2, 2, 6, 7), (2, 3), (2, 1), (0, 1)),
]
BACKENDS = ["cpu", pytest.param("portable", marks=pytest.mark.skipif(
    xps is None, reason="array-api-strict is not installed"))]


def _conv_id(case):
    shape, k, s, p, d = case
    return f"x{shape}-k{k}-s{s}-p{p}-d{d}".replace(" ", "")


def _pool_id(case):
    shape, k, s, p = case
    return f"x{shape}-k{k}-s{s}-p{p}".replace(" ", "")


def _to(backend, a):
    return xps.asarray(a) if backend == "portable" else a


def _np(a):
    return np.asarray(a)


# ---- naive references: loops over taps and output pixels, vectorised only over (n, c) ----
def naive_im2col(x, k, s, p, d):
    N, C, H, W = x.shape
    OH, OW = conv_geometry(x.shape, k, s, p, d)
    cols = np.zeros((C, k[0], k[1], N, OH, OW), dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            for oh in range(OH):
                for ow in range(OW):
                    h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
                    if 0 <= h < H and 0 <= w < W:
                        cols[:, i, j, :, oh, ow] = x[:, :, h, w].T
    return cols.reshape(C * k[0] * k[1], N, OH, OW)


def naive_col2im(cols, x_shape, k, s, p, d):
    N, C, H, W = x_shape
    OH, OW = conv_geometry(x_shape, k, s, p, d)
    c6 = cols.reshape(C, k[0], k[1], N, OH, OW)
    x = np.zeros(x_shape, dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            for oh in range(OH):
                for ow in range(OW):
                    h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
                    if 0 <= h < H and 0 <= w < W:
                        x[:, :, h, w] += c6[:, i, j, :, oh, ow].T
    return x


def naive_maxpool(x, k, s, p):
    N, C, H, W = x.shape
    OH, OW = conv_geometry(x.shape, k, s, p, (1, 1))
    xp = np.full((N, C, H + 2 * p[0], W + 2 * p[1]), -np.inf, dtype=x.dtype)
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    arg = np.empty((N, C, OH, OW), dtype=np.int64)
    for oh in range(OH):
        for ow in range(OW):
            win = xp[:, :, oh * s[0]:oh * s[0] + k[0], ow * s[1]:ow * s[1] + k[1]]
            win = win.reshape(N, C, -1)
            arg[:, :, oh, ow] = np.argmax(win, axis=-1)  # the first maximum
            out[:, :, oh, ow] = np.max(win, axis=-1)
    return out, arg


def naive_maxpool_backward(g, arg, x_shape, k, s, p):
    N, C, H, W = x_shape
    gx = np.zeros((N, C, H + 2 * p[0], W + 2 * p[1]), dtype=g.dtype)
    OH, OW = g.shape[2:]
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    i, j = divmod(int(arg[n, c, oh, ow]), k[1])
                    gx[n, c, oh * s[0] + i, ow * s[1] + j] += g[n, c, oh, ow]
    return gx[:, :, p[0]:p[0] + H, p[1]:p[1] + W]


def _impl(backend):
    return cpu if backend == "cpu" else portable


# ---- im2col / col2im ----
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CONV_CASES, ids=_conv_id)
def test_im2col_and_col2im_match_loops(case, backend):
    shape, k, s, p, d = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    impl = _impl(backend)
    cols = impl.im2col(_to(backend, x), k, s, p, d)
    ref = naive_im2col(x, k, s, p, d)
    assert tuple(cols.shape) == ref.shape
    np.testing.assert_array_equal(_np(cols), ref)
    c = rng.standard_normal(ref.shape)
    back = impl.col2im(_to(backend, c), shape, k, s, p, d)
    assert tuple(back.shape) == shape
    np.testing.assert_allclose(_np(back), naive_col2im(c, shape, k, s, p, d), rtol=1e-12,
                               atol=1e-12)
    # adjoint: <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose(np.sum(ref * c), np.sum(x * _np(back)), rtol=1e-10)


def test_im2col_keeps_float32():
    x = np.ones((1, 2, 5, 5), dtype=np.float32)
    cols = kernels.im2col(x, 3, 1, 1)
    assert cols.dtype == np.float32
    assert kernels.col2im(cols, x.shape, 3, 1, 1).dtype == np.float32


# ---- max-pool ----
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_id)
def test_maxpool_matches_loops(case, backend):
    shape, k, s, p = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    x[0, 0, :3, :3] = 0.25  # ties: the first maximum in window order must win
    impl = _impl(backend)
    out, arg = impl.maxpool_forward(_to(backend, x), k, s, p)
    ref_out, ref_arg = naive_maxpool(x, k, s, p)
    np.testing.assert_array_equal(_np(out), ref_out)
    np.testing.assert_array_equal(_np(arg), ref_arg)
    g = rng.standard_normal(ref_out.shape)
    gx = impl.maxpool_backward(_to(backend, g), arg, shape, k, s, p)
    np.testing.assert_allclose(_np(gx), naive_maxpool_backward(g, ref_arg, shape, k, s, p),
                               rtol=1e-12, atol=1e-12)
    # without the argmax (forward under no_grad): the same maximum, no arg
    x[0, 0, 1, 1] = np.nan  # nan propagates as with the argmax
    ref_out, _ = naive_maxpool(x, k, s, p)
    only, none = impl.maxpool_forward(_to(backend, x), k, s, p, with_arg=False)
    assert none is None
    np.testing.assert_array_equal(_np(only), ref_out)


def test_maxpool_routes_each_window_to_one_element():
    x = np.zeros((1, 1, 4, 4))  # every window is a tie
    out, arg = kernels.maxpool_forward(x, 2, 2)
    gx = kernels.maxpool_backward(np.ones_like(out), arg, x.shape, 2, 2)
    np.testing.assert_array_equal(gx[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0],
                                             [1, 0, 1, 0], [0, 0, 0, 0]])


# ---- dilate / undilate ----
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axes,dilation", [((0,), 1), ((1, 2), 2), ((0, 2), 3)])
def test_dilate_undilate_match_loops(axes, dilation, backend):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 2))
    out = _np(kernels.dilate(_to(backend, x), axes, dilation))
    shape = [n * (dilation + 1) if ax in axes else n for ax, n in enumerate(x.shape)]
    ref = np.zeros(shape)
    for idx in np.ndindex(*x.shape):
        ref[tuple(i * (dilation + 1) if ax in axes else i for ax, i in enumerate(idx))] = x[idx]
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(_np(kernels.undilate(_to(backend, ref), axes, dilation)), x)


# ---- dispatch ----
def test_dispatch_by_array_library():
    x = np.arange(2 * 2 * 4 * 4, dtype=np.float64).reshape(2, 2, 4, 4)
    cols = kernels.im2col(x, (2, 3), stride=1, padding=(1, 0))
    assert isinstance(cols, np.ndarray)
    np.testing.assert_array_equal(cols, naive_im2col(x, (2, 3), (1, 1), (1, 0), (1, 1)))
    if xps is not None:
        s = kernels.im2col(xps.asarray(x), (2, 3), stride=1, padding=(1, 0))
        assert type(s).__module__.startswith("array_api_strict")
        np.testing.assert_array_equal(np.asarray(s), cols)


# ---- shape checks before the adjoint kernels (shared by every backend) ----
def test_shared_checks_accept_the_geometry_and_name_what_is_wrong():
    from arrayneedle.kernels.checks import check_col2im, check_maxpool_backward
    geom = ((3, 3), (2, 2), (1, 1), (1, 1))
    assert check_col2im((27, 2, 4, 3), [2, 3, 7, 6], *geom) == (2, 3, 7, 6)
    with pytest.raises(ValueError, match=r"cols has shape \(2, 27, 4, 3\), expected .* "
                                         r"= \(27, 2, 4, 3\)"):
        check_col2im((2, 27, 4, 3), (2, 3, 7, 6), *geom)
    with pytest.raises(ValueError, match="x_shape must be 4 non-negative ints"):
        check_col2im((27, 2, 4, 3), (3, 7, 6), *geom)
    with pytest.raises(ValueError, match="stride and dilation >= 1"):
        check_col2im((27, 2, 4, 3), (2, 3, 7, 6), (3, 3), (0, 2), (1, 1), (1, 1))
    pool = ((3, 3), (2, 2), (1, 1))
    assert check_maxpool_backward((2, 3, 4, 3), (2, 3, 4, 3), (2, 3, 7, 6), *pool) == (2, 3, 7, 6)
    with pytest.raises(ValueError, match=r"grad has shape \(2, 3, 4, 4\), expected the pooled"):
        check_maxpool_backward((2, 3, 4, 4), (2, 3, 4, 3), (2, 3, 7, 6), *pool)
    with pytest.raises(ValueError, match=r"arg has shape \(3, 2, 4, 3\)"):
        check_maxpool_backward((2, 3, 4, 3), (3, 2, 4, 3), (2, 3, 7, 6), *pool)


def _launchers():
    from arrayneedle.kernels import cuda
    return [cpu, portable, cuda]


@pytest.mark.parametrize("impl", _launchers(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_backend_checks_adjoint_shapes_before_computing(impl):
    """cols transposed (same size: a plain reshape would accept it) and a pooled gradient for
    another batch size are refused by each backend before any work; on the CUDA launchers
    the check runs before CuPy is touched, so NumPy arrays stand in for CuPy's."""
    k, s, p, d = (3, 3), (2, 2), (1, 1), (1, 1)
    cols = np.zeros((2, 27, 4, 3), dtype=np.float32)  # (N, C*kh*kw, ...) instead of (C*kh*kw, N)
    with pytest.raises(ValueError, match="col2im: cols has shape"):
        impl.col2im(cols, (2, 3, 7, 6), k, s, p, d)
    g = np.zeros((1, 3, 4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="maxpool_backward: grad has shape"):
        impl.maxpool_backward(g, np.zeros(g.shape, np.int32), (2, 3, 7, 6), k, s, p)
    with pytest.raises(ValueError, match="col2im: cols has shape"):  # through the dispatcher
        kernels.col2im(cols, (2, 3, 7, 6), k, s, p, d)


# ---- index_add, dispatched like the other kernels ----
@pytest.mark.parametrize("backend", BACKENDS)
def test_index_add_accumulates_repeated_indices(backend):
    values = np.arange(8.0).reshape(4, 2)
    idx = np.array([2, 0, 2, 2])
    out = _np(kernels.index_add((3, 2), (_to(backend, idx),), _to(backend, values)))
    np.testing.assert_array_equal(out, [[2, 3], [0, 0], [0 + 4 + 6, 1 + 5 + 7]])


def test_index_add_and_dilate_have_one_implementation_per_library():
    from arrayneedle.kernels import cuda
    assert all(callable(m.index_add) for m in (cpu, cuda, portable))
    # dilate/undilate: a zero fill and one strided copy, the same code for every library
    assert not any(hasattr(m, "dilate") or hasattr(m, "undilate") for m in (cpu, cuda))


# ---- CUDA sources, without a GPU ----
def _cuda_sources():
    from arrayneedle.kernels import cuda
    return cuda.source_files()


def test_cuda_sources_ship_with_the_package():
    names = {p.name for p in _cuda_sources()}
    assert {"im2col.cu", "maxpool.cu"} <= names


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("source", [p.name for p in _cuda_sources()])
def test_cuda_source_compiles_with_nvcc(source, tmp_path):
    path = next(p for p in _cuda_sources() if p.name == source)
    out = tmp_path / (path.stem + ".ptx")
    res = subprocess.run(["nvcc", "-arch=sm_90", "-ptx", str(path), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, f"nvcc failed on {source}:\n{res.stderr}"
    ptx = out.read_text()
    for sfx in ("f32", "f64", "f32_i64", "f64_i64"):
        stems = ("im2col", "col2im") if source == "im2col.cu" else (
            "maxpool_forward", "maxpool_backward")
        for stem in stems:
            assert f".entry {stem}_{sfx}(" in ptx, f"kernel {stem}_{sfx} missing from {source}"


_SHIM = """
#pragma once
#include <algorithm>
struct SimDim3 { unsigned x; };
extern SimDim3 blockIdx, blockDim, threadIdx, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
using std::min;
"""
_LAUNCH = """
SimDim3 blockIdx{0}, blockDim{1}, threadIdx{0}, gridDim{1};
extern "C" void sim_set(unsigned b, unsigned nb, unsigned t, unsigned nt)
{ blockIdx.x = b; gridDim.x = nb; threadIdx.x = t; blockDim.x = nt; }
"""


@pytest.fixture(scope="module")
def host_cuda(tmp_path_factory):
    """The .cu sources compiled as C++ for the host, with a shim for the CUDA built-ins; a
    'launch' runs every (block, thread) of a small grid in turn, which exercises the
    grid-stride loops and the index arithmetic exactly as on the device."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None or not sys.platform.startswith("linux"):
        pytest.skip("no host C++ compiler")
    d = tmp_path_factory.mktemp("cuda_host")
    (d / "shim.h").write_text(_SHIM)
    (d / "launch.cpp").write_text(_LAUNCH)
    lib = d / "libkernels.so"
    cmd = [cxx, "-O1", "-shared", "-fPIC", "-o", str(lib), "-include", str(d / "shim.h")]
    for src in _cuda_sources():
        cmd += ["-x", "c++", str(src)]
    cmd += ["-x", "c++", str(d / "launch.cpp")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"host compile of the CUDA sources failed:\n{res.stderr}"
    so = ctypes.CDLL(str(lib))

    def launch(name, arrays, total, ints, grid=(3, 4)):
        fn = getattr(so, name)
        args = [ctypes.c_void_p(a.ctypes.data) for a in arrays]
        args += [ctypes.c_longlong(total)] + [ctypes.c_int(int(v)) for v in ints]
        for b in range(grid[0]):
            for t in range(grid[1]):
                so.sim_set(b, grid[0], t, grid[1])
                fn(*args)
    return launch


@pytest.mark.parametrize("sfx,dtype", [("f32", np.float32), ("f64", np.float64),
                                       ("f64_i64", np.float64)])
@pytest.mark.parametrize("case", CONV_CASES[:6], ids=_conv_id)
def test_cuda_conv_kernels_on_host_match_numpy(host_cuda, case, sfx, dtype):
    shape, k, s, p, d = case
    N, C, H, W = shape
    OH, OW = conv_geometry(shape, k, s, p, d)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    cols = np.full((C * k[0] * k[1], N, OH, OW), np.nan, dtype=dtype)
    host_cuda("im2col_" + sfx, [x, cols], cols.size, [N, C, H, W, *k, *s, *p, *d, OH, OW, OW])
    np.testing.assert_array_equal(cols, cpu.im2col(x, k, s, p, d))
    c = rng.standard_normal(cols.shape).astype(dtype)
    gx = np.full(shape, np.nan, dtype=dtype)
    host_cuda("col2im_" + sfx, [c, gx], gx.size, [N, C, H, W, *k, *s, *p, *d, OH, OW, OW])
    np.testing.assert_allclose(gx, cpu.col2im(c, shape, k, s, p, d), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sfx,dtype", [("f32", np.float32), ("f64", np.float64),
                                       ("f32_i64", np.float32)])
@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_id)
def test_cuda_maxpool_kernels_on_host_match_numpy(host_cuda, case, sfx, dtype):
    shape, k, s, p = case
    N, C, H, W = shape
    OH, OW = conv_geometry(shape, k, s, p, (1, 1))
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, :3, :3] = 0.25
    out = np.empty((N, C, OH, OW), dtype=dtype)
    arg = np.empty((N, C, OH, OW), dtype=np.int32)
    host_cuda("maxpool_forward_" + sfx, [x, out, arg], out.size,
              [N, C, H, W, *k, *s, *p, OH, OW])
    ref_out, ref_arg = cpu.maxpool_forward(x, k, s, p)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = np.full(shape, np.nan, dtype=dtype)
    host_cuda("maxpool_backward_" + sfx, [g, arg, gx], gx.size,
              [N, C, H, W, *k, *s, *p, OH, OW])
    np.testing.assert_allclose(gx, cpu.maxpool_backward(g, ref_arg, shape, k, s, p),
                               rtol=1e-5, atol=1e-6)


def test_cuda_module_imports_without_cupy():
    from arrayneedle.kernels import cuda
    assert "cupy" not in cuda.__dict__
    assert an.kernels.cuda is cuda
