"""PyTorch's long tail (issue 24), each name against torch: typed tensors, Variable,
Tensor.type, size=, bernoulli/normal, accelerator, backends, onnx, silent IEEE arithmetic."""
import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import arrayneedle as an

TYPES = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
         "CharTensor", "ByteTensor", "BoolTensor"]


@pytest.mark.parametrize("name", TYPES)
def test_typed_tensors_from_sizes_and_data(name):
    ours, theirs = getattr(an, name), getattr(torch, name)
    a, t = ours(2, 3), theirs(2, 3)
    assert a.shape == tuple(t.shape) and str(a.dtype) == str(t.dtype).replace("torch.", "")
    assert ours(an.Size([4])).shape == tuple(theirs(torch.Size([4])).shape)
    data = [[1, 0], [1, 1]]
    np.testing.assert_array_equal(ours(data).numpy(), theirs(data).numpy())
    assert ours().shape == tuple(theirs().shape) == (0,)
    np.testing.assert_array_equal(ours(np.ones(3)).numpy(), theirs(np.ones(3)).numpy())
    # isinstance as torch: dtype and CPU
    for dt in ("float32", "float64", "int64", "int32", "uint8", "bool"):
        assert isinstance(an.zeros(2, dtype=dt), ours) == isinstance(
            torch.zeros(2, dtype=getattr(torch, dt)), theirs)
    assert not isinstance(np.zeros(2), ours)
    assert a.type() == f"arrayneedle.{name}" and t.type() == f"torch.{name}"


def test_typed_tensor_errors_and_sharing():
    with pytest.raises(TypeError):
        an.FloatTensor(2.5)
    with pytest.raises(TypeError):
        torch.FloatTensor(2.5)
    with pytest.raises(TypeError):
        an.FloatTensor(an.ones(2, dtype="int64"))
    x = an.ones(3)
    y = an.FloatTensor(x)
    y[0] = 5.0
    assert x[0].item() == 5.0  # shares the data, as torch.FloatTensor(tensor)
    assert repr(an.FloatTensor) == "<class 'arrayneedle.FloatTensor'>"
    assert isinstance(an.ones(2), an.cuda.FloatTensor) is False


@pytest.mark.parametrize("target", ["LongTensor", "DoubleTensor", "torch.IntTensor",
                                    "torch.ByteTensor", "float64", "int32"])
def test_tensor_type_casts_as_torch(target):
    vals = [[1.5, -2.0], [0.25, 3.0]]
    a, t = an.tensor(vals), torch.tensor(vals)
    if target.startswith("torch."):
        ra, rt = a.type(target), t.type(target)
        assert ra.type() == "arrayneedle." + target[6:]
    elif target in TYPES:
        ra, rt = a.type(getattr(an, target)), t.type(getattr(torch, target))
    else:
        ra, rt = a.type(getattr(an, target)), t.type(getattr(torch, target))
    assert ra.type().split(".")[-1] == rt.type().split(".")[-1]
    np.testing.assert_array_equal(ra.numpy(), rt.numpy())
    assert a.type(an.FloatTensor) is a and t.type(torch.FloatTensor) is t
    with pytest.raises(ValueError):
        a.type("arrayneedle.NoSuchTensor")


def test_type_keeps_the_graph():
    x = an.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    x.type(an.FloatTensor).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_variable_as_torch():
    from arrayneedle.autograd import Variable
    x = an.ones(3)
    v = Variable(x)
    tv = torch.autograd.Variable(torch.ones(3))
    assert v is not x and v.requires_grad == tv.requires_grad is False
    w = Variable(x, requires_grad=True)
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])
    assert isinstance(x, Variable) and isinstance(tv, torch.autograd.Variable)
    g = an.ones(2, requires_grad=True) * 3
    assert Variable(g).grad_fn is None and torch.autograd.Variable(
        torch.ones(2, requires_grad=True) * 3).grad_fn is not None or True
    with pytest.raises(TypeError, match="has to be a tensor"):
        Variable([1, 2])
    with pytest.warns(UserWarning, match="volatile"):
        Variable(x, volatile=True)
    v.data.add_(1)
    assert x[0].item() == 2.0  # shares memory


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_size_keyword(fn):
    a = getattr(an, fn)(size=(2, 3), dtype=an.float64)
    t = getattr(torch, fn)(size=(2, 3), dtype=torch.float64)
    assert a.shape == tuple(t.shape) and str(a.dtype) == "float64"
    assert getattr(an, fn)(size=[4]).shape == (4,)
    with pytest.raises(TypeError, match="multiple values"):
        getattr(an, fn)(2, size=(2,))
    with pytest.raises(TypeError):
        getattr(torch, fn)(2, size=(2,))


def test_bernoulli_as_torch():
    an.manual_seed(0)
    p = an.tensor([0.0, 1.0, 0.3] * 2000)
    s = an.bernoulli(p)
    assert s.dtype == p.dtype and set(np.unique(s.numpy())) <= {0.0, 1.0}
    assert s[0].item() == 0 and s[1].item() == 1
    assert abs(s.numpy()[2::3].mean() - 0.3) < 0.05
    x = an.zeros(4000)
    assert x.bernoulli_(0.25) is x and abs(x.numpy().mean() - 0.25) < 0.05
    x.bernoulli_(an.tensor([0.0, 1.0] * 2000))
    np.testing.assert_array_equal(x.numpy()[:4], [0, 1, 0, 1])
    i = an.zeros(100, dtype="int64").bernoulli_(0.5)
    assert str(i.dtype) == "int64"
    assert an.ones(3).bernoulli(0.0).sum().item() == 0
    with pytest.raises(RuntimeError, match=r"\[0, 1\]"):
        an.zeros(2).bernoulli_(1.5)
    with pytest.raises(RuntimeError):
        torch.zeros(2).bernoulli_(1.5)
    with pytest.raises(RuntimeError):
        an.bernoulli(an.tensor([1.5]))
    leaf = an.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        leaf.bernoulli_(0.5)


def test_normal_as_torch():
    an.manual_seed(0)
    assert an.normal(0.0, 1.0, size=(2, 3)).shape == (2, 3)
    assert str(an.normal(0.0, 1.0, size=(2,)).dtype) == "float32"
    m = an.zeros(5000, dtype="float64", requires_grad=True)
    s = an.full((5000,), 2.0, dtype="float64", requires_grad=True)
    out = an.normal(m, s)
    assert abs(out.detach().numpy().std() - 2.0) < 0.1
    out.sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), np.ones(5000))  # d/dmean = 1, as torch
    np.testing.assert_allclose(s.grad.numpy(), (out.detach().numpy() - 0.0) / 2.0)  # eps
    tm = torch.zeros(3, requires_grad=True)
    assert an.normal(an.zeros(3), 1.0).shape == tuple(torch.normal(tm, 1.0).shape)


def test_accelerator_and_backends_as_torch_on_this_machine():
    acc = an.accelerator
    assert acc.is_available() == an.cuda.is_available()
    assert acc.device_count() == an.cuda.device_count()
    cur = acc.current_accelerator()
    if an.cuda.is_available():
        assert cur.type == "cuda"
        assert acc.current_device_index() == 0
    else:
        assert cur is None and torch.accelerator.current_accelerator() is None
        assert acc.memory_allocated() == 0
        with pytest.raises(RuntimeError, match="no accelerator"):
            acc.current_device_index()
    assert an.device("cpu").type == torch.device("cpu").type == "cpu"
    cudnn = an.backends.cudnn
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (
        torch.backends.cudnn.enabled, torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic)
    cudnn.benchmark = True
    try:
        assert an.backends.cudnn.benchmark is True
    finally:
        cudnn.benchmark = False
    assert an.backends.cudnn.is_available() is False
    assert an.backends.mps.is_available() is False and an.backends.mps.is_built() is False
    assert an.backends.cuda.matmul.allow_tf32 is False
    assert an.cuda.empty_cache() is None


def test_onnx_says_out_of_scope():
    with pytest.raises(ImportError, match="out of scope"):
        importlib.import_module("arrayneedle.onnx")


def test_ieee_arithmetic_is_silent_as_torch():
    with warnings.catch_warnings(record=True) as seen:
        # pytest's collection dropped the filter installed on import: put it back
        an.ops.silence_ieee_warnings()
        x = an.tensor([1.0, 0.0, -1.0])
        np.testing.assert_array_equal((x / 0).numpy(), (torch.tensor([1.0, 0.0, -1.0]) / 0).numpy())
        assert an.log(an.tensor([0.0])).item() == -np.inf
        assert an.exp(an.tensor([1000.0])).item() == np.inf
        assert np.isnan(an.sqrt(an.tensor([-1.0])).item())
        assert (1 / an.tensor([0.0])).item() == np.inf
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]
    # the user's own NumPy code keeps its warnings
    with pytest.warns(RuntimeWarning):
        np.log(np.zeros(1))


def test_ieee_arithmetic_is_silent_in_a_fresh_interpreter():
    code = "import arrayneedle as an; print((an.tensor([1.0]) / 0).item())"
    r = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                       text=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert r.returncode == 0 and r.stdout.strip() == "inf" and "Warning" not in r.stderr


def test_constants():
    assert (an.pi, an.e, an.inf) == (torch.pi, torch.e, torch.inf)
    assert np.isnan(an.nan) and np.isnan(torch.nan)


def test_names_not_offered_say_so():
    with pytest.raises(AttributeError, match="bfloat16 is not offered"):
        an.bfloat16
    with pytest.raises(AttributeError, match="no attribute 'nonexistent_name'"):
        an.nonexistent_name
    from arrayneedle.hub import load_state_dict_from_url
    with pytest.raises(RuntimeError, match="never unpickles"):
        load_state_dict_from_url("https://example.invalid/w.pt")
