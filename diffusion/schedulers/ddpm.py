"""DDPM (Ho et al. 2020) and DDIM (Song et al. 2021) as diffusers-style schedulers."""
from __future__ import annotations

import math

import numpy as np

from .base import Scheduler, clip, randn_like

__all__ = ["DDIMScheduler", "DDPMScheduler"]

VARIANCE_TYPES = ("fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log")


def _spaced_timesteps(n, T, spacing, steps_offset):
    if spacing == "leading":
        return (np.arange(0, n) * (T // n)).round()[::-1].astype(np.int64) + steps_offset
    if spacing == "trailing":
        return np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
    if spacing == "linspace":
        return np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)
    raise ValueError(f"unknown timestep_spacing {spacing!r}; choose one of: leading, trailing, "
                     f"linspace")


class _Discrete(Scheduler):
    def set_timesteps(self, num_inference_steps, device=None):
        """Choose the ``num_inference_steps`` training timesteps to visit (``timesteps``,
        descending, by ``timestep_spacing``). ``device`` is accepted for diffusers
        compatibility: the tables stay on the host."""
        n = self._check_steps(num_inference_steps)
        c = self.config
        self.timesteps = _spaced_timesteps(n, self.num_train_timesteps, c["timestep_spacing"],
                                           c["steps_offset"])
        self.step_ratio = self.num_train_timesteps // n

    def previous_timestep(self, timestep):
        return int(timestep) - self.num_train_timesteps // (self.num_inference_steps or
                                                            self.num_train_timesteps)

    def _predict(self, model_output, sample, t, need_eps=False):
        """(x0, eps) predicted at training timestep t (eps from the unclipped x0, None unless
        ``need_eps`` or free), x0 clipped when configured."""
        a = float(self.alphas_cumprod[t])
        sa, sb = math.sqrt(a), math.sqrt(1 - a)
        kind = self.config["prediction_type"]
        x0 = self._x0_from_vp(model_output, sample, sa, sb)
        if kind == "epsilon":
            eps = model_output
        elif kind == "sample":
            eps = (sample - x0 * sa) * (1.0 / sb) if need_eps else None
        else:
            eps = model_output * sa + sample * sb
        if self.config["clip_sample"]:
            r = self.config["clip_sample_range"]
            x0 = clip(x0, -r, r)
        return x0, eps


class DDPMScheduler(_Discrete):
    """Ancestral sampling of Ho et al. 2020 (Algorithm 2), over all training timesteps or a
    subset. Arguments and defaults as diffusers' ``DDPMScheduler``."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                 beta_schedule="linear", trained_betas=None, variance_type="fixed_small",
                 clip_sample=True, prediction_type="epsilon", clip_sample_range=1.0,
                 timestep_spacing="leading", steps_offset=0):
        if variance_type not in VARIANCE_TYPES:
            raise ValueError(f"unknown variance_type {variance_type!r}; choose one of: "
                             f"{', '.join(VARIANCE_TYPES)}")
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, variance_type=variance_type, clip_sample=clip_sample,
                         clip_sample_range=clip_sample_range, timestep_spacing=timestep_spacing,
                         steps_offset=steps_offset)
        _spaced_timesteps(1, self.num_train_timesteps, timestep_spacing, steps_offset)

    def _variance(self, t, prev_t):
        a = float(self.alphas_cumprod[t])
        ap = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
        beta_t = 1 - a / ap
        if self.config["variance_type"].startswith("fixed_large"):
            return beta_t
        return max((1 - ap) / (1 - a) * beta_t, 1e-20)

    def step(self, model_output, timestep, sample, generator=None, return_dict=True):
        """x_{t-1} ~ q(x_{t-1} | x_t, x0 = the model's estimate): the posterior mean plus,
        for t > 0, noise of the posterior's standard deviation."""
        t = int(timestep)
        prev_t = self.previous_timestep(t)
        a = float(self.alphas_cumprod[t])
        ap = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
        cur_alpha = a / ap
        x0, _ = self._predict(model_output, sample, t)
        c0 = math.sqrt(ap) * (1 - cur_alpha) / (1 - a)
        ct = math.sqrt(cur_alpha) * (1 - ap) / (1 - a)
        prev = x0 * c0 + sample * ct
        if t > 0:
            prev = prev + randn_like(sample, generator) * math.sqrt(self._variance(t, prev_t))
        return self._out(prev, x0, return_dict)


class DDIMScheduler(_Discrete):
    """DDIM (Song et al. 2021): ``eta=0`` is deterministic given x_T, ``eta=1`` is DDPM-like.
    Arguments and defaults as diffusers' ``DDIMScheduler``; ``timestep_spacing="trailing"``
    visits the timesteps ``GaussianDiffusion.ddim_sample`` does (they coincide when the
    number of steps divides T)."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                 beta_schedule="linear", trained_betas=None, clip_sample=True,
                 set_alpha_to_one=True, steps_offset=0, prediction_type="epsilon",
                 clip_sample_range=1.0, timestep_spacing="leading"):
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, clip_sample=clip_sample,
                         set_alpha_to_one=set_alpha_to_one, steps_offset=steps_offset,
                         clip_sample_range=clip_sample_range, timestep_spacing=timestep_spacing)
        _spaced_timesteps(1, self.num_train_timesteps, timestep_spacing, steps_offset)
        self.final_alpha_cumprod = 1.0 if set_alpha_to_one else float(self.alphas_cumprod[0])

    def step(self, model_output, timestep, sample, eta=0.0, use_clipped_model_output=False,
             generator=None, variance_noise=None, return_dict=True):
        """x_{t_prev} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - s^2) eps + s z with
        s = eta * sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).
        ``use_clipped_model_output`` re-derives eps from the clipped x0 (as
        ``GaussianDiffusion.ddim_sample`` does)."""
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step()")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        t = int(timestep)
        prev_t = self.previous_timestep(t)
        a = float(self.alphas_cumprod[t])
        ap = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else self.final_alpha_cumprod
        x0, eps = self._predict(model_output, sample, t, need_eps=not use_clipped_model_output)
        if use_clipped_model_output:
            eps = (sample - x0 * math.sqrt(a)) * (1.0 / math.sqrt(1 - a))
        std = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
        prev = x0 * math.sqrt(ap) + eps * math.sqrt(max(1 - ap - std * std, 0.0))
        if eta > 0:
            noise = variance_noise if variance_noise is not None \
                else randn_like(sample, generator)
            prev = prev + noise * std
        return self._out(prev, x0, return_dict)
