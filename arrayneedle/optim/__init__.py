"""Optimizers and learning-rate schedules with PyTorch's names (``torch.optim``).

Updates are written in place into each parameter's array, so no new parameter arrays are
allocated per step, and float32 parameters and state stay float32. State dicts have PyTorch's
structure and hold plain arrays and numbers, so ``arrayneedle.save`` stores them and training
resumes exactly.
"""
from __future__ import annotations

from ..nn.utils.clip_grad import get_total_norm
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .radam import RAdam
from . import swa_utils
from .lr_scheduler import LambdaLR, LRScheduler
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
from .warmup import WarmupConstant, WarmupCosine

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS",
           "RAdam", "lr_scheduler", "LRScheduler", "LambdaLR", "WarmupCosine", "WarmupConstant",
           "clip_grad_norm_"]


def clip_grad_norm_(params, max_norm, eps=1e-6):
    """Scale gradients so their global L2 norm is at most ``max_norm``; returns the norm
    before clipping as a Python float (one read-back per call; ``nn.utils.clip_grad_norm_``
    returns it as a Tensor and needs none). Each gradient gets a new scaled array rather than
    being written into: a gradient array may be a read-only broadcast view or shared by two
    parameters."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = float(get_total_norm(grads).array)
    coef = max_norm / (total + eps)
    if coef < 1:
        for g in grads:
            g.array = g.array * coef
    return total
