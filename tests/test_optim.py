import math

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
from arrayneedle import optim


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(4)]
    return p0, grads


def _run(opt_cls, p0, grads, **kw):
    p = nn.Parameter(an.Tensor(p0.copy()))
    opt = opt_cls([p], **kw)
    data_id = id(p.array)
    for g in grads:
        p.grad = an.Tensor(g)
        opt.step()
    assert id(p.array) == data_id, "updates must be in place"
    return p.detach().numpy()


@pytest.mark.parametrize("kw", [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                                dict(lr=0.1, momentum=0.9, nesterov=True),
                                dict(lr=0.1, momentum=0.9, weight_decay=0.01)])
def test_sgd_matches_numpy(kw):
    p0, grads = _setup()
    p, buf = p0.copy(), None
    for g in grads:
        g = g + kw.get("weight_decay", 0) * p
        if kw.get("momentum"):
            buf = g.copy() if buf is None else kw["momentum"] * buf + g
            g = g + kw["momentum"] * buf if kw.get("nesterov") else buf
        p = p - kw["lr"] * g
    np.testing.assert_allclose(_run(optim.SGD, p0, grads, **kw), p, rtol=1e-12)


@pytest.mark.parametrize("cls,wd", [(optim.Adam, 0.0), (optim.Adam, 0.1), (optim.AdamW, 0.1)])
def test_adam_matches_numpy(cls, wd):
    p0, grads = _setup(1)
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, m, v = p0.copy(), 0, 0
    for t, g in enumerate(grads, 1):
        if wd and cls is optim.AdamW:
            p = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * mh / (np.sqrt(vh) + eps)
    np.testing.assert_allclose(_run(cls, p0, grads, lr=lr, weight_decay=wd), p, rtol=1e-10)


def test_adam_keeps_float32():
    p = nn.Parameter(an.randn(5))
    opt = optim.Adam([p])
    p.grad = an.randn(5)
    opt.step()
    assert p.dtype == np.float32 and opt.state[id(p)]["exp_avg"].dtype == np.float32


def test_zero_grad_and_skip_params_without_grad():
    a, b = nn.Parameter(an.ones(2)), nn.Parameter(an.ones(2))
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = an.ones(2)
    opt.step()
    assert a.detach().numpy().tolist() == [0, 0] and b.detach().numpy().tolist() == [1, 1]
    opt.zero_grad()
    assert a.grad is None


def test_optimizer_state_dict_resume(tmp_path):
    p0, grads = _setup(2)
    straight = _run(optim.Adam, p0, grads, lr=0.01)
    p = nn.Parameter(an.Tensor(p0.copy()))
    opt = optim.Adam([p], lr=0.01)
    for g in grads[:2]:
        p.grad = an.Tensor(g)
        opt.step()
    an.save({"opt": opt.state_dict(), "p": p}, tmp_path / "ck.npz")
    ck = an.load(tmp_path / "ck.npz")
    q = nn.Parameter(ck["p"])
    opt2 = optim.Adam([q], lr=0.5)
    opt2.load_state_dict(ck["opt"])
    assert opt2.param_groups[0]["lr"] == 0.01
    for g in grads[2:]:
        q.grad = an.Tensor(g)
        opt2.step()
    np.testing.assert_allclose(q.detach().numpy(), straight, rtol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        optim.Adam([q, nn.Parameter(an.ones(1))]).load_state_dict(ck["opt"])


def test_clip_grad_norm():
    a, b = nn.Parameter(an.zeros(2)), nn.Parameter(an.zeros(1))
    a.grad, b.grad = an.Tensor([3.0, 0.0]), an.Tensor([4.0])
    total = optim.clip_grad_norm_([a, b], 1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0.8], rtol=1e-5)
    assert optim.clip_grad_norm_([a, b], 10.0) == pytest.approx(1.0, rel=1e-5)


def test_warmup_cosine_schedule():
    opt = optim.SGD([nn.Parameter(an.zeros(1))], lr=1.0)
    sch = optim.WarmupCosine(opt, warmup_steps=4, total_steps=14)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(14):
        sch.step()
        lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs[:5], [0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)
    sd = sch.state_dict()
    sch2 = optim.WarmupConstant(optim.SGD([nn.Parameter(an.zeros(1))], lr=2.0), 2)
    assert [sch2.get_last_lr()[0]] == [pytest.approx(2 / 3)]
    sch2.step(), sch2.step()
    assert sch2.get_last_lr() == [2.0]
    opt3 = optim.SGD([nn.Parameter(an.zeros(1))], lr=1.0)
    s3 = optim.WarmupCosine(opt3, 4, 14)
    s3.load_state_dict(sd)
    assert opt3.param_groups[0]["lr"] == pytest.approx(lrs[-1], abs=1e-12)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([nn.Parameter(an.zeros(1))], betas=(1.5, 0.9))


def _params_with_grads(dtype, seed=3):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2, 1, 3), ()]]
    params = [nn.Parameter(an.zeros(g.shape, dtype=dtype)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = an.Tensor(g.copy())
    return params, grads


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-6), ("float64", 1e-13)])
def test_clip_grad_norm_against_hand_computed_norm(dtype, rtol):
    params, grads = _params_with_grads(dtype)
    want = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    total = optim.clip_grad_norm_(params, 0.5)
    assert isinstance(total, float) and total == pytest.approx(want, rel=rtol)
    for p, g in zip(params, grads):
        assert p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad.numpy(), g * (0.5 / (want + 1e-6)), rtol=10 * rtol)
    # under the limit nothing changes
    params, grads = _params_with_grads(dtype)
    assert optim.clip_grad_norm_(params, 100.0) == pytest.approx(want, rel=rtol)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_non_finite():
    a, b = nn.Parameter(an.zeros(2)), nn.Parameter(an.zeros(1))
    a.grad, b.grad = an.Tensor([np.nan, 1.0]), an.Tensor([2.0])
    assert math.isnan(optim.clip_grad_norm_([a, b], 1.0))  # NaN: gradients left as they are
    np.testing.assert_array_equal(b.grad.numpy(), [2.0])
    a.grad, b.grad = an.Tensor([np.inf, 1.0]), an.Tensor([2.0])
    with np.errstate(invalid="ignore"):
        assert optim.clip_grad_norm_([a, b], 1.0) == math.inf  # inf: scaled by 0
    np.testing.assert_array_equal(b.grad.numpy(), [0.0])
    assert np.isnan(a.grad.numpy()[0]) and a.grad.numpy()[1] == 0.0
    assert optim.clip_grad_norm_([nn.Parameter(an.zeros(1))], 1.0) == 0.0


@pytest.mark.parametrize("norm_type,want",
                         [(2.0, 5.0), (1, 7.0), ("inf", 4.0), (3.0, 91 ** (1 / 3))])
def test_nn_utils_clip_grad_norm_hand_values(norm_type, want):
    a, b = nn.Parameter(an.zeros(2)), nn.Parameter(an.zeros(1))
    a.grad, b.grad = an.Tensor([3.0, 0.0]), an.Tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=norm_type)
    assert isinstance(total, an.Tensor) and total.shape == () and total.dtype == np.float32
    assert total.item() == pytest.approx(want, rel=1e-6)
    coef = 1.0 / (want + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 * coef, 0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [4 * coef], rtol=1e-6)
    assert nn.utils.get_total_norm([a.grad, b.grad], norm_type).item() == pytest.approx(1.0,
                                                                                      rel=1e-5)


def test_nn_utils_clip_grad_norm_edges():
    p = nn.Parameter(an.zeros(2, dtype="float64"))
    p.grad = an.Tensor(np.array([0.3, 0.4]))
    total = nn.utils.clip_grad_norm_(p, 10.0)  # a single Tensor; under the limit: unchanged
    assert total.dtype == np.float64 and total.item() == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(p.grad.numpy(), [0.3, 0.4])
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    assert nn.utils.clip_grad_norm_([nn.Parameter(an.zeros(1))], 1.0).item() == 0.0
    h = nn.Parameter(an.zeros(2, dtype="float16"))
    h.grad = an.Tensor(np.array([300.0, 300.0], np.float16))  # squares overflow float16
    total = nn.utils.clip_grad_norm_([h], 1e4)
    assert total.dtype == np.float16 and total.item() == pytest.approx(424.26, rel=1e-3)
    p.grad = an.Tensor(np.array([np.nan, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.numpy()[1], 1.0)
    nn.utils.clip_grad_norm_([p], 1.0)  # PyTorch scales by the NaN norm when not asked to stop
    assert np.isnan(p.grad.numpy()).all()


def test_nn_utils_clip_grad_value():
    a, b = nn.Parameter(an.zeros(3)), nn.Parameter(an.zeros(1))
    a.grad, b.grad = an.Tensor([-2.0, 0.5, 3.0]), None
    data = a.grad.array
    assert nn.utils.clip_grad_value_([a, b], 1) is None
    assert a.grad.array is data and b.grad is None  # in place
    np.testing.assert_array_equal(a.grad.numpy(), [-1.0, 0.5, 1.0])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nn_utils_clip_grad_against_torch(norm_type, dtype):
    torch = pytest.importorskip("torch")
    params, grads = _params_with_grads(dtype, seed=5)
    tparams = [torch.zeros(g.shape, dtype=getattr(torch, dtype), requires_grad=True) for g in grads]
    for t, g in zip(tparams, grads):
        t.grad = torch.from_numpy(g.copy())
    total = nn.utils.clip_grad_norm_(params, 0.7, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(tparams, 0.7, norm_type=norm_type)
    rtol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(total.numpy(), want.numpy(), rtol=rtol)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-7)
    nn.utils.clip_grad_value_(params, 0.01)
    torch.nn.utils.clip_grad_value_(tparams, 0.01)
    for p, t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())
