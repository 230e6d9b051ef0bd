"""Losses (mean reduction by default, as PyTorch)."""
from __future__ import annotations

from .. import ops
from ..autograd import Tensor
from .module import Module

__all__ = ["L1Loss", "MSELoss", "L2Loss", "HuberLoss", "CrossEntropyLoss", "SoftmaxLoss",
           "mse_loss", "l1_loss", "huber_loss", "cross_entropy"]


def _reduce(x, reduction):
    if reduction == "mean":
        return ops.mean(x)
    if reduction == "sum":
        return ops.sum(x)
    if reduction == "none":
        return x
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check(name, pred, target):
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {pred.shape} != target shape {target.shape}")


def mse_loss(pred, target, reduction="mean"):
    _check("mse_loss", pred, target)
    d = pred - target
    return _reduce(d * d, reduction)


def l1_loss(pred, target, reduction="mean"):
    _check("l1_loss", pred, target)
    return _reduce(ops.abs(pred - target), reduction)


def huber_loss(pred, target, reduction="mean", delta=1.0):
    _check("huber_loss", pred, target)
    d = pred - target
    a = ops.abs(d)
    quad = ops.clip(a, max=delta)  # min(|d|, delta)
    # 0.5 q^2 + delta (|d| - q): quadratic inside, linear outside, as PyTorch's HuberLoss
    return _reduce(quad * quad * 0.5 + (a - quad) * delta, reduction)


def cross_entropy(logits, target, reduction="mean"):
    """Logits (N, C) and integer class targets (N,)."""
    if logits.ndim != 2 or target.ndim != 1 or target.shape[0] != logits.shape[0]:
        raise ValueError(f"cross_entropy: expected logits (N, C) and targets (N,), got "
                         f"{logits.shape} and {target.shape}")
    xp = logits.device.xp
    t = target.array if isinstance(target, Tensor) else logits.device.asarray(target)
    n_classes = logits.shape[1]
    if not xp.isdtype(t.dtype, "integral"):
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype "
                        f"{t.dtype}")
    if t.shape[0]:
        # one min and one max over the batch: an index outside [0, C) would match no column
        # of the one-hot below and silently add nothing to the loss
        lo, hi = int(xp.min(t)), int(xp.max(t))
        if lo < 0 or hi >= n_classes:
            raise IndexError(f"cross_entropy: target {lo if lo < 0 else hi} is out of bounds "
                             f"for {n_classes} classes (expected 0 <= target < {n_classes})")
    onehot = xp.astype(t[:, None] == xp.arange(n_classes)[None, :], logits.dtype)
    nll = -ops.sum(ops.log_softmax(logits, axis=1) * Tensor._wrap(onehot, logits.device), axis=1)
    return _reduce(nll, reduction)


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction


class MSELoss(_Loss):
    def forward(self, pred, target):
        return mse_loss(pred, target, self.reduction)


L2Loss = MSELoss


class L1Loss(_Loss):
    def forward(self, pred, target):
        return l1_loss(pred, target, self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, pred, target):
        return huber_loss(pred, target, self.reduction, self.delta)


class CrossEntropyLoss(_Loss):
    def forward(self, logits, target):
        return cross_entropy(logits, target, self.reduction)


SoftmaxLoss = CrossEntropyLoss
