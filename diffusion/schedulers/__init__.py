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

from .base import (
    BETA_SCHEDULES,
    PREDICTION_TYPES,
    TIMESTEP_SPACINGS,
    Scheduler,
    SchedulerOutput,
    spaced_timesteps,
)
from .configio import scheduler_from_pretrained
from .ddpm import DDIMScheduler, DDPMScheduler
from .dpmsolver import DPMSolverMultistepScheduler
from .euler import (
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)
from .loop import check_every, sample_loop, sampling_mode

__all__ = [
    "BETA_SCHEDULES",
    "PREDICTION_TYPES",
    "SCHEDULERS",
    "TIMESTEP_SPACINGS",
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
    "sampling_mode",
    "spaced_timesteps",
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
    objective as ``prediction_type`` and its x0 clipping where the scheduler has one
    (``config`` overrides, e.g. ``clip_sample=False``). DDIM uses ``timestep_spacing=
    "trailing"`` (T - 1 down to about T / n, as Song et al.'s code); ``sample_loop`` steps it
    with ``use_clipped_model_output=True`` (eps re-derived from the clipped x0) and
    ``step_to_visited=True``: each step lands on the next visited timestep, as the reference
    code's loop (diffusers' ``t - T // n`` differs where the spacing is uneven)."""
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
        kw["step_to_visited"] = True
    return get_scheduler(name, **{**kw, **config})


def model_evaluations(scheduler):
    """Model calls of one pass over ``scheduler.timesteps`` (after ``set_timesteps``)."""
    return len(scheduler.timesteps)
