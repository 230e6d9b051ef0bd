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
    assert p.dtype == np.float32 and opt.state[p]["exp_avg"].dtype == np.float32


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
    np.testing.assert_allclose(a.grad.detach().numpy(), [0.6, 0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.detach().numpy(), [0.8], rtol=1e-5)
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
    assert s3.last_epoch == 14 and s3.get_last_lr() == pytest.approx([lrs[-1]], abs=1e-12)


def test_warmup_loads_the_scheduler_state_written_before_lr_scheduler():
    """Checkpoints of diffusion/training.py hold {'last_step', 'base_lrs'}: they still load."""
    opt = optim.Adam([nn.Parameter(an.zeros(1))], lr=2.0)
    sch = optim.WarmupConstant(opt, 4)
    sch.load_state_dict({"last_step": 2, "base_lrs": [2.0]})
    assert sch.last_epoch == 2 and sch.get_last_lr() == [pytest.approx(1.2)]
    sch.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.6)


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
        np.testing.assert_allclose(p.grad.detach().numpy(), g * (0.5 / (want + 1e-6)), rtol=10 * rtol)
    # under the limit nothing changes
    params, grads = _params_with_grads(dtype)
    assert optim.clip_grad_norm_(params, 100.0) == pytest.approx(want, rel=rtol)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.detach().numpy(), g)


def test_clip_grad_norm_non_finite():
    a, b = nn.Parameter(an.zeros(2)), nn.Parameter(an.zeros(1))
    a.grad, b.grad = an.Tensor([np.nan, 1.0]), an.Tensor([2.0])
    assert math.isnan(optim.clip_grad_norm_([a, b], 1.0))  # NaN: gradients left as they are
    np.testing.assert_array_equal(b.grad.detach().numpy(), [2.0])
    a.grad, b.grad = an.Tensor([np.inf, 1.0]), an.Tensor([2.0])
    with np.errstate(invalid="ignore"):
        assert optim.clip_grad_norm_([a, b], 1.0) == math.inf  # inf: scaled by 0
    np.testing.assert_array_equal(b.grad.detach().numpy(), [0.0])
    assert np.isnan(a.grad.detach().numpy()[0]) and a.grad.detach().numpy()[1] == 0.0
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
    np.testing.assert_allclose(a.grad.detach().numpy(), [3 * coef, 0], rtol=1e-6)
    np.testing.assert_allclose(b.grad.detach().numpy(), [4 * coef], rtol=1e-6)
    assert nn.utils.get_total_norm([a.grad, b.grad], norm_type).item() == pytest.approx(1.0,
                                                                                      rel=1e-5)


def test_nn_utils_clip_grad_norm_edges():
    p = nn.Parameter(an.zeros(2, dtype="float64"))
    p.grad = an.Tensor(np.array([0.3, 0.4]))
    total = nn.utils.clip_grad_norm_(p, 10.0)  # a single Tensor; under the limit: unchanged
    assert total.dtype == np.float64 and total.item() == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(p.grad.detach().numpy(), [0.3, 0.4])
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    assert nn.utils.clip_grad_norm_([nn.Parameter(an.zeros(1))], 1.0).item() == 0.0
    h = nn.Parameter(an.zeros(2, dtype="float16"))
    h.grad = an.Tensor(np.array([300.0, 300.0], np.float16))  # squares overflow float16
    total = nn.utils.clip_grad_norm_([h], 1e4)
    assert total.dtype == np.float16 and total.item() == pytest.approx(424.26, rel=1e-3)
    p.grad = an.Tensor(np.array([np.nan, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.detach().numpy()[1], 1.0)
    nn.utils.clip_grad_norm_([p], 1.0)  # PyTorch scales by the NaN norm when not asked to stop
    assert np.isnan(p.grad.detach().numpy()).all()


def test_nn_utils_clip_grad_value():
    a, b = nn.Parameter(an.zeros(3)), nn.Parameter(an.zeros(1))
    a.grad, b.grad = an.Tensor([-2.0, 0.5, 3.0]), None
    data = a.grad.array
    assert nn.utils.clip_grad_value_([a, b], 1) is None
    assert a.grad.array is data and b.grad is None  # in place
    np.testing.assert_array_equal(a.grad.detach().numpy(), [-1.0, 0.5, 1.0])


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
    np.testing.assert_allclose(total.detach().numpy(), want.detach().numpy(), rtol=rtol)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.detach().numpy(), t.grad.detach().numpy(), rtol=rtol, atol=1e-7)
    nn.utils.clip_grad_value_(params, 0.01)
    torch.nn.utils.clip_grad_value_(tparams, 0.01)
    for p, t in zip(params, tparams):
        np.testing.assert_array_equal(p.grad.detach().numpy(), t.grad.detach().numpy())


# ---- every optimizer: PyTorch's numbers, parameter groups, state dict round trip ----
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, decoupled_weight_decay=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1)),
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True)),
]
SHAPES = [(3, 4), (5,), ()]


def _steps(n, dtype, seed=7):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(n)]


def _an_run(name, kw, p0, grads, opt=None, params=None):
    params = params or [nn.Parameter(an.Tensor(p.copy())) for p in p0]
    group_kw = {k: v for k, v in kw.items() if k != "lr"}
    opt = opt or getattr(optim, name)([{"params": params[:2]}, {"params": params[2:],
                                                                  "lr": kw["lr"] / 2}],
                                      lr=kw["lr"], **group_kw)
    arrays = [p.array for p in params]
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = an.Tensor(g)
        opt.step()
    assert all(p.array is a for p, a in zip(params, arrays)), "updates must be in place"
    return params, opt


@pytest.mark.parametrize("name,kw", CONFIGS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_optimizers_match_torch(name, kw, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    p0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = _steps(6, dtype)
    params, opt = _an_run(name, kw, p0, grads)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in p0]
    group_kw = {k: v for k, v in kw.items() if k != "lr"}
    topt = getattr(torch.optim, name)([{"params": tp[:2]}, {"params": tp[2:], "lr": kw["lr"] / 2}],
                                      lr=kw["lr"], **group_kw)
    for gs in grads:
        for t, g in zip(tp, gs):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    rtol, atol = (1e-12, 1e-14) if dtype == "float64" else (2e-5, 1e-6)
    for p, t in zip(params, tp):
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert [set(g) for g in ours["param_groups"]] == [set(g) for g in theirs["param_groups"]]
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in
                                                           theirs["param_groups"]]
    assert set(ours["state"]) == set(theirs["state"])
    for i, st in theirs["state"].items():
        assert set(ours["state"][i]) == set(st)
        for k, v in st.items():
            np.testing.assert_allclose(np.asarray(ours["state"][i][k]), v.detach().numpy(), rtol=rtol,
                                       atol=atol)
            if k != "step":
                assert ours["state"][i][k].dtype == np.dtype(dtype)


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_optimizer_state_dict_round_trip_through_save(name, kw, tmp_path):
    rng = np.random.default_rng(2)
    p0 = [rng.standard_normal(s) for s in SHAPES]
    grads = _steps(5, "float64")
    straight, _ = _an_run(name, kw, p0, grads)
    params, opt = _an_run(name, kw, p0, grads[:3])
    an.save({"opt": opt.state_dict(), "params": params}, tmp_path / "ck.npz")
    ck = an.load(tmp_path / "ck.npz")
    resumed = [nn.Parameter(p) for p in ck["params"]]
    opt2 = getattr(optim, name)([{"params": resumed[:2]}, {"params": resumed[2:]}], lr=123.0)
    opt2.load_state_dict(ck["opt"])
    assert opt2.param_groups[1]["lr"] == kw["lr"] / 2
    _an_run(name, kw, None, grads[3:], opt=opt2, params=resumed)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_optimizer_state_written_before_the_optim_package():
    """The exact layout the single-module optim wrote into training checkpoints (no amsgrad,
    maximize, foreach... keys; 'step' a Python int) loads and continues as one run would."""
    p0, grads = _setup(4)
    straight = _run(optim.Adam, p0, grads, lr=0.01)
    p = nn.Parameter(an.Tensor(p0.copy()))
    opt = optim.Adam([p], lr=0.01)
    for g in grads[:2]:
        p.grad = an.Tensor(g)
        opt.step()
    st = opt.state[p]
    old = {"state": {0: {"step": 2, "exp_avg": st["exp_avg"].copy(),
                         "exp_avg_sq": st["exp_avg_sq"].copy()}},
           "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-08,
                             "weight_decay": 0.0, "params": [0]}]}
    q = nn.Parameter(an.Tensor(p.detach().numpy().copy()))
    opt2 = optim.Adam([q])
    opt2.load_state_dict(old)
    assert opt2.param_groups[0]["amsgrad"] is False and opt2.param_groups[0]["lr"] == 0.01
    for g in grads[2:]:
        q.grad = an.Tensor(g)
        opt2.step()
    np.testing.assert_array_equal(q.detach().numpy(), straight)
    sgd_old = {"state": {0: {"momentum_buffer": np.ones((3, 4))}},
               "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                                 "weight_decay": 0.0, "nesterov": False, "params": [0]}]}
    r = nn.Parameter(an.zeros((3, 4), dtype="float64"))
    sgd = optim.SGD([r])
    sgd.load_state_dict(sgd_old)
    r.grad = an.Tensor(np.zeros((3, 4)))
    sgd.step()  # buf = 0.9 * 1 + 0: p = -0.1 * 0.9
    np.testing.assert_allclose(r.detach().numpy(), -0.09, rtol=1e-15)


def _np_reference(name, p, grads, **kw):
    """Two-line NumPy versions of the update rules, for machines without torch."""
    st = {}
    for t, g in enumerate(grads, 1):
        if name == "RMSprop":
            st["v"] = kw["alpha"] * st.get("v", 0) + (1 - kw["alpha"]) * g * g
            p = p - kw["lr"] * g / (np.sqrt(st["v"]) + 1e-8)
        elif name == "Adagrad":
            st["s"] = st.get("s", 0) + g * g
            p = p - kw["lr"] / (1 + (t - 1) * kw["lr_decay"]) * g / (np.sqrt(st["s"]) + 1e-10)
        elif name == "Adadelta":
            st["v"] = kw["rho"] * st.get("v", 0) + (1 - kw["rho"]) * g * g
            d = np.sqrt(st.get("u", 0) + 1e-6) / np.sqrt(st["v"] + 1e-6) * g
            st["u"] = kw["rho"] * st.get("u", 0) + (1 - kw["rho"]) * d * d
            p = p - kw["lr"] * d
    return p


@pytest.mark.parametrize("name,kw", [("RMSprop", dict(lr=0.01, alpha=0.9)),
                                     ("Adagrad", dict(lr=0.1, lr_decay=0.5)),
                                     ("Adadelta", dict(lr=1.0, rho=0.9))])
def test_optimizers_match_numpy(name, kw):
    p0, grads = _setup(5)
    want = _np_reference(name, p0.copy(), grads, **kw)
    np.testing.assert_allclose(_run(getattr(optim, name), p0, grads, **kw), want, rtol=1e-12)


def test_first_steps_by_hand():
    p = nn.Parameter(an.Tensor([1.0, -2.0]))
    opt = optim.RMSprop([p], lr=0.1, alpha=0.5, eps=0.0)
    p.grad = an.Tensor([2.0, 4.0])
    opt.step()  # v = 0.5 g^2, step = 0.1 * g / sqrt(v) = 0.1 * sqrt(2) * sign(g)
    np.testing.assert_allclose(p.detach().numpy(), [1 - 0.1 * 2 ** 0.5, -2 - 0.1 * 2 ** 0.5], rtol=1e-6)
    q = nn.Parameter(an.Tensor([1.0]))
    opt = optim.Adagrad([q], lr=0.5, eps=0.0)
    q.grad = an.Tensor([3.0])
    opt.step()  # sum = 9: q -= 0.5 * 3 / 3
    q.grad = an.Tensor([4.0])
    opt.step()  # sum = 25: q -= 0.5 * 4 / 5
    np.testing.assert_allclose(q.detach().numpy(), [1 - 0.5 - 0.4], rtol=1e-6)
    r = nn.Parameter(an.Tensor([0.0]))
    opt = optim.Adadelta([r], lr=1.0, rho=0.0, eps=1.0)
    r.grad = an.Tensor([3.0])
    opt.step()  # v = 9, delta = sqrt(1) / sqrt(10) * 3
    np.testing.assert_allclose(r.detach().numpy(), [-3 / 10 ** 0.5], rtol=1e-6)
    s = nn.Parameter(an.Tensor([1.0]))
    opt = optim.SGD([s], lr=0.1, momentum=0.5, maximize=True)
    for _ in range(2):
        s.grad = an.Tensor([1.0])
        opt.step()  # buffers 1 then 1.5, climbing
    np.testing.assert_allclose(s.detach().numpy(), [1.25], rtol=1e-6)


def test_param_groups_and_add_param_group():
    a, b, c = (nn.Parameter(an.ones(2)) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    opt.add_param_group({"params": [c], "lr": 1.0})
    for p in (a, b, c):
        p.grad = an.ones(2)
    opt.step()
    assert [p.detach().numpy()[0] for p in (a, b, c)] == pytest.approx([0.9, 0.5, 0.0])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {a, b}}])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(a)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2])
    with pytest.raises(ValueError, match="lr"):
        opt.add_param_group({"params": [nn.Parameter(an.ones(1))], "lr": -1.0})
    named = optim.Adam([("w", a), ("b", b)])
    assert named.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


def test_zero_grad_set_to_none_false_and_closure():
    a = nn.Parameter(an.ones(2))
    b = nn.Parameter(an.ones(2))
    opt = optim.SGD([a, b], lr=0.1)
    (a + b).sum().backward()  # both grads are one read-only broadcast array
    grad_a = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad_a
    assert a.grad.detach().numpy().tolist() == [0, 0] and b.grad.detach().numpy().tolist() == [0, 0]
    calls = []

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        calls.append(1)
        return loss

    loss = opt.step(closure)
    assert calls == [1] and loss.item() == 2.0
    np.testing.assert_allclose(a.detach().numpy(), [0.8, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(b.detach().numpy(), [1, 1])  # no gradient: skipped


@pytest.mark.parametrize("cls,kw,name", [
    (optim.SGD, dict(lr=float("nan")), "lr"), (optim.SGD, dict(lr=-0.1), "lr"),
    (optim.SGD, dict(momentum=-1), "momentum"), (optim.SGD, dict(weight_decay=-1), "weight_decay"),
    (optim.SGD, dict(nesterov=True), "nesterov"), (optim.Adam, dict(lr=float("nan")), "lr"),
    (optim.Adam, dict(betas=(0.9, 1.0)), r"betas\[1\]"), (optim.AdamW, dict(betas=(-0.1, 0.9)),
                                                           r"betas\[0\]"),
    (optim.Adam, dict(betas=0.9), "betas"), (optim.Adam, dict(eps=-1e-8), "eps"),
    (optim.RMSprop, dict(alpha=1.5), "alpha"), (optim.RMSprop, dict(momentum=float("nan")),
                                                "momentum"),
    (optim.Adagrad, dict(lr_decay=-1), "lr_decay"),
    (optim.Adagrad, dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    (optim.Adadelta, dict(rho=1.1), "rho"), (optim.Adadelta, dict(lr=float("inf") * 0), "lr"),
    (optim.Adam, dict(differentiable=True), "differentiable")])
def test_bad_hyperparameters_name_the_parameter(cls, kw, name):
    with pytest.raises(ValueError, match=name):
        cls([nn.Parameter(an.zeros(1))], **kw)


def test_load_state_dict_mismatch_is_clear():
    a = nn.Parameter(an.zeros(2))
    sd = optim.Adam([a]).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [a]}, {"params": [nn.Parameter(an.zeros(1))]}]).load_state_dict(sd)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = an.ones(2)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="shape"):
        optim.SGD([nn.Parameter(an.zeros(3))], momentum=0.9).load_state_dict(sd)


def test_parameters_to_vector_and_back():
    a = nn.Parameter(an.Tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3)))
    b = nn.Parameter(an.Tensor(np.float32(7.0)))
    vec = nn.utils.parameters_to_vector([a, b])
    assert vec.shape == (7,) and vec.detach().numpy().tolist() == [0, 1, 2, 3, 4, 5, 7]
    (vec * an.Tensor(np.arange(7.0, dtype=np.float32))).sum().backward()  # differentiable
    assert a.grad.detach().numpy().tolist() == [[0, 1, 2], [3, 4, 5]] and b.grad.item() == 6
    new = an.Tensor(np.arange(10.0, 17.0, dtype=np.float32))
    nn.utils.vector_to_parameters(new, [a, b])
    assert a.shape == (2, 3) and a.detach().numpy().tolist() == [[10, 11, 12], [13, 14, 15]]
    assert b.shape == () and b.item() == 16
    new.array[0] = -1.0  # as in PyTorch the parameters are views of the vector
    assert a.detach().numpy()[0, 0] == -1.0
    with pytest.raises(ValueError, match="7"):
        nn.utils.vector_to_parameters(an.zeros(8), [a, b])
    with pytest.raises(TypeError, match="Tensor"):
        nn.utils.vector_to_parameters(np.zeros(7), [a, b])


def test_parameters_to_vector_matches_torch():
    torch = pytest.importorskip("torch")
    model = nn.Linear(3, 2)
    tmodel = torch.nn.Linear(3, 2)
    with torch.no_grad():
        tmodel.weight.copy_(torch.from_numpy(model.weight.detach().numpy()))
        tmodel.bias.copy_(torch.from_numpy(model.bias.detach().numpy()))
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(model.parameters()).detach().numpy(),
                                  torch.nn.utils.parameters_to_vector(tmodel.parameters())
                                  .detach().numpy())


@pytest.mark.parametrize("name,kw", CONFIGS)
def test_optimizers_use_only_the_array_api(name, kw):
    """Same steps on array-api-strict arrays as on NumPy: the updates use only the standard."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(8)
    p0 = [rng.standard_normal(s) for s in SHAPES]
    grads = _steps(3, "float64")
    want, _ = _an_run(name, kw, p0, grads)
    params = [nn.Parameter(an.Tensor(xps.asarray(p))) for p in p0]
    strict = [[xps.asarray(g) for g in gs] for gs in grads]
    params, opt = _an_run(name, kw, None, strict[:2], params=params)
    opt2 = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:]}])
    opt2.load_state_dict(opt.state_dict())
    _an_run(name, kw, None, strict[2:], opt=opt2, params=params)
    opt2.zero_grad(set_to_none=False)
    for p, w in zip(params, want):
        assert type(p.array).__module__.startswith("array_api_strict")
        np.testing.assert_allclose(p.detach().numpy(), w.detach().numpy(), rtol=1e-13, atol=1e-15)
