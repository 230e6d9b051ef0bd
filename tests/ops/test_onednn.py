"""The oneDNN CPU kernels (arrayneedle/kernels/onednn): each against the NumPy reference kernels
and against PyTorch (float32 within PyTorch's own float32 error from a float64 reference), the
fallback to NumPy (forced by ARRAYNEEDLE_KERNELS=numpy, or a library that does not load), and
that two forwards awaiting backward share no buffer.

Where oneDNN does not load (another platform, ARRAYNEEDLE_KERNELS=numpy) the kernel tests
check the NumPy path against the same references (``kernels.conv2d`` & co. are then the NumPy
reference kernels)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import arrayneedle as an
from arrayneedle import kernels
from arrayneedle.kernels import conv_reference, cpu, onednn
from memory_check import growth_over_steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ON = kernels.cpu_kernels()["kernels"] == "onednn"

# (x shape, O, kernel, stride, padding, dilation)
CONV_CASES = [((2, 3, 9, 11), 5, (3, 3), (1, 1), (1, 1), (1, 1)),
              ((3, 16, 8, 8), 32, (3, 3), (2, 2), (1, 1), (1, 1)),
              ((2, 8, 10, 9), 4, (3, 2), (1, 2), (0, 1), (2, 1)),
              ((2, 24, 7, 7), 40, (1, 1), (1, 1), (0, 0), (1, 1)),
              ((4, 32, 16, 16), 64, (3, 3), (1, 1), (1, 1), (1, 1))]


def _rel(a, ref):
    """Largest error relative to the reference's largest magnitude."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref)) / np.max(np.abs(ref)))


def _torch_conv(x, w, b, s, p, d):
    """Forward and all three gradients of torch's conv2d (dtype of the inputs)."""
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, stride=s, padding=p, dilation=d)
    g = torch.tensor(np.cos(np.arange(y.numel())).reshape(y.shape).astype(x.dtype))
    y.backward(g)
    return y.detach().numpy(), g.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def _data(shape, O, k, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) + 0.5  # a positive mean: the sums cancel less than noise
    w = rng.standard_normal((O, shape[1]) + k) / np.sqrt(shape[1] * k[0] * k[1])
    return x, w, rng.standard_normal(O)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}-{c[1]}-k{c[2]}s{c[3]}")
def test_conv_kernels_match_numpy_reference_and_torch(case):
    shape, O, k, s, p, d = case
    x, w, b = _data(shape, O, k)
    ref = _torch_conv(x, w, b, s, p, d)  # float64
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    tor = _torch_conv(*f32, s, p, d)  # PyTorch's float32 (oneDNN inside)
    g = tor[1]
    ours = (kernels.conv2d(*f32, s, p, d),
            kernels.conv2d_input_grad(g, f32[1], shape, s, p, d),
            *kernels.conv2d_weight_grad(f32[0], g, f32[1].shape, s, p, d, bias=True))
    numpy_ref = (conv_reference.conv2d(cpu, *f32, k, s, p, d),
                 conv_reference.conv2d_input_grad(cpu, g, f32[1], shape, k, s, p, d),
                 *conv_reference.conv2d_weight_grad(cpu, f32[0], g, f32[1].shape, k, s, p, d,
                                                    True))
    for name, a, n, t, r in zip(("y", "gx", "gw", "gb"), ours, numpy_ref, tor[:1] + tor[2:],
                                ref[:1] + ref[2:]):
        assert a.dtype == np.float32 and a.shape == r.shape, name
        torch_err = _rel(t, r)
        assert _rel(a, r) <= 2 * torch_err + 1e-6, (name, _rel(a, r), torch_err)
        np.testing.assert_allclose(a, n, rtol=2e-4, atol=2e-4 * np.abs(r).max(), err_msg=name)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}-{c[1]}-k{c[2]}s{c[3]}")
def test_conv2d_backward_is_the_separate_gradients_in_one_call(case):
    """``kernels.conv2d_backward`` (one reorder of the output gradient shared by oneDNN's
    backward-data and backward-weights, the bias gradient fused) gives the values of the two
    separate kernels and of PyTorch's float32, for every combination of wanted gradients."""
    shape, O, k, s, p, d = case
    x, w, b = _data(shape, O, k, seed=1)
    ref = _torch_conv(x, w, b, s, p, d)
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    tor = _torch_conv(*f32, s, p, d)
    g = tor[1]
    sep = (kernels.conv2d_input_grad(g, f32[1], shape, s, p, d),
           *kernels.conv2d_weight_grad(f32[0], g, f32[1].shape, s, p, d, bias=True))
    for need_x, need_w, bias in [(True, True, True), (True, True, False), (True, False, False),
                                 (False, True, True), (False, True, False)]:
        got = kernels.conv2d_backward(g, f32[1] if need_x else None, f32[0] if need_w else None,
                                      shape, f32[1].shape, s, p, d, need_input=need_x,
                                      need_weight=need_w, bias=bias)
        wanted = (need_x, need_w, bias)
        for name, a, sp, t, r, want in zip(("gx", "gw", "gb"), got, sep, tor[2:], ref[2:],
                                           wanted):
            if not want:
                assert a is None, (name, wanted)
                continue
            assert a.dtype == np.float32 and a.shape == r.shape, (name, wanted)
            np.testing.assert_allclose(a, sp, rtol=1e-5, atol=1e-5 * np.abs(r).max(),
                                       err_msg=f"{name} {wanted}")
            assert _rel(a, r) <= 2 * _rel(t, r) + 1e-6, (name, wanted)
    with pytest.raises(ValueError, match="bias gradient comes with the weight gradient"):
        kernels.conv2d_backward(g, f32[1], None, shape, f32[1].shape, s, p, d,
                                need_weight=False, bias=True)


# (x shape, Cout, kernel, stride, padding, output_padding, dilation)
DECONV_CASES = [((2, 8, 5, 6), 4, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),
                ((2, 6, 5, 5), 3, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),
                ((3, 16, 8, 8), 16, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1)),
                ((2, 4, 4, 5), 6, (3, 2), (1, 2), (0, 1), (0, 1), (2, 1))]


@pytest.mark.parametrize("case", DECONV_CASES, ids=lambda c: f"{c[0]}-{c[1]}-s{c[3]}op{c[5]}")
def test_conv_transpose_through_the_module_matches_torch(case):
    shape, cout, k, s, p, op, d = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) + 0.5
    w = rng.standard_normal((shape[1], cout) + k) / np.sqrt(shape[1] * k[0] * k[1])
    b = rng.standard_normal(cout)

    def run_torch(dtype):
        tx, tw, tb = (torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b))
        y = F.conv_transpose2d(tx, tw, tb, stride=s, padding=p, output_padding=op, dilation=d)
        (y * torch.tensor(np.cos(np.arange(y.numel())).reshape(y.shape).astype(dtype))).sum() \
            .backward()
        return [y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]

    ref, tor = run_torch(np.float64), run_torch(np.float32)
    ax, aw, ab = (an.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    y = an.conv_transpose2d(ax, aw, ab, stride=s, padding=p, output_padding=op, dilation=d)
    g = np.cos(np.arange(y.numel())).reshape(y.shape).astype(np.float32)
    (y * an.tensor(g)).sum().backward()
    for name, a, t, r in zip(("y", "gx", "gw", "gb"),
                             (y.detach().numpy(), ax.grad.numpy(), aw.grad.numpy(), ab.grad.numpy()),
                             tor, ref):
        assert a.dtype == np.float32, name
        assert _rel(a, r) <= 2 * _rel(t, r) + 1e-6, (name, _rel(a, r), _rel(t, r))


def test_conv_transpose_kernel_is_the_input_gradient_of_conv():
    rng = np.random.default_rng(4)
    g = rng.standard_normal((2, 6, 5, 5)).astype(np.float32)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    a = kernels.conv_transpose2d(g, w, None, (2, 3, 10, 10), 2, 1, 1)
    bb = kernels.conv2d_input_grad(g, w, (2, 3, 10, 10), 2, 1, 1)
    np.testing.assert_allclose(a, bb, rtol=1e-5, atol=1e-5)
    # the adjoint identity <conv(x), g> == <x, conv_input_grad(g)>
    x = rng.standard_normal((2, 3, 10, 10)).astype(np.float32)
    lhs = float(np.vdot(kernels.conv2d(x, w, None, 2, 1, 1).astype(np.float64), g))
    assert lhs == pytest.approx(float(np.vdot(x.astype(np.float64), a)), rel=1e-4)


@pytest.mark.parametrize("geom", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)),
                                  ((3, 2), (1, 1), (1, 0))])
def test_maxpool_kernel_matches_numpy_taps_and_torch(geom):
    k, s, p = geom
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 9, 8)).astype(np.float32)
    x[0, 0, :3, :3] = 0.25  # ties: the first maximum in window order wins on both paths
    out, arg = kernels.maxpool_forward(x, k, s, p)
    tout = F.max_pool2d(torch.from_numpy(x), k, s, p)
    np.testing.assert_array_equal(out, tout.numpy())
    ref_out, ref_arg = _numpy_maxpool(x, k, s, p)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(arg, ref_arg)  # the two paths read each other's arg
    assert arg.dtype == np.int8
    g = rng.standard_normal(out.shape).astype(np.float32)
    gx = kernels.maxpool_backward(g, arg, x.shape, k, s, p)
    tx = torch.tensor(x, requires_grad=True)
    F.max_pool2d(tx, k, s, p).backward(torch.from_numpy(g))
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    x[1, 2, 4, 4] = np.nan  # NaN propagates (as PyTorch), on either path
    assert np.isnan(kernels.maxpool_forward(x, k, s, p)[0][1, 2]).any()


def _numpy_maxpool(x, k, s, p):
    """NumPy's own maxpool kernel, whatever path cpu.maxpool_forward would take: float64 input
    (oneDNN computes float32 only), the result back in float32."""
    out, arg = cpu.maxpool_forward(x.astype(np.float64), k, s, p)
    return out.astype(np.float32), arg


@pytest.mark.skipif(not ON, reason="checks the oneDNN path; the NumPy path is the reference")
def test_conv_dispatches_to_direct_functions_for_float32_only():
    x32 = an.randn(2, 4, 6, 6)
    w32 = an.randn(8, 4, 3, 3, requires_grad=True)
    y = an.conv2d(x32, w32, padding=1)
    assert type(y.grad_fn).__name__ == "Conv2dDirect"
    y64 = an.conv2d(x32.double(), w32.double(), padding=1)
    assert type(y64.grad_fn).__name__ != "Conv2dDirect"  # oneDNN is float32 only
    assert kernels.direct_conv(x32.numpy()) and not kernels.direct_conv(x32.numpy().astype(float))


def test_two_forwards_awaiting_backward_share_no_buffer():
    """Same shapes (one cached primitive set), two graphs alive at once, backward in reverse
    order: each gets the gradients of its own inputs."""
    rng = np.random.default_rng(6)
    conv = an.nn.Conv2d(8, 16, 3, padding=1)
    xs = [rng.standard_normal((2, 8, 10, 10)).astype(np.float32) for _ in range(2)]
    ins = [an.tensor(x, requires_grad=True) for x in xs]
    pools = [an.max_pool2d(an.relu(conv(a)), 2) for a in ins]  # both graphs alive
    grads = []
    for a, out in reversed(list(zip(ins, pools))):
        conv.zero_grad()
        out.sum().backward()
        grads.append((a.grad.numpy().copy(), conv.weight.grad.numpy().copy()))
    tconv = torch.nn.Conv2d(8, 16, 3, padding=1)
    with torch.no_grad():
        tconv.weight.copy_(torch.from_numpy(conv.weight.detach().numpy()))
        tconv.bias.copy_(torch.from_numpy(conv.bias.detach().numpy()))
    for x, (gx, gw) in zip(reversed(xs), grads):
        tconv.zero_grad()
        tx = torch.tensor(x, requires_grad=True)
        F.max_pool2d(F.relu(tconv(tx)), 2).sum().backward()
        np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gw, tconv.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


PROBE = """
import numpy as np, arrayneedle as an
from arrayneedle import kernels
{setup}
x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
w = np.ones((4, 3, 3, 3), np.float32)
w = an.tensor(w, requires_grad=True)
y = an.conv2d(an.tensor(x), w, padding=1)
y.sum().backward()
yv = y.detach().numpy()
ok = np.allclose(yv[:, 0], yv[:, 3]) and w.grad is not None
print("|".join(map(str, (an.startup_info()["cpu_kernels"], kernels.direct_conv(x),
                         type(y.grad_fn).__name__, ok))))
"""


def _probe(setup="", **env):
    e = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], env=e,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_environment_variable_forces_the_numpy_kernels():
    info, direct, fn, ok = _probe(ARRAYNEEDLE_KERNELS="numpy").split("|")
    assert (info, direct, ok) == ("numpy (ARRAYNEEDLE_KERNELS=numpy)", "False", "True")
    assert fn == "Conv2dIm2col"


def test_a_library_that_does_not_load_falls_back_to_numpy():
    """A missing libgomp.so.1 (or any loader error) leaves the NumPy kernels, no crash."""
    setup = ("from arrayneedle.kernels.onednn import _lib\n"
             "_lib._candidates = lambda: iter(['/nonexistent/libdnnl.so.3'])")
    info, direct, fn, ok = _probe(setup, ARRAYNEEDLE_KERNELS="auto").split("|")
    assert info.startswith("numpy (oneDNN did not load: /nonexistent/libdnnl.so.3")
    assert (direct, fn, ok) == ("False", "Conv2dIm2col", "True")


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
def test_primitive_cache_reuses_and_bounds_its_entries(monkeypatch):
    from arrayneedle.kernels.onednn import _core
    rt = onednn.runtime()
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    kernels.conv2d(x, w, None, 1, 1)
    n = len(rt.cache)
    kernels.conv2d(x, w, None, 1, 1)
    assert len(rt.cache) == n  # same shapes: the cached primitive
    monkeypatch.setattr(_core, "CACHE_CAPACITY", n + 2)
    for size in range(6, 12):
        kernels.conv2d(np.ones((1, 2, size, size), np.float32), w, None, 1, 1)
    assert len(rt.cache) == n + 2  # least recently used entries dropped (and destroyed)
    # the memory objects bound to a primitive go with it: one binding per live primitive
    live = {p.value for e in rt.cache.values() for p in e._prims}
    assert rt.bound and {k[0] for k in rt.bound} <= live


@pytest.mark.skipif(not ON, reason="oneDNN does not load here")
def test_bound_memory_objects_follow_each_calls_buffers():
    """A primitive's memory objects are made once and re-pointed at every call's arrays: calls
    with new inputs (and outputs) of the same shape compute on those, not the first call's."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    for _ in range(3):
        x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
        ref = conv_reference.conv2d(cpu, x, w, None, (3, 3), (1, 1), (1, 1), (1, 1))
        np.testing.assert_allclose(kernels.conv2d(x, w, None, 1, 1), ref, rtol=1e-5,
                                   atol=1e-5)
        a = rng.standard_normal((4, 16, 64, 64)).astype(np.float32)
        s = rng.standard_normal(16).astype(np.float32)
        np.testing.assert_array_equal(kernels.channel_affine(a, s),
                                      a * s.reshape(1, -1, 1, 1))


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (100.0, 0.01)])
def test_batch_norm_float32_within_torch_error_even_for_a_large_mean(mean, std):
    """oneDNN's own batch-norm statistics lose precision when a channel's mean is much larger
    than its std; ours (two passes: the mean, then the centred squares) must not."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 9, 9)) * std + mean
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    g = np.cos(np.arange(x.size)).reshape(x.shape)

    def run_torch(dtype):
        tx, tw, tb = (torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b))
        y = F.batch_norm(tx, None, None, tw, tb, training=True)
        y.backward(torch.tensor(g.astype(dtype)))
        return [y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]

    ref, tor = run_torch(np.float64), run_torch(np.float32)
    ax, aw, ab = (an.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    y = an.nn.functional.batch_norm(ax, None, None, aw, ab, training=True)
    y.backward(an.tensor(g.astype(np.float32)))
    for name, a, t, r in zip(("y", "gx", "gw", "gb"),
                             (y.detach().numpy(), ax.grad.numpy(), aw.grad.numpy(),
                              ab.grad.numpy()), tor, ref):
        assert a.dtype == np.float32, name
        assert _rel(a, r) <= 2 * _rel(t, r) + 1e-6, (name, _rel(a, r), _rel(t, r))


def test_memory_flat_across_conv_training_steps():
    """The flat-memory check of tests/autograd/test_autograd.py on a convolutional net (conv, conv
    transpose, max-pool: the oneDNN path where it loads): no buffer outlives its step."""
    nn = an.nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1))
    opt = an.optim.Adam(model.parameters(), lr=1e-3)
    x = an.randn(4, 3, 16, 16)

    def step():
        opt.zero_grad()
        nn.MSELoss()(model(x), x).backward()
        opt.step()

    grown = growth_over_steps(step)
    assert grown < 256 * 1024, f"memory grew by {grown} bytes over 20 steps"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_computes_after_the_parent_ran_the_kernels():
    """GNU OpenMP's threads do not survive fork (a oneDNN primitive in the child would wait for
    them forever): the child of a process that ran the kernels gets the NumPy kernels."""
    code = """
import os, numpy as np, arrayneedle as an
from arrayneedle import kernels
x = np.random.default_rng(0).standard_normal((4, 16, 16, 16)).astype(np.float32)
w = np.random.default_rng(1).standard_normal((8, 16, 3, 3)).astype(np.float32)
y = kernels.conv2d(x, w, None, 1, 1, 1)
pid = os.fork()
if pid == 0:
    ok = np.allclose(kernels.conv2d(x, w, None, 1, 1, 1), y, rtol=1e-4, atol=1e-4)
    os._exit(0 if ok and kernels.cpu_kernels()["kernels"] == "numpy" else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    e = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("env,expect", [({}, "True 10000"), ({"GOMP_SPINCOUNT": "5"}, "False 5"),
                                        ({"OMP_WAIT_POLICY": "PASSIVE"}, "False unset"),
                                        ({"ARRAYNEEDLE_BLAS_TUNING": "0"}, "False unset")])
def test_openmp_spin_is_set_only_before_onednn_loads_and_never_over_the_users(env, expect):
    code = ("import os, arrayneedle as an\ninfo = an.startup_info()\n"
            "print(info['cpu_kernels'], info['gomp_spincount'], "
            "os.environ.get('GOMP_SPINCOUNT', 'unset'))")
    e = {k: v for k, v in os.environ.items()
         if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "ARRAYNEEDLE_BLAS_TUNING")}
    e.update(env, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    kernels_path, rest = out.stdout.split(" ", 1)
    if kernels_path == "onednn":
        assert rest.strip() == expect
    else:  # NumPy kernels (forced, or no oneDNN here): libgomp is never loaded, nothing is set
        assert rest.strip().startswith("(") and "False" in rest and rest.strip().endswith(
            env.get("GOMP_SPINCOUNT", "unset"))


@pytest.mark.parametrize("transpose", [False, True])
def test_double_backward_through_the_direct_convolutions(transpose):
    """create_graph=True: the gradients are convolutions of Tensors again (float32 through the
    kernels, compared with the float64 path)."""
    rng = np.random.default_rng(8)
    x0 = rng.standard_normal((2, 4, 6, 6))
    w0 = rng.standard_normal((4, 5, 3, 3) if transpose else (5, 4, 3, 3)) / 6

    def run(dtype):
        x = an.tensor(x0.astype(dtype), requires_grad=True)
        w = an.tensor(w0.astype(dtype), requires_grad=True)
        y = (an.conv_transpose2d(x, w, stride=2, padding=1) if transpose
             else an.conv2d(x, w, padding=1))
        (gx,) = an.autograd.grad((y * y).sum(), [x], create_graph=True)
        (gx * gx).sum().backward()
        return w.grad.numpy().astype(np.float64)

    np.testing.assert_allclose(run(np.float32), run(np.float64), rtol=1e-4, atol=1e-4)


# (shape, terms): the per-channel chains of kernels.channel_affine, in oneDNN's one pass
CHAIN_CASES = [((12, 64, 16, 16), ("scale", "shift")),
               ((3, 5), ("center", "scale")),
               ((2, 7, 11), ("shift",)),
               ((2, 3, 4, 5, 6), ("center", "scale", "shift", "add", "post_scale")),
               ((8, 16, 40, 40), ("center", "scale", "shift", "add", "post_scale")),
               ((1, 8, 5, 5), ("scale", "add")),
               ((4096, 40), ("center", "scale")),
               ((2, 16, 64, 80), ("center",))]


def _chain_args(shape, terms, seed=0):
    rng = np.random.default_rng(seed)
    vec = {t: rng.standard_normal(shape[1]).astype(np.float32)
           for t in ("center", "scale", "shift", "post_scale")}
    args = {t: vec[t] for t in terms if t in vec}
    if "add" in terms:
        args["add"] = rng.standard_normal(shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32), args


@pytest.mark.parametrize("shape,terms", CHAIN_CASES)
def test_channel_affine_chain_matches_numpy_kernel_and_torch(shape, terms, monkeypatch):
    x, args = _chain_args(shape, terms)
    cs = (1, shape[1]) + (1,) * (len(shape) - 2)
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in args.items()}
    ref = torch.tensor(x, dtype=torch.float64)
    for k, op in (("center", "sub"), ("scale", "mul"), ("shift", "add"), ("add", "add"),
                  ("post_scale", "mul")):
        if k in t:
            v = t[k] if k == "add" else t[k].reshape(cs)
            ref = ref - v if op == "sub" else (ref * v if op == "mul" else ref + v)
    ref = ref.numpy()
    fast = kernels.channel_affine(x, **args)
    inplace = x.copy()
    assert kernels.channel_affine(inplace, out=inplace, **args) is inplace
    monkeypatch.setattr(cpu.onednn, "usable", lambda *a: None)
    numpy_kernel = kernels.channel_affine(x, **args)
    for y in (fast, inplace, numpy_kernel):
        assert y.dtype == np.float32 and y.shape == shape
        assert _rel(y, ref) < 1e-6
    np.testing.assert_allclose(fast, numpy_kernel, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not ON, reason="oneDNN kernels not loaded (ARRAYNEEDLE_KERNELS=numpy)")
def test_channel_affine_runs_as_one_onednn_pass_for_float32_only():
    rt = onednn.runtime()
    rt.clear_cache()
    x, args = _chain_args((2, 4, 3, 3), ("center", "scale", "shift"))
    kernels.channel_affine(x, **args)  # too small to repay a oneDNN call: NumPy
    assert len(rt.cache) == 0
    x, args = _chain_args((2, 4, 128, 128), ("center", "scale", "shift"))
    kernels.channel_affine(x, **args)
    assert [k[0] for k in rt.cache] == ["chain"]
    kernels.channel_affine(x.astype(np.float64), **{k: v.astype(np.float64)
                                                     for k, v in args.items()})
    kernels.channel_affine(x[:, :, ::2], **args)  # not contiguous: NumPy
    assert len(rt.cache) == 1


@pytest.mark.parametrize("shape", [(12, 64, 16, 16), (3, 5), (2, 3, 7)])
def test_channel_sum_and_dot_are_precise_and_match_numpy(shape):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(shape) * 0.01 + 100).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    axes = (0,) + tuple(range(2, len(shape)))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    s, d = kernels.channel_sum(a), kernels.channel_dot(a, b)
    assert s.dtype == d.dtype == np.float32 and s.shape == d.shape == (shape[1],)
    assert _rel(s, a64.sum(axis=axes)) < 1e-6
    assert _rel(d, (a64 * b64).sum(axis=axes)) < 1e-5
    np.testing.assert_allclose(s, a.sum(axis=axes, dtype=np.float64), rtol=1e-6)


@pytest.mark.parametrize("shape,k", [((32, 128, 4, 4), 2), ((4, 32, 64, 64), 2), ((3, 5), 1),
                                     ((2, 3, 7), 3), ((6, 2, 150, 150), 2), ((2, 3), 0)])
def test_sum_trailing_matches_float64_and_torch(shape, k):
    """``kernels.sum_trailing`` (einsum row sums for short float rows, NumPy's pairwise sum for
    long ones and other dtypes): the shape of a keepdims sum, and within PyTorch's own float32
    error of the float64 sum; the broadcast add's gradient uses it."""
    rng = np.random.default_rng(4)
    a = (rng.standard_normal(shape) * 0.01 + 3).astype(np.float32)
    axes = tuple(range(len(shape) - k, len(shape)))
    ref = a.astype(np.float64).sum(axis=axes, keepdims=True)
    tor = torch.tensor(a).sum(dim=axes, keepdim=True).numpy() if k else a
    got = kernels.sum_trailing(a, k)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert _rel(got, ref) <= 2 * _rel(tor, ref) + 1e-7, (_rel(got, ref), _rel(tor, ref))
    i = np.arange(12).reshape(3, 4)
    assert kernels.sum_trailing(i, 1).tolist() == [[6], [22], [38]]
    with pytest.raises(ValueError, match="sum_trailing"):
        kernels.sum_trailing(a, len(shape) + 1)
    # the gradient of a per-(sample, channel) bias added over H x W
    x = an.tensor(a, requires_grad=True) if len(shape) == 4 else None
    if x is not None:
        bias = an.tensor(np.ones(shape[:2] + (1, 1), np.float32), requires_grad=True)
        (x + bias).backward(an.tensor(a))
        np.testing.assert_allclose(bias.grad.numpy(), ref, rtol=1e-5)


def test_batch_norm_eval_without_grad_matches_torch():
    """Sampling's batch norm (eval, no_grad) is one pass ``(x - running_mean) * scale + bias``
    and agrees with PyTorch's eval batch norm, with and without affine parameters."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((4, 6, 5, 5)) * 0.1 + 30).astype(np.float32)
    rm = (rng.standard_normal(6) * 0.1 + 30).astype(np.float32)
    rv = (rng.random(6) * 0.02 + 0.005).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    for affine in (True, False):
        ref = F.batch_norm(torch.tensor(x, dtype=torch.float64), torch.tensor(rm).double(),
                           torch.tensor(rv).double(), torch.tensor(w).double() if affine
                           else None, torch.tensor(b).double() if affine else None,
                           training=False).numpy()
        tor = F.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv),
                           torch.tensor(w) if affine else None,
                           torch.tensor(b) if affine else None, training=False).numpy()
        with an.no_grad():
            y = an.nn.functional.batch_norm(an.tensor(x), an.tensor(rm), an.tensor(rv),
                                            an.tensor(w) if affine else None,
                                            an.tensor(b) if affine else None,
                                            training=False).numpy()
        assert y.dtype == np.float32
        assert _rel(y, ref) <= 2 * _rel(tor, ref) + 1e-6
