"""Euler, Euler ancestral and Heun samplers (Karras et al. 2022, Algorithms 1-2) in the sigma
parameterisation x = x0 + sigma eps, as diffusers' ``EulerDiscreteScheduler``,
``EulerAncestralDiscreteScheduler`` and ``HeunDiscreteScheduler``. The model sees
x / sqrt(sigma^2 + 1) (``scale_model_input``); the timesteps are fractional training timesteps
(floats) where sigmas are interpolated or Karras-spaced."""
from __future__ import annotations

import math

import numpy as np

from .base import KarrasSigmas, Scheduler, clip, randn_like

__all__ = ["EulerAncestralDiscreteScheduler", "EulerDiscreteScheduler", "HeunDiscreteScheduler"]


class _SigmaScheduler(KarrasSigmas, Scheduler):
    def __init__(self, num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                 prediction_type, use_karras_sigmas, timestep_spacing, steps_offset, **config):
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, use_karras_sigmas=use_karras_sigmas,
                         timestep_spacing=timestep_spacing, steps_offset=steps_offset, **config)
        self.set_timesteps(self.num_train_timesteps)
        self.num_inference_steps = None

    def set_timesteps(self, num_inference_steps, device=None):
        """``timesteps`` (float64, descending) and ``sigmas`` (one longer, ending in 0)."""
        n = self._check_steps(num_inference_steps)
        c = self.config
        self.timesteps, self.sigmas = self._sigma_tables(
            n, c["timestep_spacing"], c["steps_offset"], c["use_karras_sigmas"])
        self.init_noise_sigma = self._noise_sigma(self.sigmas, c["timestep_spacing"])


class EulerDiscreteScheduler(_SigmaScheduler):
    """The Euler method on the probability-flow ODE dx/dsigma = (x - x0) / sigma, with the
    optional "churn" of Karras et al. (``s_churn`` > 0 adds noise to raise sigma first)."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                 beta_schedule="linear", trained_betas=None, prediction_type="epsilon",
                 use_karras_sigmas=False, timestep_spacing="linspace", steps_offset=0):
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, use_karras_sigmas, timestep_spacing, steps_offset)

    def step(self, model_output, timestep, sample, s_churn=0.0, s_tmin=0.0, s_tmax=math.inf,
             s_noise=1.0, generator=None, return_dict=True):
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step()")
        self._init_step_index(timestep)
        i = self._step_index
        sigma = float(self.sigmas[i])
        gamma = min(s_churn / (len(self.sigmas) - 1), 2 ** 0.5 - 1) \
            if s_tmin <= sigma <= s_tmax else 0.0
        sigma_hat = sigma * (gamma + 1)
        if gamma > 0:
            eps = randn_like(sample, generator)
            sample = sample + eps * (s_noise * math.sqrt(sigma_hat ** 2 - sigma ** 2))
        # diffusers uses sigma_hat for eps and sigma for v (the model saw sigma's scaling)
        x0 = self._x0_from_sigma(model_output, sample, sigma_hat) \
            if self.config["prediction_type"] == "epsilon" \
            else self._x0_from_sigma(model_output, sample, sigma)
        dt = float(self.sigmas[i + 1]) - sigma_hat
        prev = sample + (sample - x0) * (dt / sigma_hat)
        self._step_index += 1
        return self._out(prev, x0, return_dict)


class EulerAncestralDiscreteScheduler(_SigmaScheduler):
    """Euler down to sigma_down, then fresh noise of sigma_up (sigma_down^2 + sigma_up^2 =
    sigma_next^2): a stochastic sampler. ``use_karras_sigmas`` is this package's addition."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                 beta_schedule="linear", trained_betas=None, prediction_type="epsilon",
                 use_karras_sigmas=False, timestep_spacing="linspace", steps_offset=0):
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, use_karras_sigmas, timestep_spacing, steps_offset)

    def step(self, model_output, timestep, sample, generator=None, return_dict=True):
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step()")
        self._init_step_index(timestep)
        i = self._step_index
        sigma, sigma_to = float(self.sigmas[i]), float(self.sigmas[i + 1])
        x0 = self._x0_from_sigma(model_output, sample, sigma)
        sigma_up = math.sqrt(sigma_to ** 2 * (sigma ** 2 - sigma_to ** 2) / sigma ** 2)
        sigma_down = math.sqrt(sigma_to ** 2 - sigma_up ** 2)
        prev = sample + (sample - x0) * ((sigma_down - sigma) / sigma)
        if sigma_up > 0:
            prev = prev + randn_like(sample, generator) * sigma_up
        self._step_index += 1
        return self._out(prev, x0, return_dict)


class HeunDiscreteScheduler(_SigmaScheduler):
    """Heun's second-order method (Karras et al. Algorithm 1 without churn): each step an Euler
    predictor and a trapezoidal corrector, so ``num_inference_steps=n`` makes 2n - 1 model
    calls (the last step is Euler, to sigma = 0). ``timesteps`` lists every call's timestep.
    Defaults as diffusers' (note its ``beta_start=0.00085, beta_end=0.012``)."""

    order = 2

    def __init__(self, num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                 beta_schedule="linear", trained_betas=None, prediction_type="epsilon",
                 use_karras_sigmas=False, clip_sample=False, clip_sample_range=1.0,
                 timestep_spacing="linspace", steps_offset=0):
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, use_karras_sigmas, timestep_spacing, steps_offset,
                         clip_sample=clip_sample, clip_sample_range=clip_sample_range)

    def set_timesteps(self, num_inference_steps, device=None):
        super().set_timesteps(num_inference_steps, device)
        s, t = self.sigmas, self.timesteps
        self.sigmas = np.concatenate([s[:1], np.repeat(s[1:-1], 2), s[-1:]])
        self.timesteps = np.concatenate([t[:1], np.repeat(t[1:], 2)])
        self.prev_derivative = self.dt = self._first_sample = None

    @property
    def state_in_first_order(self):
        return self.dt is None

    def step(self, model_output, timestep, sample, generator=None, return_dict=True):
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step()")
        self._init_step_index(timestep)
        i = self._step_index
        first = self.state_in_first_order
        if first:
            sigma, sigma_next = float(self.sigmas[i]), float(self.sigmas[i + 1])
            sigma_in = sigma
        else:
            sigma, sigma_next = float(self.sigmas[i - 1]), float(self.sigmas[i])
            sigma_in = sigma_next
        x0 = self._x0_from_sigma(model_output, sample, sigma_in)
        if self.config["clip_sample"]:
            r = self.config["clip_sample_range"]
            x0 = clip(x0, -r, r)
        if first:
            derivative = (sample - x0) * (1.0 / sigma)
            self.prev_derivative, self.dt, self._first_sample = derivative, sigma_next - sigma, \
                sample
            prev = sample + derivative * self.dt
        else:
            derivative = ((sample - x0) * (1.0 / sigma_next) + self.prev_derivative) * 0.5
            prev = self._first_sample + derivative * self.dt
            self.prev_derivative = self.dt = self._first_sample = None
        self._step_index += 1
        if self._step_index == len(self.timesteps):  # keep nothing after the last step
            self.prev_derivative = self.dt = self._first_sample = None
        return self._out(prev, x0, return_dict)
