"""What every sampling loop shares, whatever its update rule: the model in eval mode under
``no_grad``, an optional progress bar, and host copies of the image every k steps (the frames
of a denoising animation). The update rules (DDPM, DDIM) live with the schedule that defines
them, in ``GaussianDiffusion``."""
from __future__ import annotations

import numbers
from contextlib import contextmanager

import arrayneedle as an
from arrayneedle import nn

__all__ = ["sampling_mode", "check_every", "run_loop"]


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


def check_every(k):
    """``return_every`` as a positive int, or None for no frames."""
    if k is None or k is False or k == 0:
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"return_every must be a positive integer (keep a frame every k "
                         f"steps) or None, got {k!r}")
    return int(k)


def _progress(iterable, enabled, desc, total):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress bars are a nicety, not a requirement
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)


def run_loop(model, x, steps, step, return_every=None, progress=True, desc="sampling"):
    """``x <- step(x, s)`` for each ``s`` in ``steps`` with ``model`` in sampling mode.

    Returns the last x, or ``(x, frames)`` when ``return_every=k``: host NumPy copies of the
    first x and of x after every k-th step (and after the last). Nothing else is kept from
    one step to the next, so memory stays flat however many steps run.
    """
    every = check_every(return_every)
    with sampling_mode(model):
        x = x.detach()
        frames = [x.numpy().copy()] if every else None
        for n, s in enumerate(_progress(steps, progress, desc, len(steps)), 1):
            x = step(x, s)
            if every and (n % every == 0 or n == len(steps)):
                frames.append(x.numpy().copy())
    return (x, frames) if every else x
