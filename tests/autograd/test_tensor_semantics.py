"""Tensor and autograd semantics as PyTorch's: version counter, in-place family, promotion,
dtype objects, conversions, grad modes, Sequential(OrderedDict), Conv2d's argument order.
Each test asserts hand-computed values; where torch is installed some also compare with it."""
from collections import OrderedDict

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- version counter
def _step_then_backward(modify):
    lin = nn.Linear(3, 2)
    opt = an.optim.SGD(lin.parameters(), lr=0.1)
    # the input needs a gradient, so backward reads the weight (x's gradient is g @ W)
    x = an.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    loss = lin(x).sum()
    if modify:
        loss.backward()
        loss = lin(x).sum()
        opt.step()  # writes into weight.array in place
    loss.backward()
    return lin


def test_optimizer_step_between_forward_and_backward_raises():
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[float32 "
                                           r".*is at version 2; expected version 1"):
        _step_then_backward(True)
    lin = _step_then_backward(False)
    assert lin.weight.grad.numpy().tolist() == [[3, 5, 7], [3, 5, 7]]


def test_versions_bump_on_every_in_place_change():
    t = an.zeros(3)
    assert t._version == 0
    t.add_(1)
    t[0] = 5
    t.array *= 2          # an augmented assignment to the raw array is seen
    t.array[1] = 0        # a raw write is not, until increment_version
    assert t._version == 3
    an.autograd.increment_version(t)
    assert t._version == 4 and t.tolist() == [10, 0, 2]
    d = t.detach()        # shares memory and the counter
    d.mul_(2)
    assert t._version == 5 and t.tolist() == [20, 0, 4]


def test_data_shares_memory_but_not_the_version():
    p = nn.Parameter(an.zeros(2, 3))
    out = p.data.normal_(0, 0.02)
    assert p._version == 0 and out is not p
    assert np.array_equal(p.detach().numpy(), out.numpy()) and p.detach().numpy().std() > 0
    p.data.copy_(an.ones(3))
    assert p.detach().numpy().tolist() == [[1, 1, 1]] * 2


def test_saved_output_modified_in_place_raises():
    x = an.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()           # exp keeps its output for backward
    y.add_(1)
    with pytest.raises(RuntimeError, match="output 0 of ExpBackward0"):
        y.sum().backward()
    x2 = an.tensor([1.0, 2.0], requires_grad=True)
    z = x2 * 2            # not used by any saved op afterwards
    z += 1                # in place on a non-leaf: gradient flows through
    (z * z).sum().backward()
    assert x2.grad.tolist() == [12.0, 20.0]  # d/dx (2x+1)^2 = 4(2x+1)


def test_leaf_requiring_grad_refuses_in_place_outside_no_grad():
    w = an.tensor([1.0, 2.0], requires_grad=True)
    for f in (lambda: w.add_(1), lambda: w.__setitem__(0, 3.0), lambda: w.zero_()):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being "
                                               "used in an in-place operation"):
            f()
    with an.no_grad():
        w[0] = 3.0
        w -= 1
    assert w.tolist() == [2.0, 1.0] and w._version == 2 and w.requires_grad


# ---------------------------------------------------------------- in-place family
def test_in_place_methods_return_self_and_compute():
    t = an.zeros(2, 3)
    assert t.fill_(2.5) is t and t.tolist() == [[2.5] * 3] * 2
    assert t.add_(an.tensor([1.0, 2.0, 3.0]), alpha=2).tolist() == [[4.5, 6.5, 8.5]] * 2
    assert t.sub_(0.5).mul_(2).div_(4).tolist() == [[2.0, 3.0, 4.0]] * 2
    assert t.clamp_(2.5, 3.5).tolist() == [[2.5, 3.0, 3.5]] * 2
    mask = an.tensor([True, False, True])
    assert t.masked_fill_(mask, -1).tolist() == [[-1, 3.0, -1]] * 2
    assert t.zero_().tolist() == [[0.0] * 3] * 2
    t.copy_(an.tensor([1, 2, 3]))  # int source, broadcast, cast to float32
    assert t.tolist() == [[1.0, 2.0, 3.0]] * 2 and t.dtype == an.float32
    t[1] = an.tensor([7.0, 8.0, 9.0])
    t[an.tensor([0]), an.tensor([2])] = 5
    assert t.tolist() == [[1.0, 2.0, 5.0], [7.0, 8.0, 9.0]]
    an.manual_seed(0)
    u = an.zeros(1000).uniform_(-1, 2)
    assert -1 <= u.numpy().min() and u.numpy().max() < 2 and abs(u.numpy().mean() - 0.5) < 0.1
    n = an.zeros(1000, dtype=an.float64).normal_(3, 0.5)
    assert n.dtype == an.float64 and abs(n.numpy().mean() - 3) < 0.1


def test_in_place_errors_are_pytorchs():
    i = an.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(0.5)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        an.zeros(3).add_(an.ones(2, 3))
    with pytest.raises(RuntimeError, match="floating point"):
        i.normal_()
    with pytest.raises(RuntimeError, match="boolean masks"):
        an.zeros(2).masked_fill_(an.tensor([1, 0]), 1.0)
    i += 3
    assert i.tolist() == [4, 5] and i.dtype == an.int64


def test_in_place_in_graph_matches_torch_gradients():
    def run(lib, tensor):
        a = tensor([1.0, -2.0, 3.0], requires_grad=True)
        b = tensor([0.5, 4.0, -1.0], requires_grad=True)
        h = a * 1.0
        h.mul_(b)        # keeps its input: the stand-in gets a copy
        h[1] = b[0] * 3  # index put: gradient to b[0], none to the old h[1]
        h.clamp_(-2.0, 2.0)
        h.masked_fill_(lib.tensor([False, False, True]), 0.0)
        (h * tensor([1.0, 2.0, 3.0])).sum().backward()
        return a.grad.tolist(), b.grad.tolist(), h.tolist()
    ga, gb, h = run(an, lambda d, **k: an.tensor(d, **k))
    # h = clamp([a0*b0, 3*b0, a2*b2]) then h2 = 0; d/d a0 = b0, d/d b0 = a0 + 2*3 (3*b0=1.5)
    assert ga == [0.5, 0.0, 0.0] and gb == [1.0 + 6.0, 0.0, 0.0] and h == [0.5, 1.5, 0.0]
    torch = pytest.importorskip("torch")
    assert (ga, gb, h) == run(torch, lambda d, **k: torch.tensor(d, **k))


# ---------------------------------------------------------------- type promotion
def test_promotion_with_numbers_and_numpy_scalars():
    i = an.tensor([1, 2])
    assert (i * 1.5).dtype == an.float32 and (i * 1.5).tolist() == [1.5, 3.0]
    assert (an.tensor([True, False]) + 2).dtype == an.int64
    x = an.tensor([1.0, 2.0])
    for s in (np.float64(2), np.float32(2), np.int64(2), np.bool_(True)):
        assert (x * s).dtype == an.float32 and (s * x).dtype == an.float32
    assert (i + np.int64(1)).dtype == an.int64
    assert (i * an.tensor([0.5, 0.5])).dtype == an.float32          # int64 * float32
    assert (x * an.tensor(2.0, dtype="float64")).dtype == an.float32  # 0-d does not widen


def test_power_of_negative_base_with_integral_exponent():
    x = an.tensor([-2.0, 3.0], requires_grad=True)
    y = x ** np.int64(3)
    y.sum().backward()
    assert y.tolist() == [-8.0, 27.0] and x.grad.tolist() == [12.0, 27.0]


# ---------------------------------------------------------------- facts and conversions
def test_size_and_facts():
    t = an.zeros(2, 3, 4)
    assert isinstance(t.size(), an.Size) and t.size() == (2, 3, 4) and t.shape == t.size()
    assert t.size(1) == 3 and t.size(-1) == 4 and t.shape.numel() == 24
    assert (t.numel(), t.dim(), t.ndim, t.ndimension(), t.nelement()) == (24, 3, 3, 3, 24)
    assert t.element_size() == 4 and not t.is_cuda and t.device == an.cpu()
    assert len(t) == 2 and an.tensor([2.5]).item() == 2.5 and bool(an.tensor([1]))
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(3)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)


def test_grad_fn_is_leaf_numpy_and_retain_grad():
    x = an.tensor([1.0, 2.0], requires_grad=True)
    y = x + 1
    z = y * y
    assert x.grad_fn is None and x.is_leaf and not y.is_leaf
    assert y.grad_fn.name() == "AddBackward0" and repr(z.grad_fn).startswith("<MultiplyBackward0")
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 2.0] and x.tolist() == [1.0, 2.0]
    y.retain_grad()
    z.sum().backward()
    assert y.grad.tolist() == [4.0, 6.0] and x.grad.tolist() == [4.0, 6.0]
    d = (x * 2).detach_()
    assert d.is_leaf and not d.requires_grad


def test_dtype_objects_and_conversions():
    assert an.float is an.float32 and an.double is an.float64 and an.long is an.int64
    assert an.int is an.int32 and an.half is an.float16 and repr(an.float32) == "arrayneedle.float32"
    t = an.zeros(2, dtype=an.float64)
    assert t.dtype == an.float64 and t.dtype == "float64" and an.float64 == t.dtype
    assert t.float().dtype == an.float32 and t.long().dtype == an.int64
    assert t.int().dtype == an.int32 and t.half().dtype == an.float16 and t.bool().dtype == an.bool
    assert t.to(an.float32).dtype == an.float32 and t.to("cpu", an.int64).dtype == an.int64
    assert t.to(an.zeros(1, dtype=an.int8)).dtype == an.int8
    assert t.to(an.float64) is t and t.to(an.float64, copy=True) is not t
    assert t.type_as(an.zeros(1, dtype="int32")).dtype == an.int32 and t.cpu() is t
    n = t.new_full((2, 2), 7)
    assert n.dtype == an.float64 and n.tolist() == [[7, 7], [7, 7]]
    assert t.new_zeros(3).shape == (3,) and t.new_ones((1, 2), dtype=an.int64).tolist() == [[1, 1]]
    assert t.new_empty(2, 2).shape == (2, 2) and t.new_tensor([1, 2]).dtype == an.float64
    assert an.get_default_dtype() is an.float32
    x = an.tensor([1.0], requires_grad=True)
    x.double().sum().backward()
    assert x.grad.dtype == an.float32 and x.grad.tolist() == [1.0]
    m = nn.Linear(2, 2).to(an.float64)
    assert m.weight.dtype == an.float64 and m.double().float().weight.dtype == an.float32


def test_set_grad_enabled_function_and_context():
    assert an.is_grad_enabled()
    an.set_grad_enabled(False)
    assert not an.is_grad_enabled()
    an.set_grad_enabled(True)
    with an.set_grad_enabled(False):
        assert not an.is_grad_enabled()
        with an.set_grad_enabled(True):
            assert an.is_grad_enabled()
        assert not an.is_grad_enabled()
    assert an.is_grad_enabled()
    with an.inference_mode():
        assert not (an.tensor([1.0], requires_grad=True) * 2).requires_grad
    assert an.is_grad_enabled()


def test_cuda_namespace():
    assert isinstance(an.cuda.is_available(), bool)
    assert an.cuda.device_count() >= 0
    assert an.cuda.is_available() == (an.cuda.device_count() > 0)


# ---------------------------------------------------------------- layers
def test_sequential_ordered_dict_names_slicing_append():
    seq = nn.Sequential(OrderedDict([("fc1", nn.Linear(2, 3)), ("act", nn.ReLU()),
                                     ("fc2", nn.Linear(3, 1))]))
    assert list(seq.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and list(head.state_dict())[0] \
        == "fc1.weight"
    assert seq[0] is head[0] and seq(an.zeros(4, 2)).shape == (4, 1)
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [type(m).__name__ for m in seq][-1] == "Sigmoid"
    plain = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert list(plain.state_dict()) == ["0.weight", "0.bias"]


def test_conv2d_positional_order_as_pytorch():
    c = nn.Conv2d(2, 4, 3, 1, 2, 2)  # the 6th positional argument is dilation
    assert c.dilation == (2, 2) and c.bias is not None
    assert c(an.zeros(1, 2, 5, 5)).shape == (1, 4, 5, 5)
    assert nn.Conv2d(2, 4, 3, 1, 0, 1, 1, False).bias is None
    g = nn.Conv2d(2, 4, 3, 1, 1, 1, 2)  # the 7th is groups: each half of the outputs sees one input
    assert g.groups == 2 and g.weight.shape == (4, 1, 3, 3)
    t = nn.ConvTranspose2d(2, 4, 3, 2, 1, 1, 1, False)  # ..., output_padding, groups, bias
    assert t.bias is None and t.output_padding == (1, 1)


def test_keeps_inputs_false_accepts_changed_leaves_not_rebased_nodes():
    class AddOne(an.Function):
        keeps_inputs = False  # backward reads no input

        def forward(self, a):
            return a + 1

        def backward(self, g):
            return g

    w = an.tensor([1.0, 2.0], requires_grad=True)
    y = AddOne.apply(w)
    with an.no_grad():
        w.add_(1)
    y.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0]
    h = w * 1.0
    y = AddOne.apply(h)
    h.mul_(3)  # h now has a new creator: y's gradient must not flow through it
    with pytest.raises(RuntimeError, match="input 0 of AddOneBackward0"):
        y.sum().backward()


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")  # x < 0: nan, as torch
def test_tensor_power_negative_base_and_gradients():
    from arrayneedle.testing import gradcheck
    x = an.tensor([-2.0, 3.0, 0.0], requires_grad=True)
    y = an.tensor([3.0, 2.0, 2.0], requires_grad=True)
    z = an.power(x, y)
    z.sum().backward()
    assert z.tolist() == [-8.0, 9.0, 0.0]
    assert x.grad.tolist() == [12.0, 6.0, 0.0]          # y * x^(y-1)
    g = y.grad.numpy()
    assert np.isnan(g[0]) and g[1] == pytest.approx(9 * np.log(3)) and g[2] == 0.0
    assert gradcheck(an.power, np.array([[0.5, 1.5], [2.0, 0.7]]), np.array([1.3, -0.4]))
    torch = pytest.importorskip("torch")
    tx = torch.tensor([-2.0, 3.0, 0.0], requires_grad=True)
    ty = torch.tensor([3.0, 2.0, 2.0], requires_grad=True)
    torch.pow(tx, ty).sum().backward()
    assert tx.grad.tolist() == x.grad.tolist() and ty.grad[1:].tolist() == y.grad.tolist()[1:]


def test_leaf_gradients_never_share_memory():
    a = an.tensor([3.0, 4.0], requires_grad=True)
    b = an.tensor([0.0, 0.0], requires_grad=True)
    c = an.tensor([[1.0], [1.0]], requires_grad=True)
    (a + b + c.reshape(2)).sum().backward()  # one gradient array for all three
    a.grad.mul_(2)
    assert a.grad.tolist() == [2.0, 2.0] and b.grad.tolist() == [1.0, 1.0]
    assert c.grad.tolist() == [[1.0], [1.0]]
    b.grad.zero_()
    assert a.grad.tolist() == [2.0, 2.0] and c.grad.tolist() == [[1.0], [1.0]]
