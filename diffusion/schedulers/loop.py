"""The one sampling loop, whatever the sampler: the model in eval mode under ``no_grad``, the
scheduler's steps from noise to a sample, an optional progress bar, and host copies of the
sample every k steps (the frames of a denoising animation). ``GaussianDiffusion.sample``,
``diffusion.quality`` and the training grids all run it; the update rules live in the
schedulers."""
from __future__ import annotations

import numbers
from contextlib import contextmanager

import arrayneedle as an
from arrayneedle import nn
from arrayneedle.autograd import Tensor

from .base import Scheduler, _draw
from .ddpm import DDIMScheduler

__all__ = ["check_every", "sample_loop", "sampling_mode"]


@contextmanager
def sampling_mode(model):
    """``no_grad``, and ``model`` (if a Module) in eval mode; restores each module's mode."""
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    for m, _ in modes:
        object.__setattr__(m, "training", False)
    try:
        with an.no_grad():
            yield
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)


def check_every(k, allow_off=True):
    """``return_every`` as a positive int, or None for no frames (None, and with
    ``allow_off`` also False or 0)."""
    if k is None or (allow_off and (k is False or k == 0)):
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"return_every must be a positive integer (keep a frame every k "
                         f"steps) or None, got {k!r}")
    return int(k)


def _progress(iterable, enabled, desc):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress bars are a nicety, not a requirement
        return iterable
    return tqdm(iterable, desc=desc, total=len(iterable), leave=False)


def _timestep_batch(t, batch, device):
    t = float(t)
    if t == int(t):
        return an.full((batch,), int(t), device=device, dtype="int64")
    return an.full((batch,), t, device=device, dtype="float32")


def _first_noise(shape, dtype, dev, generator):
    if generator is None:
        return an.randn(shape, device=dev, dtype=dtype)
    return Tensor(_draw(generator, shape, an.backend.dtype_name(dtype)), device=dev)


def sample_loop(model, scheduler, shape, num_inference_steps=None, generator=None,
                device=None, dtype="float32", x_T=None, progress=False, return_every=None,
                **step_kwargs):
    """Run ``scheduler`` from noise to a sample: ``model(x, t)`` is called with the scaled
    sample and a (B,) Tensor of timesteps (int64, or float32 where the scheduler's timesteps
    are fractional), under ``no_grad`` and with the model (if a Module) in eval mode; it must
    return a Tensor of the sample's shape.

    ``num_inference_steps`` calls ``set_timesteps`` first (else the scheduler's current ones,
    from their first step). ``x_T`` (a Tensor of ``shape``, unit variance) replaces the
    initial draw; it is scaled by ``init_noise_sigma``. ``generator``: None (the device's
    stream, seeded by ``arrayneedle.manual_seed``) or a NumPy / CuPy Generator.
    ``step_kwargs`` go to every ``step`` (``eta=`` for DDIM, ``s_churn=`` for Euler); DDIM gets
    ``use_clipped_model_output=True`` unless given. Returns the final sample (not clipped), or
    ``(sample, frames)`` with ``return_every=k``: host arrays of the start and of the sample
    after every k-th step (model call) and after the last. Nothing else is kept from one step
    to the next, so memory stays flat however many steps run.
    """
    every = check_every(return_every, allow_off=False)
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
    with sampling_mode(model):
        if x_T is None:
            x = _first_noise(shape, dtype, dev, generator)
        else:
            if tuple(x_T.shape) != shape:
                raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {shape}")
            x = x_T.detach()
        if scheduler.init_noise_sigma != 1.0:
            x = x * float(scheduler.init_noise_sigma)
        steps = scheduler.timesteps
        frames = [x.numpy().copy()] if every else None
        for k, t in enumerate(_progress(steps, progress, type(scheduler).__name__), 1):
            out = model(scheduler.scale_model_input(x, t), _timestep_batch(t, shape[0], dev))
            if not isinstance(out, Tensor) or tuple(out.shape) != shape:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"the model must return a Tensor of the input's shape {shape}, "
                                 f"got {got}")
            x = scheduler.step(out, t, x, generator=generator, **step_kwargs).prev_sample
            del out
            if every and (k % every == 0 or k == len(steps)):
                frames.append(x.numpy().copy())
    return (x, frames) if every else x
