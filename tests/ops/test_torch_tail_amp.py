"""testing.assert_close, amp.GradScaler / autocast, torch.cuda's memory facts and randint's
keywords, each against torch."""
import warnings

import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle.testing import assert_close


def _raises_same(call_ours, call_theirs, exc):
    with pytest.raises(exc) as a:
        call_ours()
    with pytest.raises(exc) as t:
        call_theirs()
    return str(a.value), str(t.value)


def test_assert_close_as_torch():
    ok = [([1.0, 2.0], [1.0, 2.0 + 1e-6], "float32"), ([1.0], [1.0 + 1e-8], "float64"),
          ([1, 2], [1, 2], "int64"), ([float("inf")], [float("inf")], "float32")]
    for a, b, dt in ok:
        assert_close(an.tensor(a, dtype=dt), an.tensor(b, dtype=dt))
        torch.testing.assert_close(torch.tensor(a, dtype=getattr(torch, dt)),
                                   torch.tensor(b, dtype=getattr(torch, dt)))
    ours, theirs = _raises_same(
        lambda: assert_close(an.tensor([1.0, 2.0, 3.0]), an.tensor([1.0, 2.5, 3.0])),
        lambda: torch.testing.assert_close(torch.tensor([1.0, 2.0, 3.0]),
                                           torch.tensor([1.0, 2.5, 3.0])), AssertionError)
    assert ours.splitlines()[:4] == theirs.splitlines()[:4]
    ours, theirs = _raises_same(lambda: assert_close(an.ones(2), an.ones(2, dtype="float64")),
                                lambda: torch.testing.assert_close(
                                    torch.ones(2), torch.ones(2, dtype=torch.float64)),
                                AssertionError)
    assert ours.replace("arrayneedle", "torch") == theirs
    _raises_same(lambda: assert_close(an.ones(2), an.ones(3)),
                 lambda: torch.testing.assert_close(torch.ones(2), torch.ones(3)), AssertionError)
    _raises_same(lambda: assert_close(an.ones(2), an.ones(2), rtol=1e-3),
                 lambda: torch.testing.assert_close(torch.ones(2), torch.ones(2), rtol=1e-3),
                 ValueError)
    nan = [float("nan")]
    with pytest.raises(AssertionError):
        assert_close(an.tensor(nan), an.tensor(nan))
    assert_close(an.tensor(nan), an.tensor(nan), equal_nan=True)
    assert_close(an.tensor([1.0, 1.1]), an.tensor([1.0, 1.0]), rtol=0.2, atol=0.0)
    assert_close({"a": [an.ones(1), 2.0]}, {"a": [an.ones(1), 2.0]})
    with pytest.raises(AssertionError, match="custom"):
        assert_close(an.ones(1), an.zeros(1), msg="custom")


def _train(lib, scaler_cls, device, steps, inject):
    lib.manual_seed(0)
    w = lib.tensor([1.0, -2.0], requires_grad=True)
    opt = lib.optim.SGD([w], lr=0.1)
    scaler = scaler_cls(device, init_scale=1024.0, growth_interval=2)
    scales, ws = [], []
    for step in range(steps):
        opt.zero_grad()
        loss = (w * w).sum()
        scaler.scale(loss).backward()
        if step in inject:
            w.grad = w.grad * float("inf")
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        ws.append(w.detach().numpy().copy())
    return scales, ws, scaler


def test_grad_scaler_matches_torch_on_cpu():
    ours = _train(an, an.amp.GradScaler, "cpu", 7, {1, 4})
    theirs = _train(torch, torch.amp.GradScaler, "cpu", 7, {1, 4})
    assert ours[0] == theirs[0]  # backoff after each inf, growth after 2 clean steps
    np.testing.assert_allclose(np.array(ours[1]), np.array(theirs[1]), rtol=1e-6)
    sd, tsd = ours[2].state_dict(), theirs[2].state_dict()
    assert {k: float(v) for k, v in sd.items()} == {k: float(v) for k, v in tsd.items()}


def test_grad_scaler_rules():
    if not an.cuda.is_available():
        with pytest.warns(UserWarning, match="Disabling"):
            s = an.cuda.amp.GradScaler()
        assert not s.is_enabled() and s.get_scale() == 1.0
        x = an.ones(1)
        assert s.scale(x) is x and s.state_dict() == {}
    s = an.amp.GradScaler("cpu")
    w = an.ones(1, requires_grad=True)
    opt = an.optim.SGD([w], lr=0.1)
    s.scale(w.sum()).backward()
    s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        s.step(opt)
    s.update()
    np.testing.assert_allclose(w.detach().numpy(), [0.9])


def test_autocast_is_declined_except_disabled():
    with an.autocast("cpu", enabled=False):
        y = an.ones(2) * 2
    assert str(y.dtype) == "float32"

    @an.amp.autocast("cuda", enabled=False)
    def f(x):
        return x + 1
    assert f(an.ones(1)).item() == 2.0
    with pytest.raises(RuntimeError, match="not offered"):
        an.autocast("cpu", dtype=an.float16)
    assert an.cuda.amp.autocast is an.amp.autocast


def test_cuda_memory_facts_as_torch_without_gpu():
    if an.cuda.is_available():
        a = an.ones(1 << 20, device="cuda")
        assert an.cuda.max_memory_allocated() >= a.numel() * 4
        del a
        an.cuda.reset_peak_memory_stats()
        assert an.cuda.max_memory_allocated() == an.cuda.memory_allocated()
        return
    assert an.cuda.max_memory_allocated() == torch.cuda.max_memory_allocated() == 0
    assert an.cuda.memory_allocated() == torch.cuda.memory_allocated() == 0
    an.cuda.reset_peak_memory_stats()
    assert an.cuda.is_bf16_supported() is False
    with pytest.raises(RuntimeError):
        an.cuda.get_device_name()
    with pytest.raises((RuntimeError, AssertionError)):
        torch.cuda.get_device_name()


def test_randint_keywords_as_torch():
    for kw in (dict(low=2, high=5, size=(1000,)), dict(high=3, size=(1000,))):
        a, t = an.randint(**kw), torch.randint(**kw)
        assert tuple(a.shape) == tuple(t.shape) and str(a.dtype) == "int64"
        assert set(np.unique(a.numpy())) == set(np.unique(t.numpy()))
    assert an.randint(2, high=4, size=(50,)).numpy().min() >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        an.randint(0, 3, (2,))


def test_erfinv_matches_torch_with_gradient():
    from arrayneedle.testing import gradcheck
    x = np.array([-1.0, -0.999999, -0.9, -0.5, 0.0, 1e-8, 0.3, 0.7, 0.99, 0.9999999, 1.0, 1.5])
    np.testing.assert_allclose(an.erfinv(an.tensor(x)).numpy(),
                               torch.erfinv(torch.tensor(x)).numpy(), rtol=1e-9, atol=1e-12)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(an.tensor(x32).erfinv().numpy(),
                               torch.tensor(x32).erfinv().numpy(), rtol=2e-6, atol=1e-6)
    gradcheck(an.erfinv, np.array([-0.8, -0.2, 0.1, 0.6]))
    assert str(an.erfinv(an.tensor([0, 1])).dtype) == "float32"


def test_averaged_model_matches_torch():
    from torch.optim.swa_utils import AveragedModel as TAveraged
    from torch.optim.swa_utils import get_ema_multi_avg_fn as tema
    an.manual_seed(0)
    model = an.nn.Sequential(an.nn.Linear(3, 2), an.nn.BatchNorm1d(2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    for kw, tkw in ((dict(), dict()),
                    (dict(multi_avg_fn=an.optim.swa_utils.get_ema_multi_avg_fn(0.9)),
                     dict(multi_avg_fn=tema(0.9))),
                    (dict(use_buffers=True), dict(use_buffers=True))):
        avg = an.optim.swa_utils.AveragedModel(model, **kw)
        tavg = TAveraged(tmodel, **tkw)
        assert list(avg.state_dict()) == list(tavg.state_dict())
        opt = an.optim.SGD(model.parameters(), lr=0.1)
        topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
        x = R.standard_normal((4, 3)).astype(np.float32)
        for _ in range(3):
            for m, o, lib in ((model, opt, an), (tmodel, topt, torch)):
                o.zero_grad()
                m(lib.tensor(x)).pow(2).sum().backward()
                o.step()
            avg.update_parameters(model)
            tavg.update_parameters(tmodel)
        for (k, v), tv in zip(avg.state_dict().items(), tavg.state_dict().values()):
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_to_empty_as_torch():
    m, t = an.nn.Linear(2, 3), torch.nn.Linear(2, 3)
    assert m.to_empty(device="cpu") is m
    t.to_empty(device="cpu")
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert all(p.requires_grad for p in m.parameters())


R = np.random.default_rng(1)
