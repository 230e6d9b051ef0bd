"""Warm-up schedules that PyTorch has no single class for, on the ``LRScheduler`` base (same
``last_epoch``, ``step()``, ``get_last_lr()`` and state dict)."""
from __future__ import annotations

import math

from .lr_scheduler import LRScheduler

__all__ = ["WarmupCosine", "WarmupConstant"]


class _FactorScheduler(LRScheduler):
    """``lr = initial_lr * factor(last_epoch)`` (closed form, like ``LambdaLR``)."""

    def get_lr(self):
        f = self.factor(self.last_epoch)
        return [b * f for b in self.base_lrs]

    def load_state_dict(self, state_dict):
        if "last_step" in state_dict:  # the layout these schedulers saved before LRScheduler
            state_dict = {"last_epoch": int(state_dict["last_step"]),
                          "base_lrs": list(state_dict["base_lrs"])}
            state_dict["_last_lr"] = [b * self.factor(state_dict["last_epoch"])
                                      for b in state_dict["base_lrs"]]
        super().load_state_dict(state_dict)


class WarmupCosine(_FactorScheduler):
    """Linear warm-up over ``warmup_steps`` (the factor is ``(t + 1) / (warmup_steps + 1)``),
    then cosine decay to ``min_factor`` at ``total_steps``."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_factor=0.0, last_epoch=-1):
        if total_steps <= 0 or warmup_steps < 0:
            raise ValueError(f"WarmupCosine: need total_steps > 0 and warmup_steps >= 0, got "
                             f"total_steps={total_steps} and warmup_steps={warmup_steps}")
        self.warmup, self.total, self.min_factor = warmup_steps, total_steps, min_factor
        super().__init__(optimizer, last_epoch)

    def factor(self, step):
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        progress = min((step - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupConstant(_FactorScheduler):
    """Linear warm-up over ``warmup_steps``, then the initial learning rate."""

    def __init__(self, optimizer, warmup_steps, last_epoch=-1):
        if warmup_steps < 0:
            raise ValueError(f"WarmupConstant: need warmup_steps >= 0, got {warmup_steps}")
        self.warmup = warmup_steps
        super().__init__(optimizer, last_epoch)

    def factor(self, step):
        return min((step + 1) / (self.warmup + 1), 1.0) if self.warmup else 1.0
