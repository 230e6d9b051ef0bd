"""EMA: averages parameters only, copies buffers, warm-up, state_dict round trip."""
import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn
from diffusion import EMA, GaussianDiffusion


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.register_buffer("constant", an.arange(5, dtype="float32"))

    def forward(self, x, t=None):
        return self.bn(self.lin(x))


def _set_params(model, value):
    for p in model.parameters():
        p.array = p.device.xp.full(p.shape, value, dtype=p.dtype)


def test_ema_averages_parameters_and_copies_buffers():
    model = Net()
    ema = EMA(model, decay=0.9, warmup=False)
    assert all(not p.requires_grad for p in ema.parameters())
    assert all(p is not q for p, q in zip(ema.parameters(), model.parameters()))
    assert all(p.device is q.device for p, q in zip(ema.parameters(), model.parameters()))
    old = [p.numpy().copy() for p in ema.parameters()]
    _set_params(model, 1.0)
    model(an.randn(16, 3))  # training step: BN running stats and its counter move
    ema.update()
    for e, o in zip(ema.parameters(), old):
        np.testing.assert_allclose(e.numpy(), 0.9 * o + 0.1, rtol=1e-6)
    own = dict(ema.ema_model.named_buffers())
    for name, b in model.named_buffers():
        np.testing.assert_array_equal(own[name].numpy(), b.numpy(), err_msg=name)
        assert own[name].array is not b.array  # copied, not shared
    assert int(own["bn.num_batches_tracked"].item()) == 1
    # the online model's gradients and values are untouched
    assert all(np.all(p.detach().numpy() == 1.0) for p in model.parameters())


def test_warmup_and_update_after_step_and_every():
    model = Net()
    ema = EMA(model, decay=0.999, update_after_step=2)
    _set_params(model, 3.0)
    ema.update()
    ema.update()  # steps 1, 2: the copy tracks the model exactly
    assert all(np.all(p.numpy() == 3.0) for p in ema.parameters())
    assert ema.current_decay() == pytest.approx(2 / 11)  # next (first averaging) update
    _set_params(model, 0.0)
    ema.update()
    assert all(np.allclose(p.numpy(), 3.0 * 2 / 11) for p in ema.parameters())
    for _ in range(10000):
        ema.step += 1
    assert ema.current_decay() == 0.999

    ema = EMA(model, decay=0.5, warmup=False, update_every=3)
    _set_params(model, 1.0)
    ema.update()
    ema.update()
    assert all(np.all(p.numpy() == 0.0) for p in ema.parameters())
    ema.update()  # third call averages
    assert all(np.allclose(p.numpy(), 0.5) for p in ema.parameters())


def test_schedule_buffers_are_never_averaged():
    model = Net()
    d = GaussianDiffusion(model, timesteps=50)
    ema = EMA(d, decay=0.5, warmup=False)
    w0 = ema.ema_model.model.lin.weight.numpy().copy()
    _set_params(model, 2.0)
    for _ in range(3):
        ema.update()
    own = dict(ema.ema_model.named_buffers())
    assert "betas" in own and "model.bn.running_mean" in own
    for name, b in d.named_buffers():
        np.testing.assert_array_equal(own[name].numpy(), b.numpy(), err_msg=name)
    # the parameters follow the recurrence; the averaged copy is a working diffusion
    assert ema.ema_model.model is not model
    np.testing.assert_allclose(ema.ema_model.model.lin.weight.numpy(),
                               0.5 ** 3 * w0 + (1 - 0.5 ** 3) * 2.0, rtol=1e-6)


def test_state_dict_round_trip(tmp_path):
    model = Net()
    ema = EMA(model, decay=0.9)
    for v in (1.0, 2.0, 3.0):
        _set_params(model, v)
        ema.update()
    path = tmp_path / "ema.npz"
    an.save(ema.state_dict(), path)
    other = EMA(Net(), decay=0.9)
    other.load_state_dict(an.load(path))
    assert other.step == 3
    for (n, a), (m, b) in zip(ema.ema_model.state_dict().items(),
                              other.ema_model.state_dict().items()):
        assert n == m
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # updates continue from the restored state
    other.update()
    assert other.step == 4
    with pytest.raises(KeyError, match="ema_model"):
        other.load_state_dict({"step": 1})


def test_copy_to_and_call():
    model = Net()
    ema = EMA(model, decay=0.5, warmup=False)
    target = Net()
    ema.copy_to(target)
    for a, b in zip(target.parameters(), ema.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    y = ema(an.randn(2, 3))
    assert y.shape == (2, 4)
    assert "decay=0.5" in repr(ema)


def test_errors():
    with pytest.raises(TypeError, match="Module"):
        EMA(lambda x: x)
    with pytest.raises(ValueError, match="decay"):
        EMA(Net(), decay=1.5)
    with pytest.raises(ValueError, match="update_every"):
        EMA(Net(), update_every=0)
