"""Gaussian diffusion (Ho et al. 2020): forward noising and training losses; sampling (DDPM,
DDIM and the fast solvers: DPM-Solver++, Euler, Heun) through ``diffusion.schedulers``.

``GaussianDiffusion`` is an ``arrayneedle.nn.Module`` that owns the noise schedule as buffers
(float32 on the model's device, derived in float64 on the host) and a model that only predicts:
``model(x_t, t) -> Tensor`` of the shape of ``x_t`` (the noise, x0 or v, by ``objective``).
Images enter in [-1, 1]: see ``normalize`` / ``unnormalize``.

Sampling runs ``diffusion.schedulers.sample_loop`` (the one loop): under ``no_grad``, with the
model in eval mode, keeping nothing from one step to the next but the current image (memory
stays flat over the T steps), with one coefficient per step for the whole batch (host float64
scalars), so the only per-step work is the model call and a few elementwise ops. No Python loop
ever runs over batch items or pixels.
"""
from __future__ import annotations


import numpy as np

import arrayneedle as an
from arrayneedle import nn, ops
from arrayneedle.autograd import Tensor

from .schedulers import SCHEDULERS, from_diffusion, sample_loop
from .schedulers.loop import check_every, sampling_mode
from .schedules import _check_betas, diffusion_coefficients, get_beta_schedule

__all__ = ["GaussianDiffusion", "extract", "normalize", "unnormalize", "LOSS_TYPES",
           "OBJECTIVES", "SAMPLERS", "DDIM_STEPS", "SOLVER_STEPS"]

# canonical name -> accepted spellings (ours, lucidrains', diffusers')
OBJECTIVES = {"eps": ("eps", "epsilon", "pred_noise"),
              "x0": ("x0", "sample", "pred_x0"),
              "v": ("v", "v_prediction", "pred_v")}
LOSS_TYPES = {"l2": ("l2", "mse"), "l1": ("l1",), "huber": ("huber", "smooth_l1")}
# every name is a diffusion.schedulers scheduler (ddpm, ddim, the solvers)
SAMPLERS = tuple(SCHEDULERS)
# step counts when none is given (capped at T), shared by the training grids, scripts/sample.py
# and GaussianDiffusion.sample: DDIM's, and the solvers' (BENCHMARKS.md, "Samplers": DPM-Solver++
# reaches DDPM-over-all-T quality at 10-20 steps)
DDIM_STEPS = 50
SOLVER_STEPS = 20

def _canonical(value, table, what):
    for name, spellings in table.items():
        if value in spellings:
            return name
    raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(table)}")


def normalize(x):
    """[0, 1] images -> [-1, 1] (the range the diffusion works in)."""
    return x * 2 - 1


def unnormalize(x):
    """[-1, 1] -> [0, 1]."""
    return (x + 1) * 0.5


def extract(a, t, x_shape):
    """``a[t]`` for a batch of timesteps ``t`` (B,), shaped (B, 1, 1, ...) to broadcast against
    ``x_shape``. One vectorised gather on the device of ``t``; ``a`` is a Tensor on that device
    or a host array (moved there)."""
    if not isinstance(t, Tensor):
        dev = a.device if isinstance(a, Tensor) else an.cpu()
        t = Tensor(np.asarray(t, dtype=np.int64), device=dev)
    if t.ndim != 1:
        raise ValueError(f"extract: t must be a 1-D batch of timesteps, got shape {t.shape}")
    if an.backend.dtype_name(t.dtype) not in ("int64", "int32", "uint8"):
        raise TypeError(f"extract: t must hold integer timesteps, got dtype {t.dtype}")
    dev = t.device
    if isinstance(a, Tensor):
        if a.device is not dev:
            raise RuntimeError(f"extract: the schedule is on {a.device} but t is on {dev}; "
                               f"move one of them with .to(device)")
    else:
        a = Tensor(a, device=dev)
    shape = (t.shape[0],) + (1,) * (len(x_shape) - 1)
    if a.requires_grad:
        return ops.reshape(ops.take(a, t, axis=0), shape)
    xp = dev.xp
    return Tensor.from_array(xp.reshape(xp.take(a.array, t.array, axis=0), shape), dev)


class GaussianDiffusion(nn.Module):
    """DDPM forward/reverse processes around a noise-prediction model.

    The object is the scheduler; the model is only called. Every method that calls the model
    takes ``model=`` (default: the one given here), so one diffusion serves the online model
    in training and its EMA copy in sampling (``diffusion.sample(16, model=ema.ema_model)``).

    Args:
        model: ``model(x_t, t) -> Tensor`` with the shape of ``x_t`` (a Module or any
            callable), or None for a diffusion whose model is always passed as ``model=``.
        timesteps: T.
        beta_schedule: one of ``diffusion.schedules.SCHEDULES``, or ``betas`` gives them directly.
        loss_type: ``l2`` | ``l1`` | ``huber``.
        objective: what the model predicts: ``eps`` (the noise) | ``x0`` | ``v``.
        clip_denoised: clip the predicted x0 to [-1, 1] while sampling.
        dtype: dtype of the buffers (the data's; float32).
    """

    def __init__(self, model=None, timesteps=1000, beta_schedule="linear", loss_type="l2",
                 objective="eps", betas=None, clip_denoised=True, huber_delta=1.0,
                 dtype="float32"):
        super().__init__()
        if model is not None and not callable(model):
            raise TypeError(f"model must be callable as model(x, t), got {type(model).__name__}")
        self.model = model
        self.loss_type = _canonical(loss_type, LOSS_TYPES, "loss_type")
        self.objective = _canonical(objective, OBJECTIVES, "objective")
        if betas is None:
            betas = get_beta_schedule(beta_schedule, timesteps)
        else:
            betas = _check_betas(np.asarray(betas, dtype=np.float64).reshape(-1), "betas")
            beta_schedule = "custom"
        self.beta_schedule = beta_schedule
        self.clip_denoised = bool(clip_denoised)
        self.huber_delta = float(huber_delta)
        self._dtype = an.backend.dtype_name(dtype)
        dev = model.device if isinstance(model, nn.Module) else an.cpu()
        self._set_schedule(betas, dev)

    # ---- schedule ----
    def _set_schedule(self, betas, dev):
        """The buffers from already validated betas."""
        host = diffusion_coefficients(betas)
        self._host = host  # float64 NumPy copies: per-step scalars for the sampling loops
        self.num_timesteps = len(host["betas"])
        for name, values in host.items():
            self.register_buffer(name, Tensor(values, device=dev, dtype=self._dtype))

    def load_state_dict(self, state_dict, strict=True):
        """As Module.load_state_dict; a checkpoint whose ``betas`` differ from ours brings its
        schedule along (the derived buffers are recomputed from it in float64)."""
        b = state_dict.get("betas") if hasattr(state_dict, "get") else None
        if b is not None:
            arr = np.asarray(b.numpy() if isinstance(b, Tensor) else b, dtype=np.float64)
            own = self._host["betas"]
            if arr.shape != own.shape or not np.allclose(arr, own, rtol=1e-6, atol=0):
                arr = _check_betas(arr.reshape(-1), "the checkpoint's betas")
                self._dtype = an.backend.dtype_name(self.betas.dtype)
                self._set_schedule(arr, self.betas.device)
                self.beta_schedule = "custom"
        return super().load_state_dict(state_dict, strict=strict)

    @property
    def device(self):
        return self.betas.device

    def _coef(self, name, t, x_shape):
        """A schedule coefficient at t: a Python float for an int t (one step for the whole
        batch), else a (B, 1, 1, ...) Tensor gathered from the buffer."""
        if isinstance(t, Tensor):
            return extract(getattr(self, name), t, x_shape)
        return float(self._host[name][t])

    def _check_t(self, t):
        if isinstance(t, Tensor):
            return t
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise TypeError(f"t must be an int or an integer Tensor of timesteps, got {t!r}")
        t = int(t)
        if not 0 <= t < self.num_timesteps:
            raise ValueError(f"timestep {t} out of range [0, {self.num_timesteps})")
        return t

    def _t_batch(self, t, batch, dev):
        if isinstance(t, Tensor):
            return t
        return an.full((batch,), t, device=dev, dtype="int64")

    # ---- forward process ----
    def q_sample(self, x0, t, noise=None):
        """A sample of q(x_t | x_0) = N(sqrt(abar_t) x0, (1 - abar_t) I)."""
        t = self._check_t(t)
        if noise is None:
            noise = an.randn(x0.shape, device=x0.device, dtype=x0.dtype)
        return (self._coef("sqrt_alphas_cumprod", t, x0.shape) * x0
                + self._coef("sqrt_one_minus_alphas_cumprod", t, x0.shape) * noise)

    def q_posterior(self, x0, xt, t):
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0). The variances are
        (B, 1, ...) Tensors for a Tensor t and Python floats for an int t."""
        t = self._check_t(t)
        mean = (self._coef("posterior_mean_coef1", t, xt.shape) * x0
                + self._coef("posterior_mean_coef2", t, xt.shape) * xt)
        return (mean, self._coef("posterior_variance", t, xt.shape),
                self._coef("posterior_log_variance_clipped", t, xt.shape))

    def predict_start_from_noise(self, xt, t, noise):
        return (self._coef("sqrt_recip_alphas_cumprod", t, xt.shape) * xt
                - self._coef("sqrt_recipm1_alphas_cumprod", t, xt.shape) * noise)

    def predict_noise_from_start(self, xt, t, x0):
        return ((self._coef("sqrt_recip_alphas_cumprod", t, xt.shape) * xt - x0)
                / self._coef("sqrt_recipm1_alphas_cumprod", t, xt.shape))

    def predict_v(self, x0, t, noise):
        return (self._coef("sqrt_alphas_cumprod", t, x0.shape) * noise
                - self._coef("sqrt_one_minus_alphas_cumprod", t, x0.shape) * x0)

    def predict_start_from_v(self, xt, t, v):
        return (self._coef("sqrt_alphas_cumprod", t, xt.shape) * xt
                - self._coef("sqrt_one_minus_alphas_cumprod", t, xt.shape) * v)

    # ---- training ----
    def _model_out(self, x, t, model=None):
        model = self.model if model is None else model
        if model is None:
            raise TypeError("this GaussianDiffusion has no model: pass one as model=")
        out = model(x, self._t_batch(t, x.shape[0], x.device))
        if not isinstance(out, Tensor) or out.shape != x.shape:
            got = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"the model must return a Tensor of the input's shape {x.shape}, "
                             f"got {got}")
        return out

    def p_losses(self, x0, t=None, noise=None, model=None):
        """The training loss at timesteps ``t`` (drawn uniformly per image when None)."""
        b = x0.shape[0]
        if t is None:
            t = an.randint(0, self.num_timesteps, (b,), device=x0.device)
        elif not isinstance(t, Tensor):
            t = self._t_batch(self._check_t(t), b, x0.device)
        if noise is None:
            noise = an.randn(x0.shape, device=x0.device, dtype=x0.dtype)
        xt = self.q_sample(x0, t, noise)
        out = self._model_out(xt, t, model)
        if self.objective == "eps":
            target = noise
        elif self.objective == "x0":
            target = x0
        else:
            target = self.predict_v(x0, t, noise)
        if self.loss_type == "l2":
            return nn.mse_loss(out, target)
        if self.loss_type == "l1":
            return nn.l1_loss(out, target)
        return nn.huber_loss(out, target, delta=self.huber_delta)

    def forward(self, x0):
        """The training loss for a batch of clean images in [-1, 1] (random timesteps)."""
        return self.p_losses(x0)

    # ---- reverse process: every sampler is a diffusion.schedulers scheduler ----
    def scheduler(self, sampler="ddpm", **config):
        """The scheduler ``sampler`` (a name of ``SAMPLERS``) for this diffusion's schedule,
        objective and x0 clipping (``config`` overrides, e.g. ``clip_sample=False``)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        return from_diffusion(self, sampler, **config)

    def _sampling_model(self, model):
        model = self.model if model is None else model
        if model is None:
            raise TypeError("this GaussianDiffusion has no model: pass one as model=")
        return model

    def sampling_mode(self, model=None):
        """A context with ``no_grad`` and ``model`` (default: our own) in eval mode, as the
        sampling loop runs it (for timing or driving single steps by hand)."""
        return sampling_mode(self.model if model is None else model)

    def p_sample(self, x, t, clip_denoised=None, model=None):
        """One step of Algorithm 2 (``DDPMScheduler.step``) from x_t to x_{t-1} for an int
        timestep ``t`` of the whole batch (no noise at t = 0)."""
        if isinstance(t, Tensor):
            raise TypeError("p_sample takes one int timestep for the whole batch; sample "
                            "per-image timesteps with q_sample")
        t = self._check_t(t)
        sched = self._clipped("ddpm", clip_denoised)
        out = self._model_out(x, t, model)
        return sched.step(out, t, x).prev_sample

    def _clipped(self, sampler, clip_denoised):
        kw = {} if clip_denoised is None else {"clip_sample": bool(clip_denoised)}
        return self.scheduler(sampler, **kw)

    def p_sample_loop(self, shape, return_every=None, progress=True, x_T=None,
                      clip_denoised=None, model=None):
        """Algorithm 2 from x_T ~ N(0, I) (or the given ``x_T``) down to x_0, in T steps (not
        clipped). Returns x_0, or ``(x_0, frames)`` when ``return_every=k``: host NumPy
        arrays of x_T and of the image after every k-th step (and after the last)."""
        return self._run("ddpm", shape, None, return_every, progress, x_T, clip_denoised, model)

    def ddim_timesteps(self, steps):
        """The (t, t_prev) pairs DDIM visits: ``steps`` timesteps from T - 1 about T / steps
        apart, t_prev = -1 at the end."""
        sched = self.scheduler("ddim")
        sched.set_timesteps(self.sampling_steps("ddim", steps))
        times = sched.timesteps.tolist()
        return list(zip(times, times[1:] + [-1]))

    def ddim_sample(self, shape, steps=None, eta=0.0, return_every=None, progress=True, x_T=None,
                    clip_denoised=None, model=None):
        """DDIM (Song et al. 2021) in ``steps`` steps (default ``min(DDIM_STEPS, T)``);
        ``eta=0`` is deterministic given x_T. Returns like ``p_sample_loop`` (frames after
        every k-th of the ``steps`` steps)."""
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        return self._run("ddim", shape, steps, return_every, progress, x_T, clip_denoised,
                         model, eta=eta)

    def _run(self, sampler, shape, steps, return_every, progress, x_T, clip_denoised, model,
             **step_kwargs):
        """``sample_loop`` of the scheduler ``sampler`` from x_T (drawn when None)."""
        steps = self.sampling_steps(sampler, steps)
        every = check_every(return_every)
        model = self._sampling_model(model)
        return sample_loop(model, self._clipped(sampler, clip_denoised), shape,
                           num_inference_steps=steps, device=self.device, dtype=self._dtype,
                           x_T=x_T, progress=progress, return_every=every, **step_kwargs)

    def sampling_steps(self, sampler="ddpm", steps=None):
        """The step count ``sample(sampler=..., steps=...)`` runs: T for ``ddpm``; ``steps``
        for any other sampler, by default ``min(DDIM_STEPS, T)`` for ``ddim`` and
        ``min(SOLVER_STEPS, T)`` for the solvers. Raises ValueError for an unknown sampler or a
        step count it cannot run."""
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        T = self.num_timesteps
        if sampler == "ddpm":
            if steps not in (None, T):
                raise ValueError(f"the ddpm sampler runs all {T} steps; to sample in {steps} "
                                 f"steps use another sampler (ddim, dpm++2m, ...)")
            return T
        if steps is None:
            return min(DDIM_STEPS if sampler == "ddim" else SOLVER_STEPS, T)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or \
                not 1 <= steps <= T:
            what = "DDIM" if sampler == "ddim" else sampler
            raise ValueError(f"{what} steps must be an integer in [1, {T}], got {steps!r}")
        return int(steps)

    def sampling_evaluations(self, sampler="ddpm", steps=None):
        """The model calls (and loop iterations, which ``return_every`` counts) of
        ``sample(sampler=..., steps=...)``: the step count, but ``2 n - 1`` for n Heun steps."""
        n = self.sampling_steps(sampler, steps)
        sched = self.scheduler(sampler)
        sched.set_timesteps(n)
        return len(sched.timesteps)

    def sample(self, batch_size=16, image_size=32, channels=3, sampler="ddpm", steps=None,
               eta=0.0, return_every=None, progress=True, model=None, x_T=None):
        """``batch_size`` images in [-1, 1] of ``image_size`` (an int or (H, W)) and
        ``channels`` channels, from ``model`` (default: the diffusion's own).

        ``sampler`` (one of ``SAMPLERS``, each a ``diffusion.schedulers`` scheduler run by
        ``sample_loop``): ``"ddpm"`` runs all T steps, ``"ddim"`` ``steps`` (default
        ``min(DDIM_STEPS, T)``; ``eta`` is its noise, the others ignore it), any other
        ``steps`` (default ``min(SOLVER_STEPS, T)``). ``x_T`` (unit variance) replaces the
        first draw. With ``return_every=k`` returns ``(images, frames)`` (see
        ``p_sample_loop``; k counts model calls).
        """
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        shape = (int(batch_size), int(channels), int(h), int(w))
        kw = {"eta": eta} if sampler == "ddim" else {}
        if eta < 0 and sampler == "ddim":
            raise ValueError(f"eta must be >= 0, got {eta}")
        out = self._run(sampler, shape, steps, return_every, progress, x_T, None, model, **kw)
        if isinstance(out, tuple):
            x, frames = out
            return ops.clip(x, -1.0, 1.0), [np.clip(f, -1.0, 1.0) for f in frames]
        return ops.clip(out, -1.0, 1.0)

    def extra_repr(self):
        return (f"timesteps={self.num_timesteps}, beta_schedule={self.beta_schedule!r}, "
                f"objective={self.objective!r}, loss_type={self.loss_type!r}")
