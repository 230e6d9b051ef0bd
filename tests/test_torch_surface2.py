"""PyTorch's everyday names, second batch: elementwise ops and their dtype rules, comparisons,
logical/bitwise operators, unique/repeat_interleave/roll/diff/cross, nn.init, the activation
layers, utils.data submodules and DataParallel. Each test asserts hand-computed values; with
PyTorch installed some also compare with it. Gradients of the differentiable ops are checked
in the op table (op_table_surface2.py)."""
import math
import warnings

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
import arrayneedle.nn.functional as F


def _np(t):
    return t.numpy()


# ---------------------------------------------------------------- dtype rules
def test_mixed_int_float_arithmetic_gives_float32_as_pytorch():
    i = an.arange(4)
    assert (i * 1.5).dtype == np.float32 and (1.5 + i).dtype == np.float32
    assert (i / 2).dtype == np.float32 and (i / i[1:2]).dtype == np.float32
    assert (i + an.ones(4)).dtype == np.float32
    assert (i + an.ones(4, dtype="float64")).dtype == np.float64
    assert (i * 2).dtype == np.int64 and (i - 1).dtype == np.int64
    np.testing.assert_allclose(_np(i / 2), [0, 0.5, 1, 1.5])


def test_arithmetic_methods_and_alpha():
    a, b = an.tensor([1.0, 2.0]), an.tensor([10.0, 20.0])
    assert _np(a.add(b, alpha=2)).tolist() == [21, 42]
    assert _np(an.sub(b, a, alpha=3)).tolist() == [7, 14]
    assert _np(a.mul(b)).tolist() == [10, 40] and _np(b.div(a)).tolist() == [10, 10]
    assert _np(a.neg()).tolist() == [-1, -2] and _np(an.mul(a, 2)).tolist() == [2, 4]
    assert _np(b.div(3, rounding_mode="floor")).tolist() == [3, 6]


def test_pow_dtype_rules_and_negative_base():
    i = an.arange(4)
    assert (i ** 2).dtype == np.int64 and _np(i ** 2).tolist() == [0, 1, 4, 9]
    r = i ** 1.5
    assert r.dtype == np.float32
    np.testing.assert_allclose(_np(r), [0, 1, 2 ** 1.5, 3 ** 1.5], rtol=1e-6)
    assert (2.5 ** i).dtype == np.float32 and _np(2 ** i).tolist() == [1, 2, 4, 8]
    with pytest.raises(ValueError, match="negative integer powers"):
        i ** -1
    x = an.tensor([-2.0, 3.0], requires_grad=True)
    y = x ** np.int64(3)  # a NumPy scalar acts like the Python number: no float64, no nan
    assert y.dtype == np.float32 and _np(y).tolist() == [-8.0, 27.0]
    e = an.tensor([2.0, 3.0], requires_grad=True)
    z = an.pow(x, e)
    np.testing.assert_allclose(_np(z), [4.0, 27.0])
    z.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [2 * -2.0, 3 * 9.0])  # b * a^(b-1)
    np.testing.assert_allclose(_np(e.grad)[1], 27 * math.log(3), rtol=1e-6)
    assert an.pow is an.power and x.pow(2).shape == (2,)


def test_pow_zero_base_and_zero_exponent_gradients_as_pytorch():
    a = an.tensor([0.0, 0.0, 2.0], dtype="float64", requires_grad=True)
    b = an.tensor([0.0, 2.0, 0.0], dtype="float64", requires_grad=True)
    an.pow(a, b).sum().backward()
    np.testing.assert_array_equal(_np(a.grad), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(_np(b.grad), [0.0, 0.0, math.log(2.0)])


# ---------------------------------------------------------------- division family
def test_remainder_fmod_floor_divide_signs():
    a = an.tensor([-7, -3, 3, 7])
    assert _np(a % 3).tolist() == [2, 0, 0, 1]
    assert _np(a % -3).tolist() == [-1, 0, 0, -2]
    assert _np(an.fmod(a, 3)).tolist() == [-1, 0, 0, 1]
    assert _np(an.fmod(a, -3)).tolist() == [-1, 0, 0, 1]
    assert _np(a // 2).tolist() == [-4, -2, 1, 3]
    assert _np(10 // a).tolist() == [-2, -4, 3, 1]
    assert _np(an.div(a, 2, rounding_mode="trunc")).tolist() == [-3, -1, 1, 3]
    assert _np(an.div(a, 2, rounding_mode="floor")).tolist() == [-4, -2, 1, 3]
    assert (a % 2).dtype == np.int64 and (a % 1.5).dtype == np.float32
    np.testing.assert_allclose(_np(an.tensor([-3.5, 2.5]).remainder(2.0)), [0.5, 0.5])
    np.testing.assert_allclose(_np(an.tensor([-3.5, 2.5]).fmod(2.0)), [-1.5, 0.5])
    assert _np(an.arange(41) % 7)[-3:].tolist() == [3, 4, 5]
    with pytest.raises(ValueError, match="rounding_mode"):
        an.div(a, 2, rounding_mode="round")


def test_floor_divide_backward_is_an_error_as_pytorch():
    x = an.tensor([3.0, 5.0], requires_grad=True)
    y = x // 2
    assert _np(y).tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="floor_divide"):
        y.sum().backward()


def test_remainder_gradients():
    a = an.tensor([-3.5, 2.5], dtype="float64", requires_grad=True)
    b = an.tensor([2.0, -1.5], dtype="float64", requires_grad=True)
    an.remainder(a, b).sum().backward()
    np.testing.assert_array_equal(_np(a.grad), [1, 1])
    np.testing.assert_array_equal(_np(b.grad), [2, 2])  # -floor(a / b)
    a.grad = b.grad = None
    an.fmod(a, b).sum().backward()
    np.testing.assert_array_equal(_np(b.grad), [1, 1])  # -trunc(a / b)


# ---------------------------------------------------------------- comparisons and logic
def test_eq_family_and_equal_as_pytorch():
    a, b = an.tensor([1, 2, 3]), an.tensor([1, 0, 3])
    for name, ref in [("eq", [1, 0, 1]), ("ne", [0, 1, 0]), ("lt", [0, 0, 0]),
                      ("le", [1, 0, 1]), ("gt", [0, 1, 0]), ("ge", [1, 1, 1])]:
        for r in (getattr(an, name)(a, b), getattr(a, name)(b)):
            assert r.dtype == np.bool_ and _np(r).astype(int).tolist() == ref
    assert _np(a == b).tolist() == [True, False, True]
    # torch.equal: one Python bool, False (not an error) for different shapes
    assert an.equal(a, a) is True and a.equal(b) is False
    assert an.equal(a, an.tensor([1.0, 2.0, 3.0])) is True
    assert an.equal(a, an.tensor([[1, 2, 3]])) is False
    assert _np(a.eq(2)).tolist() == [False, True, False]


def test_logical_and_bitwise_operators():
    p, q = an.tensor([True, True, False]), an.tensor([True, False, False])
    assert _np(~p).tolist() == [False, False, True]
    assert _np(p & q).tolist() == [True, False, False]
    assert _np(p | q).tolist() == [True, True, False]
    assert _np(p ^ q).tolist() == [False, True, False]
    i = an.tensor([12, 10])
    assert _np(~i).tolist() == [-13, -11]
    assert _np(i & 6).tolist() == [4, 2] and _np(i | 1).tolist() == [13, 11]
    assert _np(3 ^ i).tolist() == [15, 9]
    x = an.tensor([0.0, 2.0, -1.0])
    assert _np(an.logical_not(x)).tolist() == [True, False, False]
    assert _np(x.logical_and(an.tensor([1, 1, 0]))).tolist() == [False, True, False]
    assert _np(an.logical_or(x, 0)).tolist() == [False, True, True]
    assert _np(an.logical_xor(x, 1)).tolist() == [True, False, False]
    with pytest.raises(TypeError, match="integer or bool"):
        x & x
    mask = (x > 0) & (x < 3)
    assert _np(mask).tolist() == [False, True, False]


# ---------------------------------------------------------------- rounding and math
def test_rounding_family_values_dtypes_and_zero_gradient():
    x = an.tensor([0.5, 1.5, 2.5, -0.5, -1.7, 2.345], dtype="float64", requires_grad=True)
    assert _np(an.round(x)).tolist() == [0, 2, 2, -0.0, -2, 2]  # half to even
    np.testing.assert_allclose(_np(x.round(decimals=1)), [0.5, 1.5, 2.5, -0.5, -1.7, 2.3])
    np.testing.assert_allclose(_np(an.round(an.tensor([1234.0, 1250.0]), decimals=-2)),
                               [1200, 1200])
    assert _np(x.floor()).tolist() == [0, 1, 2, -1, -2, 2]
    assert _np(an.ceil(x)).tolist() == [1, 2, 3, -0.0, -1, 3]
    assert _np(an.trunc(x)).tolist() == [0, 1, 2, -0.0, -1, 2]
    np.testing.assert_allclose(_np(an.frac(x)), [0.5, 0.5, 0.5, -0.5, -0.7, 0.345], atol=1e-12)
    assert _np(an.sign(x)).tolist() == [1, 1, 1, -1, -1, 1]
    y = an.floor(x) + an.round(x) + an.sign(x)
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), np.zeros(6))
    i = an.tensor([-2, 3])
    for f in (an.floor, an.ceil, an.trunc, an.round, an.sign, an.square):
        assert f(i).dtype == np.int64
    assert _np(an.square(i)).tolist() == [4, 9] and _np(an.sign(i)).tolist() == [-1, 1]


def test_float_functions_of_integers_give_float32():
    i = an.tensor([1, 2, 4])
    for f in (an.rsqrt, an.reciprocal, an.log1p, an.expm1, an.log2, an.log10, an.exp2,
              an.atan, an.sinh, an.tan):
        assert f(i).dtype == np.float32, f.__name__
    np.testing.assert_allclose(_np(an.log2(i)), [0, 1, 2])
    np.testing.assert_allclose(_np(an.exp2(i)), [2, 4, 16])
    np.testing.assert_allclose(_np(an.reciprocal(i)), [1, 0.5, 0.25])
    np.testing.assert_allclose(_np(an.atan2(an.tensor([1.0, -1.0]), an.tensor([0.0, -1.0]))),
                               [math.pi / 2, -3 * math.pi / 4], rtol=1e-6)
    assert _np(an.hypot(an.tensor([3]), an.tensor([4]))).tolist() == [5.0]
    np.testing.assert_allclose(_np(an.logaddexp(an.tensor([1000.0]), an.tensor([1000.0]))),
                               [1000 + math.log(2)])


def test_float_class_tests_and_nan_to_num():
    x = an.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert _np(an.isnan(x)).tolist() == [False, True, False, False]
    assert _np(x.isinf()).tolist() == [False, False, True, True]
    assert _np(an.isfinite(x)).tolist() == [True, False, False, False]
    assert _np(an.isposinf(x)).tolist() == [False, False, True, False]
    assert _np(an.isfinite(an.tensor([1, 2]))).tolist() == [True, True]
    big = float(np.finfo(np.float32).max)
    np.testing.assert_array_equal(_np(an.nan_to_num(x)), np.float32([1.0, 0.0, big, -big]))
    np.testing.assert_array_equal(_np(x.nan_to_num(nan=-1.0, posinf=9.0, neginf=-9.0)),
                                  [1, -1, 9, -9])
    t = an.tensor([2.0, float("inf")], requires_grad=True)
    an.nan_to_num(t).sum().backward()
    np.testing.assert_array_equal(_np(t.grad), [1.0, 0.0])


def test_lerp_values():
    a, b = an.zeros(3), an.tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose(_np(an.lerp(a, b, 0.25)), [0.25, 0.5, 1.0])
    np.testing.assert_allclose(_np(a.lerp(b, an.tensor([0.0, 0.5, 1.0]))), [0, 1, 4])


# ---------------------------------------------------------------- rearranging
def test_unique_forms():
    x = an.tensor([[3, 1], [3, 2]])
    assert _np(an.unique(x)).tolist() == [1, 2, 3]
    v, inv, cnt = x.unique(return_inverse=True, return_counts=True)
    assert _np(inv).tolist() == [[2, 0], [2, 1]] and _np(cnt).tolist() == [1, 1, 2]
    assert inv.dtype == np.int64 and cnt.dtype == np.int64
    v, cnt = an.unique(an.tensor([2.5, -1.0, 2.5]), return_counts=True)
    assert _np(v).tolist() == [-1.0, 2.5] and _np(cnt).tolist() == [1, 2]
    rows = an.tensor([[1, 2], [0, 5], [1, 2], [0, 1]])
    v, inv = an.unique(rows, dim=0, return_inverse=True)
    assert _np(v).tolist() == [[0, 1], [0, 5], [1, 2]] and _np(inv).tolist() == [2, 1, 2, 0]
    cols = an.unique(an.tensor([[1, 0, 1], [2, 0, 2]]), dim=1)
    assert _np(cols).tolist() == [[0, 1], [0, 2]]
    assert an.tensor([4, 4, 1]).unique().shape == (2,)


def test_repeat_interleave_roll_tile_diff_cross():
    x = an.tensor([[1, 2], [3, 4]])
    assert _np(x.repeat_interleave(2)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert _np(an.repeat_interleave(x, an.tensor([1, 2]), dim=0)).tolist() == \
        [[1, 2], [3, 4], [3, 4]]
    assert _np(an.repeat_interleave(an.tensor([2, 0, 1]))).tolist() == [0, 0, 2]
    with pytest.raises(ValueError, match="one entry per"):
        an.repeat_interleave(x, an.tensor([1, 2, 3]), dim=0)
    assert _np(an.roll(an.arange(5), 2)).tolist() == [3, 4, 0, 1, 2]
    assert _np(x.roll(1, 0)).tolist() == [[3, 4], [1, 2]]
    assert _np(x.roll((1, 1), (0, 1))).tolist() == [[4, 3], [2, 1]]
    assert _np(an.tile(x, (2,))).tolist() == [[1, 2, 1, 2], [3, 4, 3, 4]]
    assert an.tile(x, (2, 1, 1)).shape == (2, 2, 2)
    assert _np(an.diff(an.tensor([1, 4, 9, 16]))).tolist() == [3, 5, 7]
    assert _np(an.diff(an.tensor([1, 4, 9, 16]), n=2)).tolist() == [2, 2]
    assert _np(an.diff(an.tensor([1, 3]), prepend=an.tensor([0]), append=an.tensor([10]))
               ).tolist() == [1, 2, 7]
    assert _np(an.diff(an.tensor([True, True, False]))).tolist() == [False, True]
    e = an.eye(3)
    assert _np(an.cross(e[0], e[1])).tolist() == [0, 0, 1]
    c = an.cross(an.tensor([[1.0, 2.0, 3.0]]), an.tensor([[4.0, 5.0, 6.0]]), dim=1)
    assert _np(c).tolist() == [[-3, 6, -3]]


# ---------------------------------------------------------------- against PyTorch
_TORCH_UNARY = ["floor", "ceil", "trunc", "frac", "sign", "round", "square", "rsqrt",
                "reciprocal", "log1p", "expm1", "log2", "log10", "exp2", "tan", "asin", "acos",
                "atan", "sinh", "cosh", "asinh", "atanh"]


@pytest.mark.parametrize("name", _TORCH_UNARY)
def test_unary_ops_match_torch(name):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).uniform(0.05, 0.95, (3, 4)) * np.array([1, -1, 1, -1])
    if name in ("rsqrt", "log2", "log10", "log1p"):
        x = np.abs(x)
    a = an.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    ya, yt = getattr(an, name)(a), getattr(torch, name)(t)
    np.testing.assert_allclose(_np(ya), yt.detach().numpy(), rtol=1e-12)
    (ya * an.tensor(x)).sum().backward()
    (yt * torch.tensor(x)).sum().backward()
    np.testing.assert_allclose(_np(a.grad), t.grad.numpy(), rtol=1e-10, atol=1e-14)
    if name != "frac":  # PyTorch has no frac of integers
        i = np.array([[-3, 0, 2]])
        with np.errstate(all="ignore"):
            ours = getattr(an, name)(an.tensor(i)).dtype
        theirs = getattr(torch, name)(torch.tensor(i)).dtype
        assert str(ours).split(".")[-1] == str(theirs).split(".")[-1]


def test_binary_ops_and_unique_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 4)) * 3, rng.normal(size=(4,))
    for name in ("remainder", "fmod", "floor_divide", "atan2", "hypot", "logaddexp"):
        np.testing.assert_allclose(_np(getattr(an, name)(an.tensor(a), an.tensor(b))),
                                   getattr(torch, name)(torch.tensor(a), torch.tensor(b)),
                                   rtol=1e-12, err_msg=name)
    ia, ib = np.array([-7, -3, 3, 7]), np.array([2, -3, 2, -4])
    for name in ("remainder", "fmod", "floor_divide", "bitwise_and", "bitwise_xor"):
        assert _np(getattr(an, name)(an.tensor(ia), an.tensor(ib))).tolist() == \
            getattr(torch, name)(torch.tensor(ia), torch.tensor(ib)).tolist(), name
    u = np.array([[3, 1, 3], [2, 1, 0], [3, 1, 3]])
    for kw in ({}, {"dim": 0}, {"dim": 1}):
        ours = an.unique(an.tensor(u), return_inverse=True, return_counts=True, **kw)
        theirs = torch.unique(torch.tensor(u), return_inverse=True, return_counts=True, **kw)
        for o, t in zip(ours, theirs):
            assert _np(o).tolist() == t.tolist(), kw
    x = torch.tensor([[1, 2], [3, 4]])
    assert _np(an.tensor([[1, 2], [3, 4]]).repeat_interleave(an.tensor([2, 1]), dim=1)
               ).tolist() == x.repeat_interleave(torch.tensor([2, 1]), dim=1).tolist()


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
        m = an.randn(rows, math.prod(shape[1:]), dtype="float64").numpy()
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
    np.testing.assert_array_equal(_np(init.dirac_(an.zeros(6, 4, 3, 3), 2)), tw.numpy())


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
