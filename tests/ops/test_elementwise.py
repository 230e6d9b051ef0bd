"""PyTorch's everyday names, second batch, ops: elementwise ops and their dtype rules,
comparisons, logical/bitwise operators, rounding and math functions, unique/repeat_interleave/
roll/diff/cross. Each test asserts hand-computed values; with PyTorch installed some also
compare with it. Gradients of the differentiable ops are checked in the op table
(op_table_surface2.py); the nn side is in nn/test_init_activations.py."""
import math

import numpy as np
import pytest

import arrayneedle as an


def _np(t):
    return t.detach().numpy()


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
    np.testing.assert_allclose(_np(a.grad), t.grad.detach().numpy(), rtol=1e-10, atol=1e-14)
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


def test_float_functions_of_integer_tensors_give_float32_as_pytorch():
    # NumPy gives float64 for exp/log/... of int64; PyTorch gives its default float dtype
    i = an.arange(1, 4)
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "silu", "erf", "gelu",
                 "log2", "rsqrt"):
        out = getattr(an, name)(i)
        assert out.dtype == an.float32, name
        np.testing.assert_allclose(out.numpy(), getattr(an, name)(i.float()).numpy(), rtol=1e-6)
    for name in ("abs", "relu", "square"):  # these keep integers, as PyTorch
        assert getattr(an, name)(i).dtype == an.int64, name
