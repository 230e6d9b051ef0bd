"""DPM-Solver++ multistep (Lu et al. 2022, arXiv:2211.01095) as a diffusers-style scheduler:
data-prediction solver of order 1-3 in the half-log-SNR lambda = log(alpha / sigma), and its SDE
variant (``algorithm_type="sde-dpmsolver++"``)."""
from __future__ import annotations

import math

import numpy as np

from .base import Scheduler, clip, convert_to_karras, randn_like, sigma_to_t, spaced_timesteps

__all__ = ["DPMSolverMultistepScheduler"]

ALGORITHMS = ("dpmsolver++", "sde-dpmsolver++")
SOLVER_TYPES = ("midpoint", "heun")


def _alpha_sigma(sigma):
    """(alpha_t, sigma_t, lambda_t) of the variance-preserving process at Karras sigma
    (lambda = +inf at sigma = 0, the end of sampling)."""
    alpha = 1.0 / math.sqrt(sigma * sigma + 1.0)
    s = sigma * alpha
    lam = math.log(alpha) - math.log(s) if s > 0 else math.inf
    return alpha, s, lam


def _expm1_neg(h):
    """exp(-h) - 1, also at h = inf."""
    return -1.0 if math.isinf(h) else math.expm1(-h)


class DPMSolverMultistepScheduler(Scheduler):
    """Arguments and defaults as diffusers' ``DPMSolverMultistepScheduler`` (the dpmsolver++
    family; ``thresholding`` is replaced by the simpler ``clip_sample`` of the x0 estimate,
    off by default as in diffusers, where no clipping happens)."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02,
                 beta_schedule="linear", trained_betas=None, solver_order=2,
                 prediction_type="epsilon", algorithm_type="dpmsolver++",
                 solver_type="midpoint", lower_order_final=True, euler_at_final=False,
                 use_karras_sigmas=False, final_sigmas_type="zero",
                 timestep_spacing="linspace", steps_offset=0, clip_sample=False,
                 clip_sample_range=1.0):
        if solver_order not in (1, 2, 3):
            raise ValueError(f"solver_order must be 1, 2 or 3, got {solver_order!r}")
        if algorithm_type not in ALGORITHMS:
            raise ValueError(f"unknown algorithm_type {algorithm_type!r}; choose one of: "
                             f"{', '.join(ALGORITHMS)}")
        if solver_type not in SOLVER_TYPES:
            raise ValueError(f"unknown solver_type {solver_type!r}; choose one of: "
                             f"{', '.join(SOLVER_TYPES)}")
        if final_sigmas_type not in ("zero", "sigma_min"):
            raise ValueError(f"final_sigmas_type must be 'zero' or 'sigma_min', got "
                             f"{final_sigmas_type!r}")
        super().__init__(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                         prediction_type, solver_order=solver_order,
                         algorithm_type=algorithm_type, solver_type=solver_type,
                         lower_order_final=lower_order_final, euler_at_final=euler_at_final,
                         use_karras_sigmas=use_karras_sigmas,
                         final_sigmas_type=final_sigmas_type, timestep_spacing=timestep_spacing,
                         steps_offset=steps_offset, clip_sample=clip_sample,
                         clip_sample_range=clip_sample_range)
        self.sigmas = np.sqrt((1 - self.alphas_cumprod) / self.alphas_cumprod)
        self.model_outputs = [None] * solver_order
        self.lower_order_nums = 0

    def set_timesteps(self, num_inference_steps, device=None):
        """``num_inference_steps`` timesteps by ``timestep_spacing`` (or Karras-spaced sigmas
        mapped back to rounded timesteps), and ``sigmas`` with the final sigma appended."""
        n = self._check_steps(num_inference_steps)
        c, T = self.config, self.num_train_timesteps
        # diffusers' DPM-Solver drops t = 0 from n + 1 linspace / leading points
        spacing = c["timestep_spacing"]
        ts = spaced_timesteps(n, T, spacing, c["steps_offset"]) if spacing == "trailing" \
            else spaced_timesteps(n + 1, T, spacing, c["steps_offset"])[:-1]
        ts = ts.round().astype(np.int64)
        sig = np.sqrt((1 - self.alphas_cumprod) / self.alphas_cumprod)
        log_sig = np.log(sig)
        if c["use_karras_sigmas"]:
            sigmas = convert_to_karras(sig[::-1].copy(), n)
            ts = sigma_to_t(sigmas, log_sig).round().astype(np.int64)
        else:
            sigmas = np.interp(ts, np.arange(0, len(sig)), sig)
        last = float(sig[0]) if c["final_sigmas_type"] == "sigma_min" else 0.0
        self.sigmas = np.concatenate([sigmas, [last]])
        self.timesteps = ts
        self.model_outputs = [None] * c["solver_order"]
        self.lower_order_nums = 0

    def convert_model_output(self, model_output, sample):
        """The data prediction x0 at the current step (clipped when ``clip_sample``)."""
        alpha, sigma, _ = _alpha_sigma(float(self.sigmas[self._step_index]))
        x0 = self._x0_from_vp(model_output, sample, alpha, sigma)
        if self.config["clip_sample"]:
            r = self.config["clip_sample_range"]
            x0 = clip(x0, -r, r)
        return x0

    def _update(self, order, sample, noise):
        i, c = self._step_index, self.config
        alpha_t, sigma_t, lam_t = _alpha_sigma(float(self.sigmas[i + 1]))
        _, sigma_s0, lam_s0 = _alpha_sigma(float(self.sigmas[i]))
        h = lam_t - lam_s0
        sde = c["algorithm_type"] == "sde-dpmsolver++"
        if sde:
            # exp(-h) and 1 - exp(-2h) of the SDE solver; at sigma_t = 0 they are 0 and 1
            e = 0.0 if math.isinf(h) else math.exp(-h)
            one_m = 1.0 if math.isinf(h) else -math.expm1(-2.0 * h)
            x = sample * (sigma_t / sigma_s0 * e)
            c0 = alpha_t * one_m
        else:
            x = sample * (sigma_t / sigma_s0)
            c0 = -alpha_t * _expm1_neg(h)
        m = self.model_outputs
        if order == 1:
            x = x + m[-1] * c0
        else:
            lam_s1 = _alpha_sigma(float(self.sigmas[i - 1]))[2]
            r0 = (lam_s0 - lam_s1) / h
            d1_0 = (m[-1] - m[-2]) * (1.0 / r0)
            if order == 2:
                if c["solver_type"] == "midpoint":
                    c1 = 0.5 * c0
                elif sde:
                    c1 = alpha_t * (one_m / (-2.0 * h) + 1.0)
                else:
                    c1 = alpha_t * (_expm1_neg(h) / h + 1.0)
                x = x + m[-1] * c0 + d1_0 * c1
            else:
                lam_s2 = _alpha_sigma(float(self.sigmas[i - 2]))[2]
                r1 = (lam_s1 - lam_s2) / h
                d1_1 = (m[-2] - m[-3]) * (1.0 / r1)
                d1 = d1_0 + (d1_0 - d1_1) * (r0 / (r0 + r1))
                d2 = (d1_0 - d1_1) * (1.0 / (r0 + r1))
                if sde:
                    # c2 = alpha_t / (2 h^2) * int_0^h 2 e^(-2(h-u)) u^2 du, the same
                    # quadrature as the ODE's c2 with the SDE kernel; diffusers writes "- 0.5"
                    # here, which leaves an O(1) weight on D2 as h -> 0 (a sign error)
                    c1 = alpha_t * (one_m / (-2.0 * h) + 1.0)
                    c2 = alpha_t * ((one_m - 2.0 * h) / (2.0 * h) ** 2 + 0.5)
                else:
                    c1 = alpha_t * (_expm1_neg(h) / h + 1.0)
                    c2 = -alpha_t * ((_expm1_neg(h) + h) / (h * h) - 0.5)
                x = x + m[-1] * c0 + d1 * c1 + d2 * c2
        if sde:
            x = x + noise * (sigma_t * math.sqrt(one_m))
        return x

    def step(self, model_output, timestep, sample, generator=None, variance_noise=None,
             return_dict=True):
        """One multistep update from ``timestep`` to the next sigma. Lower orders are used
        for the first steps (no history yet) and, with ``lower_order_final`` and fewer than 15
        steps, for the last ones (or always at the last step when the final sigma is 0)."""
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps(num_inference_steps) before step()")
        self._init_step_index(timestep)
        i, c, n = self._step_index, self.config, len(self.timesteps)
        lower_final = i == n - 1 and (c["euler_at_final"] or (c["lower_order_final"] and n < 15)
                                      or c["final_sigmas_type"] == "zero")
        lower_second = i == n - 2 and c["lower_order_final"] and n < 15
        x0 = self.convert_model_output(model_output, sample)
        self.model_outputs = self.model_outputs[1:] + [x0]
        noise = None
        if c["algorithm_type"] == "sde-dpmsolver++":
            noise = variance_noise if variance_noise is not None \
                else randn_like(sample, generator)
        order = c["solver_order"]
        if order == 1 or self.lower_order_nums < 1 or lower_final:
            prev = self._update(1, sample, noise)
        elif order == 2 or self.lower_order_nums < 2 or lower_second:
            prev = self._update(2, sample, noise)
        else:
            prev = self._update(3, sample, noise)
        if self.lower_order_nums < order:
            self.lower_order_nums += 1
        self._step_index += 1
        if self._step_index == n:  # drop the history: nothing is kept after sampling
            self.model_outputs = [None] * order
        return self._out(prev, x0, return_dict)

    def scale_model_input(self, sample, timestep=None):
        return sample

