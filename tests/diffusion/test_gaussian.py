"""GaussianDiffusion: buffers, extract, q/p processes against closed forms, losses, samplers."""
import math
import tracemalloc

import numpy as np
import pytest

import arrayneedle as an
from arrayneedle import nn
from diffusion import GaussianDiffusion, extract, normalize, unnormalize
from diffusion.schedules import linear_beta_schedule


def _zero_model(x, t):
    return an.zeros(x.shape, device=x.device, dtype=x.dtype)


class Oracle:
    """Knows x0: returns the exact noise (or x0, or v) that explains x_t."""

    def __init__(self, x0, objective="eps"):
        self.x0, self.objective, self.diffusion = x0, objective, None

    def __call__(self, x, t):
        d = self.diffusion
        a = extract(d.sqrt_alphas_cumprod, t, x.shape)
        s = extract(d.sqrt_one_minus_alphas_cumprod, t, x.shape)
        eps = (x - a * self.x0) / s
        if self.objective == "eps":
            return eps
        if self.objective == "x0":
            return self.x0 + 0 * x
        return a * eps - s * self.x0


def _oracle_diffusion(x0, T=100, objective="eps", **kw):
    m = Oracle(x0, objective)
    d = GaussianDiffusion(m, timesteps=T, objective=objective, **kw)
    m.diffusion = d
    return d


def _x0(shape=(3, 2, 4, 4), seed=0):
    return an.tensor(np.random.default_rng(seed).uniform(-0.9, 0.9, shape).astype(np.float32))


# ---- buffers ----
def test_buffers_closed_forms_dtype_and_module():
    T = 200
    d = GaussianDiffusion(_zero_model, timesteps=T)
    b = linear_beta_schedule(T)
    ac = np.cumprod(1 - b)
    acp = np.concatenate([[1.0], ac[:-1]])
    expect = {
        "betas": b, "alphas_cumprod": ac, "alphas_cumprod_prev": acp,
        "sqrt_alphas_cumprod": np.sqrt(ac), "sqrt_one_minus_alphas_cumprod": np.sqrt(1 - ac),
        "sqrt_recip_alphas": 1 / np.sqrt(1 - b),
        "posterior_variance": b * (1 - acp) / (1 - ac),
        "posterior_mean_coef1": b * np.sqrt(acp) / (1 - ac),
        "posterior_mean_coef2": (1 - acp) * np.sqrt(1 - b) / (1 - ac),
    }
    for name, val in expect.items():
        buf = getattr(d, name)
        assert buf.dtype == np.float32 and buf.shape == (T,), name
        np.testing.assert_allclose(buf.numpy(), val, rtol=2e-6, atol=1e-9, err_msg=name)
    lv = d.posterior_log_variance_clipped.numpy()
    assert lv[0] == pytest.approx(lv[1]) and np.all(np.isfinite(lv))
    assert d.posterior_variance.numpy()[0] == 0.0
    sd = d.state_dict()
    assert "betas" in sd and "posterior_mean_coef2" in sd
    assert isinstance(d, nn.Module) and d.device == an.cpu()
    assert d.num_timesteps == T


def test_model_is_submodule_and_buffers_follow_it():
    model = nn.Linear(4, 4)
    d = GaussianDiffusion(lambda x, t: x, timesteps=50)
    assert list(d.parameters()) == []
    d = GaussianDiffusion(_Wrap(model), timesteps=50)
    assert [id(p) for p in d.parameters()] == [id(p) for p in model.parameters()]
    names = [n for n, _ in d.named_buffers()]
    assert names[0] == "betas" and len(names) == 12
    assert all(b.device is model.device for b in d.buffers())
    assert d.to("cpu") is d


class _Wrap(nn.Module):
    def __init__(self, lin):
        super().__init__()
        self.lin = lin

    def forward(self, x, t):
        return x


def test_load_state_dict_brings_the_schedule():
    a = GaussianDiffusion(_zero_model, timesteps=100, beta_schedule="cosine")
    b = GaussianDiffusion(_zero_model, timesteps=50)
    b.load_state_dict(a.state_dict())
    assert b.num_timesteps == 100
    np.testing.assert_allclose(b.alphas_cumprod.numpy(), a.alphas_cumprod.numpy(), rtol=1e-6)
    x = b.sample(1, 4, channels=1, sampler="ddim", steps=5, progress=False)
    assert x.shape == (1, 1, 4, 4)


def test_normalize_unnormalize():
    x = an.tensor([0.0, 0.25, 1.0])
    np.testing.assert_allclose(normalize(x).numpy(), [-1, -0.5, 1])
    np.testing.assert_allclose(unnormalize(normalize(x)).numpy(), x.numpy())


# ---- extract ----
def test_extract_values_shape_device(device):
    a = an.tensor(np.arange(10, dtype=np.float32) * 10, device=device)
    t = an.tensor(np.array([3, 0, 9, 3]), device=device)
    out = extract(a, t, (4, 3, 8, 8))
    assert out.shape == (4, 1, 1, 1) and out.device is device
    np.testing.assert_array_equal(out.numpy().ravel(), [30, 0, 90, 30])
    assert extract(a, t, (4, 5)).shape == (4, 1)
    # a host array goes to t's device
    out = extract(np.arange(10.0), t, (4, 2, 2))
    assert out.shape == (4, 1, 1) and out.device is device


def test_extract_errors(device):
    a = an.arange(10, dtype="float32")
    with pytest.raises(ValueError, match="1-D batch"):
        extract(a, an.tensor([[1, 2]]), (1, 3))
    with pytest.raises(TypeError, match="integer timesteps"):
        extract(a, an.tensor([1.0]), (1, 3))
    if device.kind != "cpu":
        with pytest.raises(RuntimeError, match="cpu.*cuda|cuda.*cpu"):
            extract(a, an.tensor([1], device=device), (1, 3))


# ---- forward process ----
@pytest.mark.parametrize("tensor_t", [False, True])
def test_q_sample_mean_and_variance(tensor_t):
    T, t, n = 100, 37, 20000
    d = GaussianDiffusion(_zero_model, timesteps=T)
    x0v = np.array([-0.8, -0.1, 0.3, 0.9], dtype=np.float32)
    x0 = an.tensor(np.broadcast_to(x0v, (n, 4)).copy())
    tt = an.full((n,), t, dtype="int64") if tensor_t else t
    xt = d.q_sample(x0, tt).numpy().astype(np.float64)
    abar = np.cumprod(1 - linear_beta_schedule(T))[t]
    sd = math.sqrt(1 - abar)
    np.testing.assert_allclose(xt.mean(0), math.sqrt(abar) * x0v, atol=5 * sd / math.sqrt(n))
    np.testing.assert_allclose(xt.var(0), 1 - abar, rtol=5 * math.sqrt(2 / n))
    # given noise, q_sample is the closed form
    noise = an.randn(n, 4)
    np.testing.assert_allclose(d.q_sample(x0, tt, noise).numpy(),
                               math.sqrt(abar) * x0.numpy() + sd * noise.numpy(), atol=1e-5)


def _moments_match(x, mean, var, n):
    z = (x - mean) / math.sqrt(var)
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs((z ** 4).mean() - 3) < 5 * math.sqrt(96 / n)  # Gaussian kurtosis
    assert abs(np.mean(np.abs(z) < 1) - 0.6827) < 0.02


def test_composing_single_steps_matches_q_xt_given_x0():
    T, t, n = 100, 60, 20000
    d = GaussianDiffusion(_zero_model, timesteps=T)
    betas = linear_beta_schedule(T)
    x0v = np.float32(0.7)
    x = an.full((n,), float(x0v))
    for s in range(t + 1):  # x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) z
        x = x * math.sqrt(1 - betas[s]) + an.randn(n) * math.sqrt(betas[s])
    abar = np.cumprod(1 - betas)[t]
    _moments_match(x.numpy().astype(np.float64), math.sqrt(abar) * x0v, 1 - abar, n)
    direct = d.q_sample(an.full((n,), float(x0v)), t).numpy().astype(np.float64)
    _moments_match(direct, math.sqrt(abar) * x0v, 1 - abar, n)


def test_q_posterior_closed_form_and_consistency():
    T = 100
    d = GaussianDiffusion(_zero_model, timesteps=T)
    b = linear_beta_schedule(T)
    ac = np.cumprod(1 - b)
    x0 = _x0((4, 3))
    xt = an.randn(4, 3)
    for t in (0, 1, 50, 99):
        mean, var, logvar = d.q_posterior(x0, xt, t)
        acp = ac[t - 1] if t > 0 else 1.0
        exp_mean = (math.sqrt(acp) * b[t] / (1 - ac[t]) * x0.numpy()
                    + math.sqrt(1 - b[t]) * (1 - acp) / (1 - ac[t]) * xt.numpy())
        np.testing.assert_allclose(mean.numpy(), exp_mean, rtol=1e-5, atol=1e-6)
        assert var == pytest.approx((1 - acp) / (1 - ac[t]) * b[t], rel=1e-12, abs=1e-300)
        # a Tensor t gives the same, as (B, 1) tensors
        tt = an.full((4,), t, dtype="int64")
        m2, v2, lv2 = d.q_posterior(x0, xt, tt)
        np.testing.assert_allclose(m2.numpy(), mean.numpy(), rtol=1e-6, atol=1e-7)
        assert v2.shape == (4, 1)
        np.testing.assert_allclose(v2.numpy().ravel(), var, rtol=1e-6)
        np.testing.assert_allclose(np.exp(lv2.numpy().ravel()), math.exp(logvar), rtol=1e-5)
    # Bayes: x_t ~ q(x_t|x0), then x_{t-1} ~ q(x_{t-1}|x_t, x0)  =>  x_{t-1} ~ q(x_{t-1}|x0)
    n, t = 20000, 40
    x0 = an.full((n,), -0.4)
    xt = d.q_sample(x0, t)
    mean, var, _ = d.q_posterior(x0, xt, t)
    prev = (mean + an.randn(n) * math.sqrt(var)).numpy().astype(np.float64)
    _moments_match(prev, math.sqrt(ac[t - 1]) * -0.4, 1 - ac[t - 1], n)


# ---- losses ----
@pytest.mark.parametrize("loss_type", ["l2", "l1", "huber"])
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_p_losses_closed_form(loss_type, objective):
    T = 100
    pred = an.randn(3, 2, 4, 4) * 2
    d = GaussianDiffusion(lambda x, t: pred, timesteps=T, loss_type=loss_type,
                          objective=objective)
    x0, noise = _x0(), an.randn(3, 2, 4, 4)
    t = an.tensor(np.array([0, 42, 99]))
    loss = d.p_losses(x0, t, noise)
    a = np.sqrt(np.cumprod(1 - linear_beta_schedule(T)))[[0, 42, 99]][:, None, None, None]
    s = np.sqrt(1 - a ** 2)
    target = {"eps": noise.numpy(), "x0": x0.numpy(),
              "v": a * noise.numpy() - s * x0.numpy()}[objective]
    diff = pred.numpy() - target
    expect = {"l2": np.mean(diff ** 2), "l1": np.mean(np.abs(diff)),
              "huber": np.mean(np.where(np.abs(diff) < 1, 0.5 * diff ** 2,
                                        np.abs(diff) - 0.5))}[loss_type]
    assert loss.shape == () and loss.item() == pytest.approx(expect, rel=1e-5)


def test_forward_is_p_losses_with_random_t_and_trains_the_model():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.zeros((1,), np.float32))

        def forward(self, x, t):
            return x * self.w

    d = GaussianDiffusion(Scale(), timesteps=50)
    loss = d(_x0())
    assert loss.shape == () and loss.requires_grad
    loss.backward()
    assert d.model.w.grad is not None and np.isfinite(d.model.w.grad.numpy()).all()


# ---- reverse process ----
@pytest.mark.parametrize("objective", ["eps", "x0", "v"])
def test_oracle_p_sampling_recovers_x0(objective):
    T = 100
    x0 = _x0()
    d = _oracle_diffusion(x0, T, objective)
    xT = d.q_sample(x0, T - 1)
    out = d.p_sample_loop(x0.shape, x_T=xT, progress=False)
    np.testing.assert_allclose(out.numpy(), x0.numpy(), atol=1e-4)
    # the batched-t path of p_sample agrees with the scalar path (no noise at t = 0)
    t = an.zeros(x0.shape[0], dtype="int64")
    np.testing.assert_allclose(d.p_sample(xT, t).numpy(), d.p_sample(xT, 0).numpy(), atol=1e-5)
    out = d.ddim_sample(x0.shape, steps=10, x_T=xT, progress=False)
    np.testing.assert_allclose(out.numpy(), x0.numpy(), atol=1e-4)


def test_p_sample_tensor_t_adds_noise_only_where_t_positive():
    d = _oracle_diffusion(_x0((2, 1, 2, 2)), 100)
    x = an.randn(2, 1, 2, 2)
    t = an.tensor(np.array([0, 50]))
    a, b = d.p_sample(x, t).numpy(), d.p_sample(x, t).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1])


def test_ddim_eta0_is_deterministic_for_a_seed():
    x0 = _x0()
    d = _oracle_diffusion(x0, 100)
    shape = (2, 1, 4, 4)
    noisy = lambda x, t: x * 0.3 + an.tensor(np.float32(0.1))  # noqa: E731  (a non-oracle)
    d2 = GaussianDiffusion(noisy, timesteps=100)
    an.manual_seed(7)
    a = d2.sample(2, 4, channels=1, sampler="ddim", steps=20, progress=False).numpy()
    an.manual_seed(7)
    b = d2.sample(2, 4, channels=1, sampler="ddim", steps=20, progress=False).numpy()
    np.testing.assert_array_equal(a, b)
    # with eta = 0 only x_T is random: the same x_T under another generator state, same result
    xT = an.randn(*shape)
    r1 = d2.ddim_sample(shape, steps=20, x_T=xT, progress=False).numpy()
    an.randn(5)
    r2 = d2.ddim_sample(shape, steps=20, x_T=xT, progress=False).numpy()
    np.testing.assert_array_equal(r1, r2)
    r3 = d2.ddim_sample(shape, steps=20, eta=1.0, x_T=xT, progress=False).numpy()
    assert not np.allclose(r1, r3)
    assert d.ddim_timesteps(4) == [(99, 74), (74, 49), (49, 24), (24, -1)]


def test_sample_shapes_clipping_and_frames():
    d = GaussianDiffusion(lambda x, t: x * -3.0, timesteps=30)
    x = d.sample(2, (4, 8), channels=1, progress=False)
    assert x.shape == (2, 1, 4, 8) and not x.requires_grad
    assert x.numpy().min() >= -1 and x.numpy().max() <= 1
    x, frames = d.sample(2, 4, channels=3, return_every=7, progress=False)
    assert len(frames) == 1 + math.ceil(30 / 7)
    assert all(isinstance(f, np.ndarray) and f.shape == (2, 3, 4, 4) for f in frames)
    np.testing.assert_array_equal(frames[-1], x.numpy())
    x, frames = d.sample(1, 4, channels=1, sampler="ddim", steps=10, return_every=5,
                         progress=False)
    assert len(frames) == 3


def test_sampling_builds_no_graph_uses_eval_mode_and_memory_stays_flat():
    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.full((1,), 0.5, np.float32))
            self.modes = set()

        def forward(self, x, t):
            self.modes.add(self.training)
            return x * self.w

    spy = Spy()
    d = GaussianDiffusion(spy, timesteps=300)
    out = d.sample(1, 4, channels=1, sampler="ddim", steps=10, progress=False)
    assert not out.requires_grad and out.is_leaf
    assert spy.modes == {False} and spy.training  # eval while sampling, restored after

    def peak(steps):
        tracemalloc.start()
        d.ddim_sample((8, 3, 32, 32), steps=steps, progress=False)
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return p

    peak(2)
    assert peak(200) < 1.5 * peak(10)


def test_one_diffusion_serves_any_model():
    """model= on the calls: one diffusion (the scheduler) for the online model and its EMA."""
    class Spy(nn.Module):
        def __init__(self, w):
            super().__init__()
            self.w = nn.Parameter(np.full((1,), w, np.float32))
            self.modes = set()

        def forward(self, x, t):
            self.modes.add(self.training)
            return x * self.w

    own, other = Spy(0.5), Spy(-0.25)
    d = GaussianDiffusion(own, timesteps=30)
    ref = GaussianDiffusion(other, timesteps=30)
    for sampler, steps in (("ddpm", None), ("ddim", 6)):
        an.manual_seed(3)
        a = d.sample(2, 4, channels=1, sampler=sampler, steps=steps, progress=False, model=other)
        an.manual_seed(3)
        b = ref.sample(2, 4, channels=1, sampler=sampler, steps=steps, progress=False)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert own.modes == set() and other.modes == {False} and other.training
    with d.sampling_mode(model=other):
        assert not other.training and own.training and not (other.w * 2).requires_grad
    assert other.training and (other.w * 2).requires_grad
    x0, noise, t = _x0(), an.randn(3, 2, 4, 4), an.tensor(np.array([1, 5, 29]))
    assert d.p_losses(x0, t, noise, model=other).item() == ref.p_losses(x0, t, noise).item()
    assert d.p_losses(x0, t, noise).item() != ref.p_losses(x0, t, noise).item()
    # a diffusion without a model of its own: the schedule only
    bare = GaussianDiffusion(None, timesteps=30)
    assert list(bare.parameters()) == [] and len(bare.state_dict()) == 12
    an.manual_seed(3)
    c = bare.sample(2, 4, channels=1, sampler="ddim", steps=6, progress=False, model=other)
    np.testing.assert_array_equal(c.numpy(), b.numpy())
    with pytest.raises(TypeError, match="model="):
        bare.sample(1, 4, progress=False)
    assert d.sampling_steps("ddpm") == 30 and d.sampling_steps("ddim") == 30
    assert GaussianDiffusion(None, timesteps=200).sampling_steps("ddim") == 50
    assert d.sampling_steps("ddim", 7) == 7


def test_error_messages():
    with pytest.raises(ValueError, match="linear.*cosine"):
        GaussianDiffusion(_zero_model, beta_schedule="cosin")
    with pytest.raises(ValueError, match="l2, l1, huber"):
        GaussianDiffusion(_zero_model, loss_type="l3")
    with pytest.raises(ValueError, match="eps, x0, v"):
        GaussianDiffusion(_zero_model, objective="noise")
    with pytest.raises(TypeError, match="callable"):
        GaussianDiffusion(42)
    d = GaussianDiffusion(_zero_model, timesteps=50)
    with pytest.raises(ValueError, match="ddpm, ddim"):
        d.sample(1, 4, sampler="plms")
    with pytest.raises(ValueError, match="use another sampler"):
        d.sample(1, 4, steps=10)
    with pytest.raises(ValueError, match=r"\[1, 50\]"):
        d.ddim_sample((1, 1, 4, 4), steps=51)
    with pytest.raises(ValueError, match="return_every"):
        d.p_sample_loop((1, 1, 4, 4), return_every=-2)
    with pytest.raises(ValueError, match="out of range"):
        d.q_sample(_x0(), 50)
    bad = GaussianDiffusion(lambda x, t: x[:, :1], timesteps=50)
    with pytest.raises(ValueError, match="shape"):
        bad.p_losses(_x0())
