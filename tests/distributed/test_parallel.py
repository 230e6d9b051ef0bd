"""The CPU kernels' thread splitting (kernels/_parallel.py): every range done exactly once, errors
surface, configuration is checked, and the kernels give bit-identical results on 1 and on
several threads, at sizes large enough to be split."""
import os
import threading

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle.kernels import _parallel, cpu, cpu_eltwise, portable


@pytest.fixture
def threads():
    """Set the kernels' thread count for one test, restoring the default afterwards."""
    yield an.set_num_threads
    an.set_num_threads(None)


def test_parallel_for_covers_every_index_once_on_several_threads(threads):
    threads(3)
    seen, names = [], set()

    def fn(lo, hi):
        seen.append((lo, hi))
        names.add(threading.current_thread().name)

    _parallel.parallel_for(10, fn, nbytes=64 * _parallel.MIN_BYTES)
    covered = sorted(i for lo, hi in seen for i in range(lo, hi))
    assert covered == list(range(10))
    assert len(seen) == 3
    assert any(n.startswith("arrayneedle-kernel") for n in names)
    assert threading.current_thread().name in names  # the caller does one range itself


def test_parallel_for_keeps_small_work_on_the_caller(threads):
    threads(4)
    calls = []
    _parallel.parallel_for(10, lambda lo, hi: calls.append(
        (lo, hi, threading.current_thread().name)), nbytes=_parallel.MIN_BYTES // 2)
    assert calls == [(0, 10, threading.current_thread().name)]


def test_parallel_for_never_makes_more_ranges_than_items(threads):
    threads(8)
    seen = []
    _parallel.parallel_for(2, lambda lo, hi: seen.append((lo, hi)), nbytes=1 << 40)
    assert sorted(seen) == [(0, 1), (1, 2)]


def test_parallel_for_raises_a_worker_error_after_all_ranges_finished(threads):
    threads(2)
    done = []

    def fn(lo, hi):
        if lo > 0:
            raise RuntimeError("range failed")
        done.append((lo, hi))

    with pytest.raises(RuntimeError, match="range failed"):
        _parallel.parallel_for(4, fn, nbytes=1 << 30)
    assert done == [(0, 2)]


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_thread_env_var_must_be_a_positive_integer(monkeypatch, threads, value):
    monkeypatch.setenv("ARRAYNEEDLE_NUM_THREADS", value)
    threads(None)
    with pytest.raises(ValueError, match="ARRAYNEEDLE_NUM_THREADS.*positive integer"):
        _parallel.num_threads()


def test_thread_env_vars_are_read_and_capped(monkeypatch, threads):
    monkeypatch.setenv("ARRAYNEEDLE_NUM_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads(None)
    assert an.get_num_threads() == 3  # ours wins over OMP_NUM_THREADS
    monkeypatch.delenv("ARRAYNEEDLE_NUM_THREADS")
    threads(None)
    assert an.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1000")
    threads(None)
    assert an.get_num_threads() == _parallel.MAX_THREADS


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "2"])
def test_set_num_threads_rejects_bad_values(threads, bad):
    with pytest.raises(ValueError, match="positive integer"):
        threads(bad)


# ------------------------------------------------------------- kernels: 1 thread == n threads
def _on(n, fn, *args):
    """``fn(*args)`` with the NumPy kernels (oneDNN switched off) on ``n`` threads; with n > 1
    it also checks that some kernel call really was split into several ranges."""
    ranges = []
    real, usable = cpu.parallel_for, cpu.onednn.usable

    def recording(count, body, nbytes):
        def rec(lo, hi):
            ranges.append((lo, hi))
            body(lo, hi)
        real(count, rec, nbytes)

    an.set_num_threads(n)
    cpu.parallel_for = cpu_eltwise.parallel_for = recording  # (the activations live there)
    cpu.onednn.usable = lambda *arrays: None
    try:
        out = fn(*args)
    finally:
        cpu.parallel_for = cpu_eltwise.parallel_for = real
        cpu.onednn.usable = usable
        an.set_num_threads(None)
    assert len(ranges) > 1 if n > 1 else ranges
    return out


def _big(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


GEOMETRIES = [  # kernel, stride, padding, dilation
    ((3, 3), (1, 1), (1, 1), (1, 1)),
    ((4, 4), (2, 2), (1, 1), (1, 1)),
    ((3, 2), (2, 1), (0, 1), (2, 1)),
]


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_im2col_and_col2im_same_bits_on_one_and_three_threads(geom):
    x = _big((6, 32, 64, 60))
    assert x.nbytes > 2 * _parallel.MIN_BYTES
    one = _on(1, cpu.im2col, x, *geom)
    three = _on(3, cpu.im2col, x, *geom)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_array_equal(three, portable.im2col(x, *geom))
    cols = _big(one.shape, seed=1)
    back1 = _on(1, cpu.col2im, cols, x.shape, *geom)
    back3 = _on(3, cpu.col2im, cols, x.shape, *geom)
    np.testing.assert_array_equal(back1, back3)
    np.testing.assert_allclose(back3, portable.col2im(cols, x.shape, *geom), rtol=1e-5,
                               atol=1e-5)


def test_swap01_and_padding_same_bits_on_one_and_three_threads():
    a = _big((6, 40, 64, 64))
    one, three = _on(1, cpu.swap01, a), _on(3, cpu.swap01, a)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_array_equal(three, np.swapaxes(a, 0, 1))
    assert three.flags.c_contiguous
    for value in (0, -np.inf):
        p1, p3 = _on(1, cpu._pad_nchw, a, 2, 1, value), _on(3, cpu._pad_nchw, a, 2, 1, value)
        np.testing.assert_array_equal(p1, p3)
        np.testing.assert_array_equal(
            p3, np.pad(a, ((0, 0), (0, 0), (2, 2), (1, 1)), constant_values=value))


@pytest.mark.parametrize("k,s,p", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1))])
def test_maxpool_same_bits_on_one_and_three_threads(k, s, p, monkeypatch):
    # the NumPy kernel's own split (float32 max-pooling goes to oneDNN where it loads)
    monkeypatch.setattr(cpu.onednn, "usable", lambda *arrays: None)
    x = _big((6, 32, 96, 96))
    o1, a1 = _on(1, cpu.maxpool_forward, x, k, s, p)
    o3, a3 = _on(3, cpu.maxpool_forward, x, k, s, p)
    np.testing.assert_array_equal(o1, o3)
    np.testing.assert_array_equal(a1, a3)
    m1, _ = _on(1, cpu.maxpool_forward, x, k, s, p, False)
    m3, _ = _on(3, cpu.maxpool_forward, x, k, s, p, False)
    np.testing.assert_array_equal(m1, o1)
    np.testing.assert_array_equal(m3, o1)
    ref_o, ref_a = portable.maxpool_forward(x, k, s, p)
    np.testing.assert_array_equal(o3, ref_o)
    np.testing.assert_array_equal(a3, ref_a)
    g = _big(o1.shape, seed=2)
    g1 = _on(1, cpu.maxpool_backward, g, a1, x.shape, k, s, p)
    g3 = _on(3, cpu.maxpool_backward, g, a3, x.shape, k, s, p)
    np.testing.assert_array_equal(g1, g3)
    np.testing.assert_allclose(g3, portable.maxpool_backward(g, ref_a, x.shape, k, s, p),
                               rtol=1e-6)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_kernels_work_in_a_forked_child_after_the_pool_started():
    an.set_num_threads(2)
    try:
        x = _big((6, 16, 40, 40))
        expected = cpu.im2col(x, (3, 3), (1, 1), (1, 1), (1, 1))  # the parent's pool runs
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: the parent's worker threads do not exist here
            try:
                got = cpu.im2col(x, (3, 3), (1, 1), (1, 1), (1, 1))
                ok = np.array_equal(got, expected) and _parallel._state["pid"] == os.getpid()
                os.write(w, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.close(w)
        answer = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        assert answer == b"1"
    finally:
        an.set_num_threads(None)


def test_elementwise_kernels_same_bits_on_one_and_three_threads():
    x = _big((6, 40, 64, 64))
    x[0, 0, 0, :4] = [np.nan, -0.0, 0.0, np.inf]
    s, b = _big((40,), seed=3), _big((40,), seed=4)
    g = _big(x.shape, seed=5)
    for args in ((x, s, b), (x, None, b), (x, s, None)):
        one = _on(1, cpu.channel_affine, *args)
        three = _on(3, cpu.channel_affine, *args)
        np.testing.assert_array_equal(one, three)
        np.testing.assert_array_equal(three, portable.channel_affine(*args))
    inplace = x.copy()
    assert _on(3, cpu.channel_affine, inplace, None, b, inplace) is inplace
    np.testing.assert_array_equal(inplace, x + b.reshape(1, -1, 1, 1))
    y1, y3 = _on(1, cpu.relu, x), _on(3, cpu.relu, x)
    np.testing.assert_array_equal(y1, y3)
    np.testing.assert_array_equal(y3, np.maximum(x, np.float32(0)))
    assert np.isnan(y3[0, 0, 0, 0])
    b1, b3 = _on(1, cpu.relu_backward, g, y1), _on(3, cpu.relu_backward, g, y3)
    np.testing.assert_array_equal(b1, b3)
    np.testing.assert_array_equal(b3, portable.relu_backward(g, y1))
    # g where not x <= 0: a nan output passes its gradient, as PyTorch's threshold_backward
    np.testing.assert_array_equal(b3, np.where(~(x <= 0), g, np.float32(0)))


def test_activation_kernels_same_bits_on_one_and_three_threads():
    x, g = _big((6, 40, 32, 32)), _big((6, 40, 32, 32), seed=5)
    x[0, 0, 0, :3] = [np.nan, -np.inf, np.inf]
    calls = [(cpu.silu, x), (cpu.silu_backward, g, x), (cpu.gelu, x),
             (cpu.gelu_backward, g, x), (cpu.gelu, x, "tanh"), (cpu.gelu_backward, g, x, "tanh"),
             (cpu.sigmoid, x), (cpu.sigmoid_backward, g, x), (cpu.tanh, x),
             (cpu.tanh_backward, g, x)]
    with np.errstate(invalid="ignore", over="ignore"):
        for fn, *args in calls:
            np.testing.assert_array_equal(_on(1, fn, *args), _on(3, fn, *args), fn.__name__)


def test_channel_affine_checks_shapes():
    from arrayneedle import kernels
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\)"):
        kernels.channel_affine(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="out has shape"):
        kernels.channel_affine(x, None, np.ones(3, np.float32), out=np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        kernels.channel_affine(np.zeros(3, np.float32))


def test_parallel_for_called_from_a_worker_runs_there_instead_of_waiting_on_the_pool(threads):
    threads(2)
    inner = []

    def outer(lo, hi):
        # a nested call (e.g. a kernel used inside a range) must not queue on the busy pool
        _parallel.parallel_for(4, lambda a, b: inner.append(
            (lo, a, b, threading.current_thread().name)), nbytes=1 << 30)

    _parallel.parallel_for(2, outer, nbytes=1 << 30)
    from_worker = [r for r in inner if r[0] == 1]
    assert [r[1:3] for r in from_worker] == [(0, 4)]  # one range, on the worker itself
    assert from_worker[0][3].startswith("arrayneedle-kernel")
    assert sorted(r[1:3] for r in inner if r[0] == 0) == [(0, 2), (2, 4)]  # caller still splits


@pytest.mark.parametrize("n", [1, 3])
def test_elementwise_kernels_on_non_contiguous_inputs(n):
    base = _big((64, 40, 6, 64))
    x = base.transpose(2, 1, 0, 3)  # (6, 40, 64, 64), no axis contiguous in C order but the last
    g = _big((6, 64, 64, 40), seed=6).transpose(0, 3, 1, 2)
    s, b = _big((40,), seed=7), _big((40,), seed=8)
    y = _on(n, cpu.relu, x)
    np.testing.assert_array_equal(y, np.maximum(x, np.float32(0)))
    np.testing.assert_array_equal(_on(n, cpu.relu_backward, g, x), g * (x > 0))
    np.testing.assert_array_equal(_on(n, cpu.channel_affine, x, s, b),
                                  x * s.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1))
    np.testing.assert_array_equal(_on(n, cpu.swap01, x), np.swapaxes(x, 0, 1))
    same = x.copy()
    assert cpu.channel_affine(same, None, None, same) is same  # nothing to do: no pass at all
    np.testing.assert_array_equal(same, x)


def test_portable_channel_affine_in_place_and_into_out():
    x = _big((2, 3, 4, 5))
    s, b = _big((3,), seed=1), _big((3,), seed=2)
    ref = x * s.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)
    y = x.copy()
    assert portable.channel_affine(y, s, b, y) is y
    np.testing.assert_array_equal(y, ref)
    out = np.empty_like(x)
    assert portable.channel_affine(x, s, b, out) is out
    np.testing.assert_array_equal(out, ref)
    copy = portable.channel_affine(x, None, None)
    assert copy is not x
    np.testing.assert_array_equal(copy, x)
