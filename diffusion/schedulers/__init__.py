"""Samplers as diffusers-style scheduler objects, separate from the model.

    scheduler = DPMSolverMultistepScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(20)
    x = sample_loop(model, scheduler, (16, 3, 32, 32))       # or by hand:
    x = an.randn(shape) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        out = model(scheduler.scale_model_input(x, t), t_batch)
        x = scheduler.step(out, t, x).prev_sample

``SCHEDULERS`` maps short names (``ddpm``, ``ddim``, ``dpm++2m``, ``dpm++3m``, ``sde-dpm++2m``,
``euler``, ``euler_a``, ``heun`` and their ``-karras`` variants) to a class and settings;
``get_scheduler(name, **config)`` builds one and ``from_diffusion(diffusion, name)`` builds one
for a ``GaussianDiffusion`` (its betas, objective and x0 clipping).
"""
from __future__ import annotations

import arrayneedle as an
from arrayneedle import nn
from arrayneedle.autograd import Tensor

from .configio import scheduler_from_pretrained
from .base import BETA_SCHEDULES, PREDICTION_TYPES, Scheduler, SchedulerOutput, _draw
from .ddpm import DDIMScheduler, DDPMScheduler
from .dpmsolver import DPMSolverMultistepScheduler
from .euler import (
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)

__all__ = [
    "BETA_SCHEDULES",
    "PREDICTION_TYPES",
    "SCHEDULERS",
    "DDIMScheduler",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
    "HeunDiscreteScheduler",
    "Scheduler",
    "SchedulerOutput",
    "from_diffusion",
    "get_scheduler",
    "model_evaluations",
    "sample_loop",
    "scheduler_from_pretrained",
]

_BASE = {
    "ddpm": (DDPMScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpm++2m": (DPMSolverMultistepScheduler, {"solver_order": 2}),
    "dpm++3m": (DPMSolverMultistepScheduler, {"solver_order": 3}),
    "sde-dpm++2m": (DPMSolverMultistepScheduler, {"solver_order": 2,
                                                   "algorithm_type": "sde-dpmsolver++"}),
    "sde-dpm++3m": (DPMSolverMultistepScheduler, {"solver_order": 3,
                                                   "algorithm_type": "sde-dpmsolver++"}),
    "euler": (EulerDiscreteScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "heun": (HeunDiscreteScheduler, {}),
}
SCHEDULERS = dict(_BASE)
SCHEDULERS.update({f"{k}-karras": (cls, {**kw, "use_karras_sigmas": True})
                   for k, (cls, kw) in _BASE.items() if k not in ("ddpm", "ddim")})


def get_scheduler(name, **config):
    """A new scheduler called ``name`` (a key of ``SCHEDULERS``), ``config`` overriding."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of: {', '.join(SCHEDULERS)}")
    cls, kw = SCHEDULERS[name]
    return cls(**{**kw, **config})


_OBJECTIVE_TO_PREDICTION = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}


def from_diffusion(diffusion, name, **config):
    """The scheduler ``name`` for a ``GaussianDiffusion``: its betas (exactly, in float64), its
    objective as ``prediction_type`` and its x0 clipping where the scheduler has one. DDIM
    visits the timesteps ``GaussianDiffusion.ddim_sample`` does (``timestep_spacing=
    "trailing"``); step it with ``use_clipped_model_output=True`` to reproduce that loop
    (``sample_loop`` does)."""
    host = getattr(diffusion, "_host", None)
    betas = host["betas"] if host is not None else diffusion.betas.numpy()
    kw = {"num_train_timesteps": len(betas), "trained_betas": betas,
          "prediction_type": _OBJECTIVE_TO_PREDICTION[diffusion.objective]}
    cls = SCHEDULERS[name][0] if name in SCHEDULERS else None
    if cls in (DDPMScheduler, DDIMScheduler, HeunDiscreteScheduler,
               DPMSolverMultistepScheduler):
        kw["clip_sample"] = bool(diffusion.clip_denoised)
    if cls is DDIMScheduler:
        kw["timestep_spacing"] = "trailing"
    return get_scheduler(name, **{**kw, **config})


def model_evaluations(scheduler):
    """Model calls of one pass over ``scheduler.timesteps`` (after ``set_timesteps``)."""
    return len(scheduler.timesteps)


def _timestep_batch(t, batch, device):
    t = float(t)
    if t == int(t):
        return an.full((batch,), int(t), device=device, dtype="int64")
    return an.full((batch,), t, device=device, dtype="float32")


def sample_loop(model, scheduler, shape, num_inference_steps=None, generator=None,
                device=None, dtype="float32", x_T=None, progress=False, return_every=None,
                **step_kwargs):
    """Run ``scheduler`` from noise to a sample: ``model(x, t)`` is called with the scaled
    sample and a (B,) Tensor of timesteps (int64, or float32 where the scheduler's timesteps
    are fractional), under ``no_grad`` and with the model (if a Module) in eval mode.

    ``num_inference_steps`` calls ``set_timesteps`` first (else the scheduler's current ones).
    ``x_T`` (a Tensor of ``shape``, unit variance) replaces the initial draw; it is scaled by
    ``init_noise_sigma``. ``generator``: None (the device's stream, seeded by
    ``arrayneedle.manual_seed``) or a NumPy / CuPy Generator. ``step_kwargs`` go to every
    ``step`` (``eta=`` for DDIM, ``s_churn=`` for Euler); DDIM gets
    ``use_clipped_model_output=True`` unless given. Returns the final sample (not clipped),
    or ``(sample, frames)`` with ``return_every=k``: host arrays of the start and of the
    sample after every k-th step and the last (as ``GaussianDiffusion.p_sample_loop``).
    """
    if return_every is not None and (isinstance(return_every, bool) or
                                     not isinstance(return_every, int) or return_every < 1):
        raise ValueError(f"return_every must be a positive integer or None, got "
                         f"{return_every!r}")
    if not callable(model):
        raise TypeError(f"model must be callable as model(x, t), got {type(model).__name__}")
    if not isinstance(scheduler, Scheduler):
        raise TypeError(f"scheduler must be one of diffusion.schedulers' schedulers, got "
                        f"{type(scheduler).__name__}")
    if num_inference_steps is not None:
        scheduler.set_timesteps(num_inference_steps)
    elif scheduler.num_inference_steps is None:
        scheduler.set_timesteps(scheduler.num_train_timesteps)
    else:  # start the current schedule again from its first step
        scheduler.set_timesteps(scheduler.num_inference_steps)
    if isinstance(scheduler, DDIMScheduler):
        step_kwargs.setdefault("use_clipped_model_output", True)
    shape = tuple(int(s) for s in shape)
    if device is None:
        device = model.device if isinstance(model, nn.Module) else an.cpu()
    dev = an.device(device)
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    for m, _ in modes:
        object.__setattr__(m, "training", False)
    try:
        with an.no_grad():
            if x_T is None:
                x = _first_noise(shape, dtype, dev, generator)
            else:
                if tuple(x_T.shape) != shape:
                    raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {shape}")
                x = x_T.detach()
            if scheduler.init_noise_sigma != 1.0:
                x = x * float(scheduler.init_noise_sigma)
            steps = scheduler.timesteps
            total = len(steps)
            frames = [x.numpy().copy()] if return_every else None
            if progress:
                try:
                    from tqdm.auto import tqdm
                    steps = tqdm(steps, desc=type(scheduler).__name__, leave=False)
                except ImportError:  # progress bars are a nicety
                    pass
            for k, t in enumerate(steps, 1):
                out = model(scheduler.scale_model_input(x, t), _timestep_batch(t, shape[0], dev))
                x = scheduler.step(out, t, x, generator=generator, **step_kwargs).prev_sample
                del out
                if return_every and (k % return_every == 0 or k == total):
                    frames.append(x.numpy().copy())
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return (x, frames) if return_every else x


def _first_noise(shape, dtype, dev, generator):
    if generator is None:
        return an.randn(shape, device=dev, dtype=dtype)
    return Tensor(_draw(generator, shape, an.backend.dtype_name(dtype)), device=dev)
