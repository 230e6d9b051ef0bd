"""Exponential moving average of a model's parameters, kept in a copy used for sampling.

Only parameters are averaged. Buffers (BatchNorm running statistics, BatchNorm step counters,
a diffusion's schedule) are copied from the online model, never averaged: averaging integer
counters or constants gains nothing, and averaging running statistics that lag the averaged
weights is a known cause of black samples.
"""
from __future__ import annotations

import copy

from arrayneedle import nn
from arrayneedle.backend import device as _device

__all__ = ["EMA"]


class EMA:
    """``ema = EMA(model, decay=0.9999)``; call ``ema.update()`` after each optimizer step and
    sample with ``ema.ema_model`` (or ``ema(x, ...)``).

    The decay used at averaging update n (counted from ``update_after_step``) is
    ``min(decay, (1 + n) / (10 + n))`` with ``warmup`` (so early averages follow the model
    closely), else ``decay``. Up to ``update_after_step`` calls the copy just tracks the model.
    With ``update_every=k`` only every k-th call does work.
    """

    def __init__(self, model, decay=0.9999, update_after_step=0, update_every=1, warmup=True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"EMA needs an arrayneedle.nn.Module, got {type(model).__name__}")
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if int(update_every) < 1 or int(update_after_step) < 0:
            raise ValueError(f"EMA: update_every must be >= 1 and update_after_step >= 0, got "
                             f"{update_every} and {update_after_step}")
        self.decay = float(decay)
        self.update_after_step = int(update_after_step)
        self.update_every = int(update_every)
        self.warmup = bool(warmup)
        self.step = 0
        self.model = model
        self.ema_model = copy.deepcopy(model)  # Device.__deepcopy__ keeps the device shared
        for p in self.ema_model.parameters():
            p.grad = None
        self.ema_model.requires_grad_(False)
        self.ema_model.eval()
        self._pair()

    def _pair(self):
        def match(own, ref, what):
            own, ref = dict(own), dict(ref)
            if own.keys() != ref.keys():
                raise RuntimeError(f"EMA: the model's {what} no longer match the EMA copy's "
                                   f"(added or removed after the EMA was made): "
                                   f"{sorted(own.keys() ^ ref.keys())}")
            return [(own[k], ref[k]) for k in ref]
        self._params = match(self.ema_model.named_parameters(), self.model.named_parameters(),
                             "parameters")
        self._buffers = match(self.ema_model.named_buffers(), self.model.named_buffers(),
                              "buffers")

    def current_decay(self):
        """The decay the next call of ``update`` uses (0: it copies)."""
        return self._decay_at(self.step + 1)

    def _decay_at(self, step):
        n = step - self.update_after_step
        if n <= 0:
            return 0.0
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + n) / (10.0 + n))

    def update(self):
        """One step: average the parameters into the copy (or copy them while warming up),
        copy the buffers."""
        self.step += 1
        if self.step % self.update_every and self.step > self.update_after_step:
            return
        if len(self._params) != len(list(self.model.parameters())):
            self._pair()
        d = self._decay_at(self.step)
        for e, p in self._params:
            src = p.array if p.device is e.device else e.device.asarray(p.array)
            if d == 0.0:
                e.array = e.device.xp.asarray(src, dtype=e.dtype, copy=True)
            else:
                # in place: e <- d * e + (1 - d) * p (the copy's arrays are its own)
                e.array *= d
                e.array += src * (1.0 - d)
        self._copy_buffers()

    def _copy_buffers(self):
        for e, b in self._buffers:
            src = b.array if b.device is e.device else e.device.asarray(b.array)
            e.array = e.device.xp.asarray(src, dtype=e.dtype, copy=True)

    def copy_to(self, model=None):
        """Load the averaged parameters (and the buffers) into ``model`` (default: the online
        model), e.g. to evaluate or export them."""
        (model or self.model).load_state_dict(self.ema_model.state_dict())

    def __call__(self, *args, **kwargs):
        return self.ema_model(*args, **kwargs)

    def parameters(self):
        return self.ema_model.parameters()

    def to(self, device=None, dtype=None):
        self.ema_model.to(None if device is None else _device(device), dtype)
        return self

    def state_dict(self):
        return {"step": self.step, "decay": self.decay,
                "update_after_step": self.update_after_step, "update_every": self.update_every,
                "warmup": self.warmup, "ema_model": self.ema_model.state_dict()}

    def load_state_dict(self, state_dict):
        """Restore the averaged weights and the step count (the decay settings stay those
        given to the constructor)."""
        missing = [k for k in ("step", "ema_model") if k not in state_dict]
        if missing:
            raise KeyError(f"EMA.load_state_dict: missing keys {missing}; expected a dict from "
                           f"EMA.state_dict()")
        self.ema_model.load_state_dict(state_dict["ema_model"])
        self.step = int(state_dict["step"])
        self._pair()

    def __repr__(self):
        return (f"EMA(decay={self.decay}, step={self.step}, "
                f"update_after_step={self.update_after_step}, update_every={self.update_every})")
