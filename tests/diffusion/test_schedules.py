"""Noise schedules against their closed forms."""
import math

import numpy as np
import pytest

from diffusion import schedules as S


@pytest.mark.parametrize("T", [1000, 200, 50])
def test_linear_closed_form(T):
    b = S.linear_beta_schedule(T)
    scale = 1000 / T
    assert b.dtype == np.float64 and b.shape == (T,)
    assert b[0] == pytest.approx(1e-4 * scale, rel=1e-12)
    assert b[-1] == pytest.approx(0.02 * scale, rel=1e-12)
    np.testing.assert_allclose(np.diff(b), (0.02 - 1e-4) * scale / (T - 1), rtol=1e-9)


@pytest.mark.parametrize("T", [1000, 100, 10])
def test_cosine_alpha_bar_formula(T):
    s = 0.008
    b = S.cosine_beta_schedule(T)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    abar = np.cumprod(1 - b)
    expected = np.array([f(t) / f(0) for t in range(1, T + 1)])
    clipped = b >= 0.999 - 1e-12
    # exact up to the first clipped beta (only the very last ones can hit the cap)
    upto = int(np.argmax(clipped)) if clipped.any() else T
    np.testing.assert_allclose(abar[:upto], expected[:upto], rtol=1e-10, atol=1e-14)
    assert b.max() <= 0.999 and b.dtype == np.float64
    np.testing.assert_array_equal(S.get_beta_schedule("squaredcos_cap_v2", T), b)


def test_quadratic_and_sigmoid_closed_forms():
    T = 100
    q = S.quadratic_beta_schedule(T)
    np.testing.assert_allclose(np.sqrt(q), np.linspace(math.sqrt(1e-3), math.sqrt(0.2), T),
                               rtol=1e-12)
    sg = S.sigmoid_beta_schedule(T)
    z = np.linspace(-6, 6, T)
    np.testing.assert_allclose(sg, 1e-3 + (0.2 - 1e-3) / (1 + np.exp(-z)), rtol=1e-12)
    assert np.all(np.diff(sg) > 0)


@pytest.mark.parametrize("name", ["linear", "cosine", "squaredcos_cap_v2", "quadratic",
                                  "sigmoid"])
@pytest.mark.parametrize("T", [1000, 100])
def test_alphas_cumprod_strictly_decreasing(name, T):
    b = S.get_beta_schedule(name, T)
    assert b.dtype == np.float64
    assert np.all((b > 0) & (b < 1))
    abar = np.cumprod(1 - b)
    assert np.all(np.diff(abar) < 0)
    assert 0 < abar[-1] < 0.05  # ends close to pure noise


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100", None])
def test_invalid_timesteps(bad):
    with pytest.raises((ValueError, TypeError), match="timesteps must be a positive integer"):
        S.linear_beta_schedule(bad)


def test_betas_outside_unit_interval():
    # scale = 1000/10 = 100: the last betas would be 2.0
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)"):
        S.linear_beta_schedule(10)
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)"):
        S.linear_beta_schedule(100, beta_start=0.0, beta_end=0.02)


def test_unknown_schedule_lists_choices():
    with pytest.raises(ValueError) as e:
        S.get_beta_schedule("cosin", 100)
    for name in ("linear", "cosine", "quadratic", "sigmoid", "squaredcos_cap_v2"):
        assert name in str(e.value)


def test_diffusion_coefficients_closed_forms():
    b = np.array([0.1, 0.2, 0.5])
    c = S.diffusion_coefficients(b)
    ac = np.array([0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5])
    acp = np.array([1.0, 0.9, 0.72])
    np.testing.assert_allclose(c["alphas_cumprod"], ac, rtol=1e-15)
    np.testing.assert_allclose(c["alphas_cumprod_prev"], acp, rtol=1e-15)
    var = b * (1 - acp) / (1 - ac)
    assert var[0] == 0.0
    np.testing.assert_allclose(c["posterior_variance"], var, rtol=1e-14)
    np.testing.assert_allclose(c["posterior_log_variance_clipped"],
                               np.log([var[1], var[1], var[2]]), rtol=1e-14)
    # the posterior mean's weights on x0 and x_t (Ho et al. eq. 7) at t = 2
    assert c["posterior_mean_coef1"][2] == pytest.approx(0.5 * math.sqrt(0.72) / (1 - 0.36))
    assert c["posterior_mean_coef2"][2] == pytest.approx((1 - 0.72) * math.sqrt(0.5) / 0.64)
    assert list(c)[:2] == ["betas", "alphas_cumprod"] and len(c) == 12
    assert all(v.dtype == np.float64 and v.shape == (3,) for v in c.values())
