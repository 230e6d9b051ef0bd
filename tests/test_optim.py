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
    data_id = id(p.data)
    for g in grads:
        p.grad = an.Tensor(g)
        opt.step()
    assert id(p.data) == data_id, "updates must be in place"
    return p.numpy()


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
    assert a.numpy().tolist() == [0, 0] and b.numpy().tolist() == [1, 1]
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
    np.testing.assert_allclose(q.numpy(), straight, rtol=1e-12)
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
