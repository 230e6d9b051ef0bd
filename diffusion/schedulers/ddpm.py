"""DDPM (Ho et al. 2020) and DDIM (Song et al. 2021) as diffusers-style schedulers.

Where a step goes, as in diffusers: ``DDPMScheduler`` steps to the next timestep in
``timesteps``; ``DDIMScheduler`` from ``t`` to ``t - T // n`` (T training timesteps, n inference
steps), so that a scheduler built from a diffusers config (or by hand) follows diffusers'
trajectory. ``DDIMScheduler(step_to_visited=True)`` (what ``from_diffusion`` gives
``GaussianDiffusion``'s own DDIM sampling) steps instead to the next visited timestep, as Song
et al.'s code does. The two rules agree wherever the spacing is even (``leading``, or n dividing
T); they differ for ``trailing`` / ``linspace`` spacing with n not dividing T, where the DDIM
rule lands between the visited timesteps.
"""
from __future__ import annotations

import math

import numpy as np

from .base import Scheduler, clip, randn_like, spaced_timesteps

__all__ = ["DDIMScheduler", "DDPMScheduler"]

VARIANCE_TYPES = ("fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log")


class _Discrete(Scheduler):
    def set_timesteps(self, num_inference_steps, device=None):
        """Choose the ``num_inference_steps`` training timesteps to visit (``timesteps``,
        descending, by ``timestep_spacing``). ``device`` is accepted for diffusers
        compatibility: the tables stay on the host."""
        n = self._check_steps(num_inference_steps)
        c = self.config
        self.timesteps = spaced_timesteps(n, self.num_train_timesteps, c["timestep_spacing"],
                                          c["steps_offset"]).round().astype(np.int64)
        self.step_ratio = self.num_train_timesteps // n

    def previous_timestep(self, timestep):
        """The timestep after ``timestep`` in ``timesteps`` (-1 after the last): the step goes
        there (diffusers' DDPM rule). A timestep not in ``timesteps`` steps back ``T // n``."""
        t = int(timestep)
        where = np.nonzero(self.timesteps == t)[0]
        if len(where) == 0:
            return self._stride_back(t)
        i = int(where[0]) + 1
        return int(self.timesteps[i]) if i < len(self.timesteps) else -1

    def _stride_back(self, t):
        return t - self.num_train_timesteps // (self.num_inference_steps or
                                                self.num_train_timesteps)

    def _predict(self, model_output, sample, t, need_eps=False, clipped_eps=False):
        """(x0, eps) predicted at training timestep t, in the float operations of Ho et al.'s
        reference code (x0 = x / sqrt(abar) - eps sqrt(1 / abar - 1)). x0 is clipped when
        configured; eps (None unless ``need_eps`` or the model's own output) comes from the
        clipped x0 when ``clipped_eps``, else from the model's output."""
        a = float(self.alphas_cumprod[t])
        sra, srm1 = math.sqrt(1.0 / a), math.sqrt(1.0 / a - 1.0)
        kind = self.config["prediction_type"]
        clip_x0 = self.config["clip_sample"]
        eps = model_output if kind == "epsilon" else None
        if kind == "epsilon":
            x0 = sample * sra - model_output * srm1
        elif kind == "sample":
            x0 = model_output
        else:
            x0 = sample * math.sqrt(a) - model_output * math.sqrt(1.0 - a)
        if need_eps and eps is None and not (clipped_eps and clip_x0):
            eps = (sample * sra - x0) / srm1
        if clip_x0:
            r = self.config["clip_sample_range"]
            x0 = clip(x0, -r, r)
            if clipped_eps:
                eps = (sample * sra - x0) / srm1
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
        spaced_timesteps(1, self.num_train_timesteps, timestep_spacing, steps_offset)

    def _posterior(self, t, prev_t):
        """beta_t, alpha_t (of the step t -> prev_t) and abar_prev; the table's own beta and
        alpha where the step is one training timestep."""
        a = float(self.alphas_cumprod[t])
        ap = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
        if prev_t == t - 1:
            return float(self.betas[t]), float(self.alphas[t]), ap
        return 1.0 - a / ap, a / ap, ap

    def step(self, model_output, timestep, sample, generator=None, return_dict=True):
        """x_{t-1} ~ q(x_{t-1} | x_t, x0 = the model's estimate) (Ho et al. eqs. 6-7): the
        posterior mean plus, for t > 0, noise of the posterior's standard deviation."""
        t = int(timestep)
        prev_t = self.previous_timestep(t)
        a = float(self.alphas_cumprod[t])
        beta_t, alpha_t, ap = self._posterior(t, prev_t)
        x0, _ = self._predict(model_output, sample, t)
        c1 = beta_t * math.sqrt(ap) / (1.0 - a)
        c2 = (1.0 - ap) * math.sqrt(alpha_t) / (1.0 - a)
        prev = x0 * c1 + sample * c2
        if t > 0:
            if self.config["variance_type"].startswith("fixed_large"):
                var = beta_t
            else:
                var = max(beta_t * (1.0 - ap) / (1.0 - a), 1e-20)
            prev = prev + randn_like(sample, generator) * math.exp(0.5 * math.log(var))
        return self._out(prev, x0, return_dict)


class DDIMScheduler(_Discrete):
    """DDIM (Song et al. 2021): ``eta=0`` is deterministic given x_T, ``eta=1`` is DDPM-like.
    Arguments and defaults as diffusers' ``DDIMScheduler``, plus ``step_to_visited`` (not
    diffusers'; see the module docstring): False (the default) steps to ``t - T // n`` as
    diffusers does; ``GaussianDiffusion`` runs it with ``timestep_spacing="trailing"`` and
    ``step_to_visited=True`` (each step to the next visited timestep, as Song et al.)."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                 beta_schedule="linear", trained_betas=None, clip_sample=True,
                 set_alpha_to_one=True, steps_offset=0, prediction_type="epsilon",
                 clip_sample_range=1.0, timestep_spacing="leading", step_to_visited=False):
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, clip_sample=clip_sample,
                         set_alpha_to_one=set_alpha_to_one, steps_offset=steps_offset,
                         clip_sample_range=clip_sample_range, timestep_spacing=timestep_spacing,
                         step_to_visited=bool(step_to_visited))
        spaced_timesteps(1, self.num_train_timesteps, timestep_spacing, steps_offset)
        self.final_alpha_cumprod = 1.0 if set_alpha_to_one else float(self.alphas_cumprod[0])

    def previous_timestep(self, timestep):
        """Where the step from ``timestep`` goes (below 0: to the final alpha): ``t - T // n``
        (diffusers' DDIM rule); with ``step_to_visited`` the next timestep in ``timesteps``."""
        if self.config["step_to_visited"]:
            return super().previous_timestep(timestep)
        return self._stride_back(int(timestep))

    def step(self, model_output, timestep, sample, eta=0.0, use_clipped_model_output=False,
             generator=None, variance_noise=None, return_dict=True):
        """x_{t_prev} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - s^2) eps + s z with
        s = eta * sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).
        ``use_clipped_model_output`` re-derives eps from the clipped x0 (as Song et al.'s code
        and ``sample_loop`` do)."""
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step()")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        t = int(timestep)
        prev_t = self.previous_timestep(t)
        a = float(self.alphas_cumprod[t])
        ap = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else self.final_alpha_cumprod
        x0, eps = self._predict(model_output, sample, t, need_eps=True,
                                clipped_eps=use_clipped_model_output)
        std = eta * math.sqrt((1 - a / ap) * (1 - ap) / (1 - a))
        if ap == 1.0 and std == 0.0:  # to abar = 1: the estimate itself
            return self._out(x0, x0, return_dict)
        prev = x0 * math.sqrt(ap) + eps * math.sqrt(max(1 - ap - std * std, 0.0))
        if std > 0:
            noise = variance_noise if variance_noise is not None \
                else randn_like(sample, generator)
            prev = prev + noise * std
        return self._out(prev, x0, return_dict)
