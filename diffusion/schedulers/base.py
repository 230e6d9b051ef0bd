"""What every scheduler shares: the training noise schedule, the output object, noise drawing
and the sigma tables of the Karras-style samplers.

Schedule tables (betas, alphas_cumprod, sigmas, timesteps) are computed once, in float64 on the
host. The per-step math multiplies the sample and the model output (arrayneedle Tensors, or
raw NumPy / CuPy arrays) by Python floats, so it runs on the data's device and keeps its dtype.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from array_api_compat import array_namespace

import arrayneedle as an
from arrayneedle import ops
from arrayneedle.autograd import Tensor

from ..pretrained import Config
from ..schedules import (
    cosine_beta_schedule,
    linear_beta_schedule,
    quadratic_beta_schedule,
    sigmoid_beta_schedule,
)
from .configio import ConfigIO

__all__ = ["BETA_SCHEDULES", "PREDICTION_TYPES", "TIMESTEP_SPACINGS", "Scheduler",
           "SchedulerOutput", "spaced_timesteps"]

# diffusers' names first; this package's objective names are accepted as aliases
PREDICTION_TYPES = {"epsilon": ("epsilon", "eps", "pred_noise"),
                    "sample": ("sample", "x0", "pred_x0", "original_sample"),
                    "v_prediction": ("v_prediction", "v", "pred_v")}
# diffusers' beta_schedule names -> this package's schedules. "linear" and "scaled_linear"
# take diffusers' beta_start / beta_end as given (no 1000/T scaling).
# the schedule tables are float64 arrays of this length: a config cannot ask for terabytes
MAX_TRAIN_TIMESTEPS = 1_000_000
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "cosine", "sigmoid")
TIMESTEP_SPACINGS = ("linspace", "leading", "trailing")


def spaced_timesteps(n, T, spacing, steps_offset=0):
    """``n`` of the ``T`` training timesteps, descending, as float64 (the one spacing rule of
    every scheduler; diffusers' ``timestep_spacing``, Table 2 of Lin et al. 2023):

    - ``linspace``: evenly from T - 1 to 0 (not rounded: callers that need integers round);
    - ``leading``: multiples of T // n from 0, plus ``steps_offset``;
    - ``trailing``: evenly from T - 1 down, T / n apart, rounded (the DDIM steps of
      ``GaussianDiffusion``; at exact .5 ties they round half to even one step below
      diffusers' ``round(T - k T / n) - 1``).
    """
    if spacing == "linspace":
        return np.linspace(0, T - 1, n, dtype=np.float64)[::-1].copy()
    if spacing == "leading":
        return (np.arange(0, n) * (T // n)).round()[::-1].astype(np.float64) + steps_offset
    if spacing == "trailing":
        return np.linspace(-1, T - 1, n + 1).round()[::-1][:-1].copy()
    raise ValueError(f"unknown timestep_spacing {spacing!r}; choose one of: "
                     f"{', '.join(TIMESTEP_SPACINGS)}")


@dataclass
class SchedulerOutput:
    """``prev_sample``: the sample one step further towards the data; ``pred_original_sample``:
    the model's estimate of the clean sample at this step (None where a solver has none)."""
    prev_sample: object
    pred_original_sample: object = None

    def __iter__(self):  # prev_sample, pred = scheduler.step(...) also works
        return iter((self.prev_sample, self.pred_original_sample))


def _canonical_prediction(value):
    for name, spellings in PREDICTION_TYPES.items():
        if value in spellings:
            return name
    raise ValueError(f"unknown prediction_type {value!r}; choose one of: "
                     f"{', '.join(PREDICTION_TYPES)}")


def make_betas(num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas):
    """float64 betas as diffusers builds them for ``beta_schedule``."""
    if trained_betas is not None:
        b = trained_betas.numpy() if isinstance(trained_betas, Tensor) else trained_betas
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        if not ((b > 0) & (b < 1)).all():
            raise ValueError("trained_betas must all lie in (0, 1)")
        return b
    T = num_train_timesteps
    if beta_schedule == "linear":
        return linear_beta_schedule(T, beta_start, beta_end)
    if beta_schedule == "scaled_linear":  # linear in sqrt(beta): this package's "quadratic"
        return quadratic_beta_schedule(T, beta_start, beta_end)
    if beta_schedule in ("squaredcos_cap_v2", "cosine"):
        return cosine_beta_schedule(T)
    if beta_schedule == "sigmoid":
        return sigmoid_beta_schedule(T, beta_start, beta_end)
    raise ValueError(f"unknown beta_schedule {beta_schedule!r}; choose one of: "
                     f"{', '.join(BETA_SCHEDULES)}")


def clip(x, lo, hi):
    """Clamp a Tensor or a raw array."""
    if isinstance(x, Tensor):
        return ops.clip(x, lo, hi)
    return array_namespace(x).clip(x, lo, hi)


def randn_like(x, generator=None):
    """Standard normal noise shaped like ``x`` on its device, in its dtype. ``generator``: None
    (the device's stream, seeded by ``arrayneedle.manual_seed``) or a NumPy / CuPy
    ``Generator`` on the sample's device."""
    if isinstance(x, Tensor):
        if generator is None:
            return an.randn(x.shape, device=x.device, dtype=x.dtype)
        return Tensor(_draw(generator, x.shape, an.backend.dtype_name(x.dtype)), device=x.device)
    if generator is None:
        raise ValueError("noise for a raw array needs a generator (a NumPy / CuPy Generator)")
    xp = array_namespace(x)
    return xp.asarray(_draw(generator, x.shape, str(x.dtype)))


def _draw(generator, shape, dtype):
    if not hasattr(generator, "standard_normal"):
        raise TypeError(f"generator must be a NumPy or CuPy random Generator, got "
                        f"{type(generator).__name__}")
    if dtype in ("float32", "float64"):
        return generator.standard_normal(shape, dtype=dtype)
    return generator.standard_normal(shape).astype(dtype)


def convert_to_karras(in_sigmas, num_inference_steps, rho=7.0):
    """Karras et al. 2022 (eq. 5): ``num_inference_steps`` sigmas from max to min of
    ``in_sigmas``, evenly spaced in sigma^(1/rho)."""
    sigma_min, sigma_max = float(in_sigmas[-1]), float(in_sigmas[0])
    ramp = np.linspace(0, 1, num_inference_steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def sigma_to_t(sigma, log_sigmas):
    """The (fractional) training timestep of each sigma: linear interpolation in log sigma
    between the two neighbouring entries of the training table (vectorised over sigmas)."""
    sigma = np.asarray(sigma, dtype=np.float64)
    log_sigma = np.log(np.maximum(sigma, 1e-10))
    dists = log_sigma[None] - log_sigmas[:, None]
    low = np.cumsum(dists >= 0, axis=0).argmax(axis=0).clip(max=len(log_sigmas) - 2)
    high = low + 1
    w = np.clip((log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[high]), 0, 1)
    return ((1 - w) * low + w * high).reshape(sigma.shape)


class Scheduler(ConfigIO):
    """The base of the schedulers: owns the training schedule (``betas``, ``alphas``,
    ``alphas_cumprod``, host float64 arrays) and the inference state (``timesteps``,
    ``num_inference_steps``, ``step_index``). ``config`` holds the constructor's arguments,
    as in diffusers, so ``type(s)(**s.config)`` rebuilds a scheduler; ``from_config``,
    ``from_pretrained`` and ``save_pretrained`` read and write diffusers'
    ``scheduler_config.json`` (``configio``)."""

    order = 1

    def __init__(self, num_train_timesteps, beta_start, beta_end, beta_schedule, trained_betas,
                 prediction_type, **config):
        if isinstance(num_train_timesteps, bool) or \
                not isinstance(num_train_timesteps, (int, np.integer)) \
                or not 2 <= num_train_timesteps <= MAX_TRAIN_TIMESTEPS:
            raise ValueError(f"num_train_timesteps must be an integer in [2, "
                             f"{MAX_TRAIN_TIMESTEPS}], got {num_train_timesteps!r}")
        self.betas = make_betas(num_train_timesteps, beta_start, beta_end, beta_schedule,
                                trained_betas)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        prediction_type = _canonical_prediction(prediction_type)
        self.config = Config(num_train_timesteps=len(self.betas), beta_start=beta_start,
                           beta_end=beta_end, beta_schedule=beta_schedule,
                           trained_betas=None if trained_betas is None else self.betas.copy(),
                           prediction_type=prediction_type, **config)
        self.num_inference_steps = None
        self.timesteps = np.arange(len(self.betas))[::-1].copy()
        self._step_index = None
        self.init_noise_sigma = 1.0

    @property
    def num_train_timesteps(self):
        return len(self.betas)

    @property
    def step_index(self):
        """Index into ``timesteps`` of the next ``step``; None before the first."""
        return self._step_index

    def _check_steps(self, n):
        T = self.num_train_timesteps
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= T:
            raise ValueError(f"num_inference_steps must be an integer in [1, {T}] (the training "
                             f"timesteps), got {n!r}")
        self.num_inference_steps = int(n)
        self._step_index = None
        self._begin_index = 0
        return int(n)

    def index_for_timestep(self, timestep):
        """The position of ``timestep`` in ``timesteps``; where it occurs twice (Heun's
        repeated steps), the second, as diffusers does on the first step."""
        t = float(timestep.item() if hasattr(timestep, "item") else timestep)
        where = np.nonzero(np.isclose(np.asarray(self.timesteps, dtype=np.float64), t))[0]
        if len(where) == 0:
            raise ValueError(f"timestep {t} is not one of this scheduler's timesteps; call "
                             f"set_timesteps and step through scheduler.timesteps")
        return int(where[1] if len(where) > 1 else where[0])

    def set_begin_index(self, begin_index=0):
        """Start the next pass at position ``begin_index`` of ``timesteps`` (to begin in the
        middle, e.g. image-to-image); ``None`` finds the position from the first timestep
        given to ``step`` (diffusers' rule). ``set_timesteps`` resets it to 0: the steps are
        counted, so repeated timesteps (Karras sigmas rounded to the same integer) are
        each visited."""
        self._begin_index = begin_index
        self._step_index = None

    def _init_step_index(self, timestep):
        if self._step_index is None:
            b = getattr(self, "_begin_index", 0)
            self._step_index = self.index_for_timestep(timestep) if b is None else int(b)

    def scale_model_input(self, sample, timestep=None):
        """The sample as the model should see it at ``timestep`` (unchanged for the
        variance-preserving schedulers)."""
        return sample

    def add_noise(self, original_samples, noise, timesteps):
        """q(x_t | x_0) at integer training ``timesteps`` (an int or a host sequence of B)."""
        t = np.asarray(timesteps, dtype=np.int64).reshape(-1)
        ac = self.alphas_cumprod[t]
        shape = (len(t),) + (1,) * (len(original_samples.shape) - 1) if len(t) > 1 else ()
        a = _batch_coef(np.sqrt(ac), shape, original_samples)
        s = _batch_coef(np.sqrt(1 - ac), shape, original_samples)
        return original_samples * a + noise * s

    def _x0_from_vp(self, model_output, sample, alpha, sigma):
        """x0 from a variance-preserving sample x = alpha x0 + sigma eps and the model's
        prediction of the configured type."""
        kind = self.config["prediction_type"]
        if kind == "epsilon":
            return (sample - model_output * sigma) * (1.0 / alpha)
        if kind == "sample":
            return model_output
        return sample * alpha - model_output * sigma

    def _out(self, prev_sample, pred, return_dict):
        return SchedulerOutput(prev_sample, pred) if return_dict else (prev_sample, pred)

    def __len__(self):
        return self.num_train_timesteps

    def __repr__(self):
        keys = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "trained_betas")
        return f"{type(self).__name__}({keys})"


def _batch_coef(values, shape, like):
    if not shape:
        return float(values[0])
    if isinstance(like, Tensor):
        return Tensor(values.reshape(shape), device=like.device, dtype=like.dtype)
    xp = array_namespace(like)
    return xp.asarray(values.reshape(shape), dtype=like.dtype)


class KarrasSigmas:
    """The sigma tables of the samplers that work in x = x0 + sigma eps (Euler, Heun, ...):
    sigma_t = sqrt((1 - abar_t) / abar_t) on the training grid, interpolated at the inference
    timesteps, or Karras-spaced with ``use_karras_sigmas``."""

    def _sigma_tables(self, n, spacing, steps_offset, use_karras):
        timesteps = spaced_timesteps(n, self.num_train_timesteps, spacing, steps_offset)
        sigmas = np.sqrt((1 - self.alphas_cumprod) / self.alphas_cumprod)
        log_sigmas = np.log(sigmas)
        sigmas = np.interp(timesteps, np.arange(0, len(sigmas)), sigmas)
        if use_karras:
            sigmas = convert_to_karras(sigmas, n)
            timesteps = sigma_to_t(sigmas, log_sigmas)
        return timesteps, np.concatenate([sigmas, [0.0]])

    def _noise_sigma(self, sigmas, spacing):
        smax = float(np.max(sigmas))
        return smax if spacing in ("linspace", "trailing") else math.sqrt(smax * smax + 1)

    def scale_model_input(self, sample, timestep=None):
        """x / sqrt(sigma^2 + 1): the variance-preserving sample the model was trained on."""
        if timestep is not None:
            self._init_step_index(timestep)
        elif self._step_index is None:
            self._step_index = 0
        sigma = float(self.sigmas[self._step_index])
        return sample * (1.0 / math.sqrt(sigma * sigma + 1.0))

    def _x0_from_sigma(self, model_output, sample, sigma):
        """x0 from x = x0 + sigma eps (the model saw x / sqrt(sigma^2 + 1))."""
        kind = self.config["prediction_type"]
        if kind == "epsilon":
            return sample - model_output * sigma
        if kind == "sample":
            return model_output
        return model_output * (-sigma / math.sqrt(sigma * sigma + 1)) \
            + sample * (1.0 / (sigma * sigma + 1))
