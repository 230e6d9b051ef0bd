import gc
import sys
import weakref

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
from memory_check import growth_over_steps


def test_tensor_construction_dtypes():
    assert an.Tensor([1.0, 2.0]).dtype == np.float32
    assert an.Tensor([1, 2]).dtype == np.int64
    assert an.Tensor([True]).dtype == np.bool_
    assert an.Tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype, as PyTorch
    assert an.Tensor([1, 2], dtype="float64").dtype == np.float64
    assert an.Tensor([1.0], dtype="float16").dtype == np.float16
    assert an.Tensor([1.0], dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="unsupported dtype"):
        an.Tensor([1.0], dtype="complex128")
    with pytest.raises(TypeError, match="unsupported dtype"):
        an.Tensor(np.array(["a"]))
    with pytest.raises(RuntimeError, match="floating point"):
        an.Tensor([1, 2], requires_grad=True)


def test_properties():
    t = an.Tensor(np.ones((2, 3, 4), np.float32))
    assert (t.shape, t.ndim, t.numel(), t.device) == ((2, 3, 4), 3, 24, an.cpu())
    assert t.grad is None and not t.requires_grad
    assert an.Tensor([[3.5]]).item() == 3.5
    with pytest.raises(RuntimeError, match="one element"):
        t.item()


def test_scalars_keep_float32():
    x = an.Tensor([1.0, 2.0])
    for y in (x + 1, 1 + x, x * 2.5, 2.5 * x, x / 3, 3 / x, x - 1, 1 - x, x ** 2, 2 ** x, -x):
        assert y.dtype == np.float32


def test_gradients_accumulate_across_backward_calls():
    x = an.Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_shared_subexpression_gets_summed_gradient():
    x = an.Tensor([2.0], requires_grad=True)
    y = x * x
    (y + y * x).sum().backward()   # d/dx (x^2 + x^3) = 2x + 3x^2
    np.testing.assert_allclose(x.grad.numpy(), [4 + 12])


def test_backward_nonscalar_needs_grad():
    x = an.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar output"):
        (x * 2).backward()
    (x * 2).backward(an.Tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 20])
    with pytest.raises(ValueError, match="Mismatch in shape"):
        (x * 2).backward(an.Tensor([1.0]))


def test_backward_without_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        an.Tensor([1.0]).sum().backward()


def test_graph_is_freed_after_backward():
    x = an.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    node = y._ctx
    y.backward()
    assert node.parents == () and not node.__dict__
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_no_grad_builds_no_graph():
    x = an.Tensor([1.0], requires_grad=True)
    with an.no_grad():
        y = x * 2
    assert not y.requires_grad and y._ctx is None

    @an.no_grad()
    def f(t):
        return t * 3
    assert not f(x).requires_grad
    assert an.is_grad_enabled()


def test_detach():
    x = an.Tensor([1.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d._ctx is None


def test_deep_graph_does_not_hit_recursion_limit():
    x = an.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(sys.getrecursionlimit() * 3):
        y = y + 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_no_reference_cycles_after_step():
    """Activations die as soon as the step's tensors go out of scope (no gc needed)."""
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    gc.disable()
    try:
        x = an.randn(4, 8)
        h = model[0](x)
        ref = weakref.ref(h)
        out = model[2](model[1](h)).sum()
        out.backward()
        del h, out
        assert ref() is None, "an intermediate tensor is kept alive by a reference cycle"
    finally:
        gc.enable()


def test_memory_flat_across_training_steps():
    model = nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 64))
    opt = an.optim.Adam(model.parameters(), lr=1e-3)
    x = an.randn(128, 64)

    def step():
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), x)
        loss.backward()
        opt.step()

    grown = growth_over_steps(step)
    assert grown < 256 * 1024, f"memory grew by {grown} bytes over 20 steps"


def test_device_mismatch_names_both_devices():
    import array_api_strict as xps
    a = an.Tensor([1.0, 2.0])
    b = an.Tensor(xps.asarray([1.0, 2.0], dtype=xps.float32))
    with pytest.raises(RuntimeError, match=r"different devices \(cpu and array_api_strict\)"):
        a + b


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"matmul: shape mismatch, \(2, 3\) @ \(4, 5\)"):
        an.randn(2, 3) @ an.randn(4, 5)
    with pytest.raises(ValueError, match=r"cannot broadcast shape \(3,\) to \(2, 4\)"):
        an.broadcast_to(an.randn(3), (2, 4))
    with pytest.raises(ValueError, match="cannot reshape"):
        an.randn(2, 3).reshape(4, 2)
    with pytest.raises(ValueError):
        an.randn(2, 3) + an.randn(4, 5)


def test_to_device_same_device_is_noop_and_astype_differentiable():
    x = an.Tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x
    y = x.to(dtype="float64")
    assert y.dtype == np.float64
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


def test_no_grad_tells_forward_that_no_input_needs_a_gradient():
    """Under no_grad ops are told nothing needs a gradient, so they save nothing for backward."""
    seen = []

    class Probe(an.autograd.Function):
        def forward(self, a, b):
            seen.append(self.needs_input_grad)
            return a + b

        def backward(self, g):
            return g, g

    x = an.Tensor([1.0, 2.0], requires_grad=True)
    y = an.Tensor([3.0, 4.0])
    out = Probe.apply(x, y)
    assert out.requires_grad and seen[-1] == (True, False)
    with an.no_grad():
        out = Probe.apply(x, y)
    assert not out.requires_grad and out._ctx is None and seen[-1] == (False, False)
    # a conv under no_grad keeps no im2col columns alive: its output holds no context at all
    w = an.Tensor(np.ones((2, 1, 3, 3)), requires_grad=True)
    with an.no_grad():
        z = an.ops.conv2d(an.Tensor(np.ones((1, 1, 5, 5))), w, padding=1)
    assert z._ctx is None and float(z.array[0, 0, 2, 2]) == 9.0


def test_device_mismatch_is_one_error_class_for_every_op():
    """One exception for all ops: a RuntimeError (as PyTorch) that is also a ValueError."""
    import array_api_strict as xps
    from arrayneedle._helpers import DeviceMismatchError
    a = an.Tensor([[1.0, 2.0]])
    b = an.Tensor(xps.asarray([[1.0, 2.0]], dtype=xps.float32))
    for op in (lambda: an.concat([a, b]), lambda: an.stack([a, b]), lambda: a < b,
               lambda: a + b, lambda: an.conv2d(a.reshape(1, 1, 1, 2), b.reshape(1, 1, 1, 2))):
        with pytest.raises(DeviceMismatchError, match=r"different devices \(cpu and "
                           r"array_api_strict\)") as e:
            op()
        assert isinstance(e.value, RuntimeError) and isinstance(e.value, ValueError)


def test_from_array_wraps_without_copy_and_checks_the_device():
    arr = np.arange(3.0)
    t = an.Tensor.from_array(arr)
    assert t.array is arr and t.device is an.cpu() and not t.requires_grad
    assert an.Tensor.from_array(arr, "cpu").array is arr
    with pytest.raises(TypeError, match="expects an array"):
        an.Tensor.from_array([1.0, 2.0])
    import array_api_strict as xps
    with pytest.raises(ValueError, match="lives on array_api_strict"):
        an.Tensor.from_array(xps.asarray([1.0]), "cpu")


def test_python_scalars_reuse_cached_constants_and_the_cache_stays_bounded():
    from arrayneedle import _helpers
    x = an.Tensor([1.0, 2.0])
    c1, c2 = _helpers.scalar_const(2.0, x), _helpers.scalar_const(2.0, x)
    assert c1.array is c2.array and c1.dtype == np.float32 and float(c1.item()) == 2.0
    # keys tell apart what == does not: -0.0 and 0.0, True and 1, and the tensor's dtype
    assert _helpers.scalar_const(-0.0, x).array is not _helpers.scalar_const(0.0, x).array
    assert np.signbit(_helpers.scalar_const(-0.0, x).numpy())
    i = an.Tensor([1, 2])
    assert _helpers.scalar_const(True, i).array is not _helpers.scalar_const(1, i).array
    assert _helpers.scalar_const(0.5, i).dtype == np.float32  # a float against ints: float32
    assert _helpers.scalar_const(2.0, x.astype("float64")).dtype == np.float64
    for k in range(3 * _helpers.CONST_CACHE_SIZE):  # values that never repeat
        _helpers.scalar_const(float(k) + 0.25, x)
    assert len(_helpers._CONSTS) <= _helpers.CONST_CACHE_SIZE
    np.testing.assert_allclose((x * 3.5 - 1).numpy(), [2.5, 6.0])
