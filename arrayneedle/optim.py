"""Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules.

Updates are written in place into each parameter's array (``p.array``) with in-place
operators, so no new parameter arrays are allocated per step. State dicts hold plain arrays and
numbers, so ``arrayneedle.save`` can store them and training can resume exactly.
"""
from __future__ import annotations

import math

from ._helpers import zero_grads
from .autograd import Tensor
from .backend import to_numpy
from .nn.utils.clip_grad import get_total_norm

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "LRScheduler",
           "WarmupCosine", "WarmupConstant", "LambdaLR"]


class Optimizer:
    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if isinstance(params[0], dict):
            groups = [dict(g) for g in params]
        else:
            groups = [{"params": params}]
        self.param_groups = []
        for g in groups:
            g["params"] = list(g["params"])
            for p in g["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"{type(self).__name__}: expected Tensors/Parameters, "
                                    f"got {type(p).__name__}")
            for k, v in defaults.items():
                g.setdefault(k, v)
            self.param_groups.append(g)
        self.defaults = defaults
        self.state = {}  # id(param) -> dict

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self, set_to_none=True):
        zero_grads(self._params(), set_to_none)

    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.array
                if grad.dtype != p.array.dtype:
                    grad = p.device.xp.astype(grad, p.array.dtype)
                st = self.state.setdefault(id(p), {})
                self._update(p, grad, st, g)

    def _update(self, p, grad, state, group):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _update (the per-parameter "
                                  f"update rule)")

    def state_dict(self):
        """{'state': {index: {name: array|number}}, 'param_groups': [...]} (arrays on host)."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {}
        for pid, st in self.state.items():
            if pid in index:
                state[index[pid]] = {k: (to_numpy(v) if hasattr(v, "shape") else v)
                                     for k, v in st.items()}
        groups = []
        for g in self.param_groups:
            gg = {k: v for k, v in g.items() if k != "params"}
            gg["params"] = [index[id(p)] for p in g["params"]]
            groups.append(gg)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd):
        params = self._params()
        groups = sd["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved parameter groups "
                             f"do not match this optimizer's (different model?)")
        for g, saved in zip(self.param_groups, groups):
            for k, v in saved.items():
                if k != "params":
                    g[k] = v
        self.state = {}
        for i, st in sd["state"].items():
            p = params[int(i)]
            new = {}
            for k, v in st.items():
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0:
                    if tuple(v.shape) != p.shape:
                        raise ValueError(f"optimizer state {k!r} for parameter {i} has shape "
                                         f"{tuple(v.shape)}, parameter has {p.shape}")
                    v = p.device.xp.asarray(p.device.asarray(v, p.dtype), copy=True)
                elif hasattr(v, "shape"):
                    v = v.item() if hasattr(v, "item") else v
                new[k] = v
            self.state[id(p)] = new


class SGD(Optimizer):
    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got {lr}, "
                             f"{momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, p, grad, st, g):
        if g["weight_decay"]:
            grad = grad + g["weight_decay"] * p.array
        mom = g["momentum"]
        if mom:
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = p.device.xp.asarray(grad, copy=True)
            else:
                buf *= mom
                buf += (1 - g["dampening"]) * grad
            grad = grad + mom * buf if g["nesterov"] else buf
        p.array -= g["lr"] * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction; weight_decay is L2 (added to grad)."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, betas={betas} or eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _update(self, p, grad, st, g):
        xp = p.device.xp
        lr, (b1, b2), eps, wd = g["lr"], g["betas"], g["eps"], g["weight_decay"]
        if not st:
            st["step"] = 0
            st["exp_avg"] = xp.zeros_like(p.array)
            st["exp_avg_sq"] = xp.zeros_like(p.array)
        st["step"] += 1
        t = st["step"]
        if wd:
            if self._decoupled:
                p.array *= 1 - lr * wd
            else:
                grad = grad + wd * p.array
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        bc1 = 1 - b1 ** t
        bc2 = 1 - b2 ** t
        denom = xp.sqrt(v)
        denom *= 1 / math.sqrt(bc2)
        denom += eps
        step = m / denom
        step *= lr / bc1
        p.array -= step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's default 1e-2."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm_(params, max_norm, eps=1e-6):
    """Scale gradients in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (a Python float). The norm is reduced on the device and
    read back once per call, not once per parameter (``nn.utils.clip_grad_norm_`` returns it
    as a Tensor and needs no read-back at all)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = float(get_total_norm(grads).array)
    coef = max_norm / (total + eps)
    if coef < 1:
        for g in grads:
            g.array *= coef
    return total


class LRScheduler:
    """Sets each group's lr to base_lr * factor(step); call ``step()`` after each optimizer step."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def factor(self, step):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement factor(step) (the "
                                  f"learning-rate multiplier)")

    def _apply(self):
        f = self.factor(self.last_step)
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * f

    def step(self):
        self.last_step += 1
        self._apply()

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, sd):
        self.last_step = int(sd["last_step"])
        self.base_lrs = list(sd["base_lrs"])
        self._apply()


class WarmupCosine(LRScheduler):
    """Linear warm-up from 0 over ``warmup_steps``, then cosine decay to ``min_factor``."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_factor=0.0):
        if total_steps <= 0 or warmup_steps < 0:
            raise ValueError(f"WarmupCosine: need total_steps > 0 and warmup_steps >= 0, got "
                             f"{total_steps} and {warmup_steps}")
        self.warmup, self.total, self.min_factor = warmup_steps, total_steps, min_factor
        super().__init__(optimizer)

    def factor(self, step):
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        span = max(self.total - self.warmup, 1)
        progress = min((step - self.warmup) / span, 1.0)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupConstant(LRScheduler):
    """Linear warm-up over ``warmup_steps``, then the base learning rate."""

    def __init__(self, optimizer, warmup_steps):
        self.warmup = warmup_steps
        super().__init__(optimizer)

    def factor(self, step):
        return min((step + 1) / (self.warmup + 1), 1.0) if self.warmup else 1.0


class LambdaLR(LRScheduler):
    def __init__(self, optimizer, lr_lambda):
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def factor(self, step):
        return self.lr_lambda(step)
