import math
import warnings

import numpy as np
import pytest

import arrayneedle as an
import arrayneedle.nn as nn
from arrayneedle import optim
from arrayneedle.optim import lr_scheduler as L

STEPS = 14


def _sgd(mod, params, momentum=0.9):
    return mod.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1,
                   momentum=momentum)


def _adam(mod, params):
    return mod.Adam([{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1)


CASES = {
    "LambdaLR": (_sgd, lambda S, o: S.LambdaLR(o, lambda e: 0.95 ** e)),
    "LambdaLR-per-group": (_sgd, lambda S, o: S.LambdaLR(o, [lambda e: 1 / (e + 1),
                                                             lambda e: 0.9 ** e])),
    "MultiplicativeLR": (_sgd, lambda S, o: S.MultiplicativeLR(o, lambda e: 0.9)),
    "StepLR": (_sgd, lambda S, o: S.StepLR(o, step_size=3, gamma=0.5)),
    "MultiStepLR": (_sgd, lambda S, o: S.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.5)),
    "ConstantLR": (_sgd, lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=4)),
    "LinearLR": (_sgd, lambda S, o: S.LinearLR(o, start_factor=0.25, total_iters=6)),
    "ExponentialLR": (_sgd, lambda S, o: S.ExponentialLR(o, gamma=0.9)),
    "PolynomialLR": (_sgd, lambda S, o: S.PolynomialLR(o, total_iters=6, power=2.0)),
    "CosineAnnealingLR": (_sgd, lambda S, o: S.CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
    "OneCycleLR": (_sgd, lambda S, o: S.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=15)),
    "OneCycleLR-adam-3phase": (_adam, lambda S, o: S.OneCycleLR(
        o, max_lr=1.0, epochs=3, steps_per_epoch=5, three_phase=True, anneal_strategy="linear")),
    "SequentialLR": (_sgd, lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=3), S.ExponentialLR(o, gamma=0.8),
            S.CosineAnnealingLR(o, T_max=4)], milestones=[3, 8])),
    "CyclicLR": (_sgd, lambda S, o: S.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.5,
                                               step_size_up=3, step_size_down=2,
                                               mode="triangular2")),
    "CyclicLR-adam-exp": (_adam, lambda S, o: S.CyclicLR(o, 0.01, 0.5, step_size_up=4,
                                                         mode="exp_range", gamma=0.9)),
    "CosineAnnealingWarmRestarts": (_sgd, lambda S, o: S.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.001)),
    "ChainedScheduler": (_sgd, lambda S, o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.5, total_iters=3), S.ExponentialLR(o, gamma=0.9)])),
}


def _trace(opt_fn, sched_fn, steps=STEPS):
    params = [nn.Parameter(an.zeros(1)), nn.Parameter(an.zeros(1))]
    opt = opt_fn(optim, params)
    sched = sched_fn(L, opt)
    out = [_snapshot(opt, sched)]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(_snapshot(opt, sched))
    return out, opt, sched


def _snapshot(opt, sched):
    g = opt.param_groups
    return (list(sched.get_last_lr()), [x.get("momentum", x.get("betas", (0,))[0]) for x in g])


@pytest.mark.parametrize("case", sorted(CASES))
def test_schedulers_match_torch(case):
    torch = pytest.importorskip("torch")
    opt_fn, sched_fn = CASES[case]
    ours, _, sched = _trace(opt_fn, sched_fn)
    tparams = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    topt = opt_fn(torch.optim, tparams)
    with warnings.catch_warnings():  # PyTorch warns about optimizer.step with no gradients
        warnings.simplefilter("ignore")
        tsched = sched_fn(torch.optim.lr_scheduler, topt)
        theirs = [_snapshot(topt, tsched)]
        for _ in range(STEPS):
            topt.step()
            tsched.step()
            theirs.append(_snapshot(topt, tsched))
    np.testing.assert_allclose(np.array([lr for lr, _ in ours]),
                               np.array([lr for lr, _ in theirs]), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(np.array([m for _, m in ours]), np.array([m for _, m in theirs]),
                               rtol=1e-13)
    assert set(sched.state_dict()) == set(tsched.state_dict())


@pytest.mark.parametrize("case", sorted(CASES))
def test_scheduler_state_dict_round_trip(case, tmp_path):
    opt_fn, sched_fn = CASES[case]
    straight, _, _ = _trace(opt_fn, sched_fn)
    _, opt, sched = _trace(opt_fn, sched_fn, steps=6)
    an.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "ck.npz")
    ck = an.load(tmp_path / "ck.npz")
    params = [nn.Parameter(an.zeros(1)), nn.Parameter(an.zeros(1))]
    opt2 = opt_fn(optim, params)
    sched2 = sched_fn(L, opt2)
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    resumed = [_snapshot(opt2, sched2)]
    for _ in range(STEPS - 6):
        opt2.step()
        sched2.step()
        resumed.append(_snapshot(opt2, sched2))
    assert resumed == straight[6:]


def _lrs(sched, n):
    out = [sched.get_last_lr()[0]]
    for _ in range(n):
        sched.optimizer.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def _opt(lr=1.0, **kw):
    return optim.SGD([nn.Parameter(an.zeros(1))], lr=lr, **kw)


def test_sequences_by_hand():
    assert _lrs(L.StepLR(_opt(), 2, gamma=0.5), 5) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert _lrs(L.MultiStepLR(_opt(), [1, 3, 3], gamma=0.5), 4) == [1, 0.5, 0.5, 0.125, 0.125]
    assert _lrs(L.ConstantLR(_opt(), 0.5, total_iters=2), 3) == [0.5, 0.5, 1, 1]
    assert _lrs(L.LinearLR(_opt(), 0.25, 1.0, total_iters=3), 4) == pytest.approx(
        [0.25, 0.5, 0.75, 1, 1])
    assert _lrs(L.ExponentialLR(_opt(2.0), 0.5), 3) == [2, 1, 0.5, 0.25]
    assert _lrs(L.LambdaLR(_opt(2.0), lambda e: e + 1), 2) == [2, 4, 6]
    assert _lrs(L.MultiplicativeLR(_opt(2.0), lambda e: 0.5), 2) == [2, 1, 0.5]
    assert _lrs(L.PolynomialLR(_opt(), total_iters=4, power=2.0), 5) == pytest.approx(
        [1, 9 / 16, 4 / 16, 1 / 16, 0, 0])
    cos = _lrs(L.CosineAnnealingLR(_opt(), T_max=4, eta_min=0.2), 8)
    want = [0.2 + 0.8 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(9)]
    np.testing.assert_allclose(cos, want, rtol=1e-12, atol=1e-12)  # down, then back up
    seq = L.SequentialLR(opt := _opt(), [L.ConstantLR(opt, 0.1, total_iters=10),
                                         L.ExponentialLR(opt, 0.5)], milestones=[2])
    assert _lrs(seq, 4) == pytest.approx([0.1, 0.1, 1, 0.5, 0.25])


def test_one_cycle_by_hand():
    opt = _opt(momentum=0.9)
    s = L.OneCycleLR(opt, max_lr=2.0, total_steps=10, pct_start=0.3, anneal_strategy="linear")
    lrs = _lrs(s, 9)
    init = 2.0 / 25
    assert lrs[0] == pytest.approx(init) and lrs[2] == pytest.approx(2.0)
    assert lrs[1] == pytest.approx((init + 2.0) / 2)
    assert lrs[9] == pytest.approx(init / 1e4)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        s.step(), s.step()
    with pytest.raises(ValueError, match="momentum"):
        L.OneCycleLR(optim.Adagrad([nn.Parameter(an.zeros(1))]), max_lr=1.0, total_steps=3)


def test_reduce_lr_on_plateau_by_hand(tmp_path):
    opt = _opt()
    s = L.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    lrs = []
    for metric in [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]:
        s.step(metric)
        lrs.append(s.get_last_lr()[0])
    # two bad epochs (> patience 1) halve the lr, then one cooldown epoch; floor at min_lr
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    an.save(s.state_dict(), tmp_path / "s.npz")
    s2 = L.ReduceLROnPlateau(_opt(), mode="max")
    s2.load_state_dict(an.load(tmp_path / "s.npz"))
    assert s2.mode == "min" and s2.best == 0.5 and s2.num_bad_epochs == s.num_bad_epochs
    with pytest.raises(ValueError, match="mode"):
        L.ReduceLROnPlateau(_opt(), mode="lowest")
    with pytest.raises(ValueError, match="factor"):
        L.ReduceLROnPlateau(_opt(), factor=1.0)


def test_reduce_lr_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.91, 0.9, 0.95, 0.8, 0.8, 0.8, 0.81, 0.7, 0.7, 0.7, 0.7, 0.7]
    kw = dict(mode="min", factor=0.3, patience=2, threshold=0.05, threshold_mode="abs",
              cooldown=1, min_lr=[0.001, 0.01])
    s = L.ReduceLROnPlateau(_sgd(optim, [nn.Parameter(an.zeros(1)) for _ in range(2)]), **kw)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(
        _sgd(torch.optim, [torch.zeros(1, requires_grad=True) for _ in range(2)]), **kw)
    for m in metrics:
        s.step(m)
        t.step(m)
        assert s.get_last_lr() == pytest.approx(t.get_last_lr(), rel=1e-15)
    assert set(s.state_dict()) == set(t.state_dict())


def test_scheduler_basics():
    opt = _opt(0.5)
    s = L.StepLR(opt, 1, gamma=0.5)
    assert s.last_epoch == 0 and opt.param_groups[0]["initial_lr"] == 0.5
    s.step(3)  # the epoch argument uses the closed form
    assert s.get_last_lr() == [0.0625] and s.last_epoch == 3
    with pytest.raises(TypeError, match="not an Optimizer"):
        L.StepLR(object(), 1)
    with pytest.raises(KeyError, match="initial_lr"):
        L.StepLR(_opt(), 1, last_epoch=3)
    with pytest.raises(ValueError, match="lr_lambda"):
        L.LambdaLR(_opt(), [lambda e: 1, lambda e: 2])
    assert optim.LambdaLR is L.LambdaLR and optim.LRScheduler is L.LRScheduler


def test_cyclic_schedules_by_hand():
    s = L.CyclicLR(_opt(), base_lr=0.0, max_lr=1.0, step_size_up=2, cycle_momentum=False)
    assert _lrs(s, 6) == pytest.approx([0, 0.5, 1, 0.5, 0, 0.5, 1])
    s = L.CyclicLR(_opt(momentum=0.9), 0.0, 1.0, step_size_up=2, mode="triangular2")
    assert _lrs(s, 6) == pytest.approx([0, 0.5, 1, 0.5, 0, 0.25, 0.5])
    assert s.optimizer.param_groups[0]["momentum"] == pytest.approx(0.9 - 0.1 * 0.5)
    with pytest.raises(ValueError, match="mode"):
        L.CyclicLR(_opt(), 0.1, 1.0, mode="sawtooth")
    s = L.CosineAnnealingWarmRestarts(_opt(), T_0=2, T_mult=2)
    quarter = (1 + math.cos(math.pi / 4)) / 2  # the second period is 4 steps long
    assert _lrs(s, 7) == pytest.approx([1, 0.5, 1, quarter, 0.5, 1 - quarter, 1, 0.5 + 0.5 *
                                        math.cos(math.pi / 8)])
