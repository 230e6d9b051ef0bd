"""PyTorch's everyday names, second batch, nn side: ``arrayneedle.nn.init`` (orthogonal_,
trunc_normal_, eye_, dirac_), the activation layers and their functional forms, the
``utils.data`` submodule paths and DataParallel. Hand-computed values always; PyTorch
comparisons where it is installed."""
import math
import warnings

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
import arrayneedle.nn.functional as F


def _np(t):
    return t.detach().numpy()


# ---------------------------------------------------------------- nn.init
def test_nn_init_is_torch_nn_init():
    import arrayneedle.nn.init as init
    assert an.nn.init is init
    for name in ("normal_", "zeros_", "ones_", "uniform_", "constant_", "xavier_uniform_",
                 "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "calculate_gain",
                 "orthogonal_", "trunc_normal_", "eye_", "dirac_"):
        assert callable(getattr(init, name)), name
    w = an.zeros(4, 3, 2, 2)
    assert init._calculate_fan_in_and_fan_out(w) == (12, 16)
    assert init.calculate_gain("relu") == math.sqrt(2)


def test_orthogonal_is_pytorch_algorithm():
    import arrayneedle.nn.init as init
    for shape in [(6, 3, 2, 2), (3, 8), (5, 5)]:
        an.manual_seed(3)
        w = init.orthogonal_(an.zeros(*shape, dtype="float64"), gain=2.0)
        an.manual_seed(3)
        rows = shape[0]
        m = an.randn(rows, math.prod(shape[1:]), dtype="float64").detach().numpy()
        flip = rows < m.shape[1]
        q, r = np.linalg.qr(m.T if flip else m)
        q = q * np.sign(np.diag(r))
        ref = (q.T if flip else q) * 2.0
        np.testing.assert_allclose(_np(w).reshape(rows, -1), ref, atol=1e-12)
        W = _np(w).reshape(rows, -1)
        small = min(W.shape)
        gram = W @ W.T if rows <= W.shape[1] else W.T @ W
        np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-10)
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal_(an.zeros(3))


def test_trunc_normal_moments_and_bounds():
    import arrayneedle.nn.init as init
    an.manual_seed(0)
    t = init.trunc_normal_(an.zeros(200_000), mean=1.0, std=2.0, a=-1.0, b=3.0)
    x = _np(t)
    assert t.dtype == np.float32 and x.min() >= -1.0 and x.max() <= 3.0
    # truncated normal moments: alpha = beta = 1 standard deviation either side of the mean
    pdf, cdf = math.exp(-0.5) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    z = 2 * cdf - 1
    std = 2.0 * math.sqrt(1 - 2 * pdf / z)
    assert abs(x.mean() - 1.0) < 0.02 and abs(x.std() - std) < 0.02


def test_eye_and_dirac():
    import arrayneedle.nn.init as init
    assert _np(init.eye_(an.zeros(2, 3))).tolist() == [[1, 0, 0], [0, 1, 0]]
    w = init.dirac_(an.zeros(4, 2, 3), groups=2)
    ref = np.zeros((4, 2, 3))
    ref[0, 0, 1] = ref[1, 1, 1] = ref[2, 0, 1] = ref[3, 1, 1] = 1
    np.testing.assert_array_equal(_np(w), ref)
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    x = an.randn(2, 3, 5, 5)
    np.testing.assert_allclose(_np(conv(x)), _np(x), atol=1e-6)
    torch = pytest.importorskip("torch")
    tw = torch.empty(6, 4, 3, 3)
    torch.nn.init.dirac_(tw, 2)
    np.testing.assert_array_equal(_np(init.dirac_(an.zeros(6, 4, 3, 3), 2)), tw.detach().numpy())


def test_new_initialisers_write_through_data():
    import arrayneedle.nn.init as init
    p = nn.Parameter(an.zeros(3, 3))
    init.eye_(p.data)
    np.testing.assert_array_equal(_np(p), np.eye(3))
    init.orthogonal_(p.data)
    np.testing.assert_allclose(_np(p) @ _np(p).T, np.eye(3), atol=1e-6)


# ---------------------------------------------------------------- activation layers
def _x():
    return np.array([[-3.0, -0.5, 0.0, 0.7, 4.0, 8.0]])


_SIG = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
_ACTS = [
    (nn.ReLU(), lambda v: np.maximum(v, 0)),
    (nn.SiLU(), lambda v: v * _SIG(v)),
    (nn.Sigmoid(), _SIG),
    (nn.Tanh(), np.tanh),
    (nn.GELU(approximate="tanh"),
     lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
    (nn.LeakyReLU(0.2), lambda v: np.where(v > 0, v, 0.2 * v)),
    (nn.ELU(alpha=0.5), lambda v: np.where(v > 0, v, 0.5 * np.expm1(v))),
    (nn.CELU(alpha=2.0), lambda v: np.where(v > 0, v, 2.0 * np.expm1(v / 2.0))),
    (nn.Softplus(beta=2.0, threshold=5.0),
     lambda v: np.where(2 * v > 5, v, np.log1p(np.exp(2 * v)) / 2)),
    (nn.ReLU6(), lambda v: np.clip(v, 0, 6)),
    (nn.Hardtanh(-2.0, 2.0), lambda v: np.clip(v, -2, 2)),
    (nn.Hardsigmoid(), lambda v: np.clip(v / 6 + 0.5, 0, 1)),
    (nn.Hardswish(), lambda v: v * np.clip(v + 3, 0, 6) / 6),
    (nn.Mish(), lambda v: v * np.tanh(np.log1p(np.exp(v)))),
    (nn.SELU(), lambda v: 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 *
                                                        np.expm1(v))),
    (nn.LogSigmoid(), lambda v: np.log(_SIG(v))),
    (nn.Softsign(), lambda v: v / (1 + np.abs(v))),
    (nn.Softmax(dim=1), lambda v: np.exp(v) / np.exp(v).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda v: v - np.log(np.exp(v).sum(-1, keepdims=True))),
    (nn.PReLU(), lambda v: np.where(v > 0, v, 0.25 * v)),
]


@pytest.mark.parametrize("m,ref", _ACTS, ids=[type(m).__name__ for m, _ in _ACTS])
def test_activation_layers_values_and_torch(m, ref):
    x = _x()
    np.testing.assert_allclose(_np(m(an.tensor(x, dtype="float64"))), ref(x), rtol=1e-7,
                               atol=1e-12)
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, type(m).__name__)
    kwargs = {k: getattr(m, k) for k in ("negative_slope", "alpha", "beta", "threshold", "dim",
                                         "approximate", "min_val", "max_val") if k in vars(m)}
    if type(m).__name__ == "ReLU6":  # a Hardtanh(0, 6) whose constructor takes only inplace
        kwargs = {}
    t = tm(**kwargs)
    np.testing.assert_allclose(_np(m(an.tensor(x))), t(torch.tensor(x, dtype=torch.float32))
                               .detach().numpy(), rtol=1e-5, atol=1e-6)
    assert repr(m) == repr(t)


def test_glu_and_prelu_per_channel_gradient():
    x = an.tensor([[1.0, -2.0, 0.5, 3.0]])
    np.testing.assert_allclose(_np(nn.GLU()(x)), [[1 / (1 + math.exp(-0.5)),
                                                   -2 / (1 + math.exp(-3))]], rtol=1e-6)
    m = nn.PReLU(3, init=0.1)
    assert list(m.state_dict()) == ["weight"] and repr(m) == "PReLU(num_parameters=3)"
    xs = an.tensor(np.array([[[-1.0, 2.0], [-3.0, -4.0], [5.0, 6.0]]]))
    y = m(xs)
    np.testing.assert_allclose(_np(y), [[[-0.1, 2], [-0.3, -0.4], [5, 6]]], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(_np(m.weight.grad), [-1.0, -7.0, 0.0])
    with pytest.raises(ValueError, match="number of channels"):
        m(an.zeros(2, 4))


def test_inplace_activation_policy_and_positional_inplace():
    x = an.tensor([-1.0, 2.0])
    assert nn.ReLU(True)(x) is x and _np(x).tolist() == [0.0, 2.0]
    y = an.tensor([-1.0, 2.0])
    out = nn.LeakyReLU(0.5, inplace=True)(y)
    assert out is y and _np(y).tolist() == [-0.5, 2.0]
    w = an.tensor([-1.0, 2.0], requires_grad=True)
    out = nn.ReLU(inplace=True)(w)  # the graph needs w: a new tensor, w untouched
    assert out is not w and _np(w).tolist() == [-1.0, 2.0]
    out.sum().backward()
    assert _np(w.grad).tolist() == [0.0, 1.0]
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.ReLU(True)) == "ReLU(inplace=True)" and repr(nn.SiLU()) == "SiLU()"


def test_softmax_without_dim_warns_and_uses_pytorch_choice():
    x = an.tensor(np.arange(6.0).reshape(2, 3))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        y = nn.Softmax()(x)
    assert any("Implicit dimension" in str(i.message) for i in w)
    np.testing.assert_allclose(_np(y).sum(1), [1, 1], rtol=1e-6)  # dim 1 for 2-D input


def test_functional_extras():
    x = an.tensor([-4.0, -1.0, 0.0, 2.0, 7.0])
    assert _np(F.relu6(x)).tolist() == [0, 0, 0, 2, 6]
    assert _np(F.hardtanh(x)).tolist() == [-1, -1, 0, 1, 1]
    np.testing.assert_allclose(_np(F.hardswish(x)), [0, -1 / 3, 0, 2 * 5 / 6, 7], rtol=1e-6)
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(1.0, -1.0)


# ---------------------------------------------------------------- data paths and DataParallel
def test_utils_data_submodules_at_pytorch_paths():
    from arrayneedle.utils.data.dataloader import DataLoader, default_collate
    from arrayneedle.utils.data.dataset import Dataset, TensorDataset, random_split
    from arrayneedle.utils.data.sampler import BatchSampler, RandomSampler
    import arrayneedle.utils.data as D
    assert an.utils.data is D and D.DataLoader is DataLoader and D.Dataset is Dataset
    assert D.RandomSampler is RandomSampler and D.BatchSampler is BatchSampler
    assert D.default_collate is default_collate and D.random_split is random_split
    loader = DataLoader(TensorDataset(an.arange(6)), batch_size=4)
    assert [len(b[0]) for b in loader] == [4, 2]


def test_data_parallel_on_one_device():
    lin = nn.Linear(3, 2)
    dp = nn.DataParallel(lin)
    assert dp.module is lin and list(dp.state_dict()) == ["module.weight", "module.bias"]
    x = an.randn(4, 3)
    np.testing.assert_array_equal(_np(dp(x)), _np(lin(x)))
    np.testing.assert_array_equal(_np(nn.parallel.data_parallel(lin, x, device_ids=[0])),
                                  _np(lin(x)))
    np.testing.assert_array_equal(_np(nn.parallel.data_parallel(lin, (x,))), _np(lin(x)))
    with pytest.raises(ValueError, match="DistributedDataParallel"):
        nn.DataParallel(lin, device_ids=[0, 1])
    with pytest.raises(ValueError, match="DistributedDataParallel"):
        nn.parallel.data_parallel(lin, x, device_ids=[0, 1])
    torch = pytest.importorskip("torch")
    assert list(torch.nn.DataParallel(torch.nn.Linear(3, 2)).state_dict()) == \
        list(dp.state_dict())


def test_fan_based_initialisers_use_pytorch_defaults():
    import arrayneedle.nn.init as init
    w = an.zeros(64, 32, 3, 3)  # fan_in 288, fan_out 576
    fan_in, fan_out = 32 * 9, 64 * 9
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(fan_in)  # a=0, leaky_relu gain sqrt(2)
    x = _np(init.kaiming_uniform_(w))
    assert np.abs(x).max() <= bound and np.abs(x).max() > 0.99 * bound
    x = _np(init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"))
    assert abs(x.std() - math.sqrt(2 / fan_out)) < 0.02 * math.sqrt(2 / fan_out)
    x = _np(init.xavier_uniform_(w, gain=2.0))
    xb = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(x).max() <= xb and np.abs(x).max() > 0.99 * xb
    x = _np(init.xavier_normal_(w))
    std = math.sqrt(2 / (fan_in + fan_out))
    assert abs(x.std() - std) < 0.02 * std
