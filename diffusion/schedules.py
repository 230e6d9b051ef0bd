"""Noise schedules: beta_t for t = 0 .. T-1, computed in float64 on the host (NumPy arrays).

``linear`` follows the original project (and Ho et al. 2020) scaled to the number of steps:
with ``scale = 1000 / T`` the betas run from ``1e-4 * scale`` to ``0.02 * scale``, so a short
schedule still reaches pure noise. ``cosine`` is Nichol & Dhariwal 2021 (diffusers' name:
``squaredcos_cap_v2``). ``quadratic`` and ``sigmoid`` use the same scaled end points as linear.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["linear_beta_schedule", "cosine_beta_schedule", "quadratic_beta_schedule",
           "sigmoid_beta_schedule", "get_beta_schedule", "diffusion_coefficients", "SCHEDULES"]


def _check_timesteps(timesteps) -> int:
    if isinstance(timesteps, bool) or not isinstance(timesteps, numbers.Integral):
        raise TypeError(f"timesteps must be a positive integer, got {timesteps!r}")
    if timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps}")
    return int(timesteps)


def _check_betas(betas, name):
    betas = np.asarray(betas, dtype=np.float64)
    bad = ~np.isfinite(betas) | (betas <= 0) | (betas >= 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: every beta must lie in (0, 1), but beta[{i}] = {betas[i]!r}"
                         f" ({int(bad.sum())} of {betas.size} out of range); use more timesteps"
                         f" or other end points")
    return betas


def _scaled_ends(timesteps, beta_start, beta_end):
    scale = 1000.0 / timesteps
    return (1e-4 * scale if beta_start is None else float(beta_start),
            0.02 * scale if beta_end is None else float(beta_end))


def linear_beta_schedule(timesteps, beta_start=None, beta_end=None):
    """Betas evenly spaced from ``1e-4 * 1000/T`` to ``0.02 * 1000/T`` (float64)."""
    T = _check_timesteps(timesteps)
    lo, hi = _scaled_ends(T, beta_start, beta_end)
    return _check_betas(np.linspace(lo, hi, T, dtype=np.float64), "linear_beta_schedule")


def cosine_beta_schedule(timesteps, s=0.008, max_beta=0.999):
    """alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) / alpha_bar(0); betas clipped to
    ``max_beta`` (0.999)."""
    T = _check_timesteps(timesteps)
    x = np.linspace(0, T, T + 1, dtype=np.float64)
    abar = np.cos(((x / T) + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = abar / abar[0]
    betas = 1.0 - abar[1:] / abar[:-1]
    return _check_betas(np.clip(betas, 0.0, max_beta), "cosine_beta_schedule")


def quadratic_beta_schedule(timesteps, beta_start=None, beta_end=None):
    """Betas evenly spaced in sqrt(beta) between the linear schedule's end points, squared."""
    T = _check_timesteps(timesteps)
    lo, hi = _scaled_ends(T, beta_start, beta_end)
    betas = np.linspace(math.sqrt(lo), math.sqrt(hi), T, dtype=np.float64) ** 2
    return _check_betas(betas, "quadratic_beta_schedule")


def sigmoid_beta_schedule(timesteps, beta_start=None, beta_end=None):
    """``beta_start + (beta_end - beta_start) * sigmoid(linspace(-6, 6, T))``."""
    T = _check_timesteps(timesteps)
    lo, hi = _scaled_ends(T, beta_start, beta_end)
    z = np.linspace(-6.0, 6.0, T, dtype=np.float64)
    betas = lo + (hi - lo) / (1.0 + np.exp(-z))
    return _check_betas(betas, "sigmoid_beta_schedule")


SCHEDULES = {
    "linear": linear_beta_schedule,
    "cosine": cosine_beta_schedule,
    "squaredcos_cap_v2": cosine_beta_schedule,
    "quadratic": quadratic_beta_schedule,
    "sigmoid": sigmoid_beta_schedule,
}


def get_beta_schedule(name, timesteps, **kwargs):
    """The betas of the schedule called ``name`` (one of ``SCHEDULES``) for ``timesteps``."""
    fn = SCHEDULES.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"unknown beta schedule {name!r}; choose one of: "
                         f"{', '.join(SCHEDULES)}")
    return fn(timesteps, **kwargs)


def diffusion_coefficients(betas):
    """The float64 quantities of the forward process and of its posterior q(x_{t-1} | x_t, x_0)
    (Ho et al. 2020, eqs. 4, 6, 7) for the given betas, by name, in the order in which
    ``GaussianDiffusion`` registers them as buffers."""
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.concatenate([[1.0], ac[:-1]])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    # log of the posterior variance, clipped: it is 0 at t = 0
    post_logvar = np.log(np.concatenate([post_var[1:2], post_var[1:]])) if len(betas) > 1 \
        else np.log(betas)
    return {
        "betas": betas,
        "alphas_cumprod": ac,
        "alphas_cumprod_prev": ac_prev,
        "sqrt_alphas_cumprod": np.sqrt(ac),
        "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - ac),
        "sqrt_recip_alphas": np.sqrt(1.0 / alphas),
        "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / ac),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / ac - 1.0),
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": post_logvar,
        "posterior_mean_coef1": betas * np.sqrt(ac_prev) / (1.0 - ac),
        "posterior_mean_coef2": (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
    }
