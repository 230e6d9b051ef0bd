"""Adam and AdamW, with AMSGrad (``torch.optim.Adam``, ``torch.optim.AdamW``)."""
from __future__ import annotations

import math

from .optimizer import Optimizer, check_common, check_number

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction. ``weight_decay`` is L2 (added to the
    gradient) unless ``decoupled_weight_decay=True`` (AdamW: the parameter shrinks by
    ``lr * weight_decay`` each step). ``amsgrad`` divides by the running maximum of the second
    moment. ``foreach``, ``capturable`` and ``fused`` are accepted and change nothing here."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        super().__init__(params, dict(
            lr=lr, betas=_pair(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable, fused=fused,
            decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, g):
        owner = type(self).__name__
        check_common(owner, g)
        check_number(owner, "eps", g["eps"])
        g["betas"] = _pair(g["betas"])
        for i, b in enumerate(g["betas"]):
            check_number(owner, f"betas[{i}]", b, high=1.0, high_open=True)

    def _update(self, xp, param, grad, state, g):
        lr, (b1, b2), eps, wd = float(g["lr"]), g["betas"], float(g["eps"]), g["weight_decay"]
        b1, b2 = float(b1), float(b2)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
            if g["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        if wd:
            if g["decoupled_weight_decay"]:
                param *= 1 - lr * float(wd)
            else:
                grad = grad + float(wd) * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        if g["amsgrad"]:
            vmax = state.get("max_exp_avg_sq")
            if vmax is None:  # amsgrad switched on after the first steps
                vmax = state["max_exp_avg_sq"] = xp.zeros_like(param)
            vmax[...] = xp.maximum(vmax, v)
            v = vmax
        denom = xp.sqrt(v)
        denom /= math.sqrt(1 - b2 ** t)
        denom += eps
        update = m / denom
        update *= lr / (1 - b1 ** t)
        param -= update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's default 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


def _pair(betas):
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return (b1, b2)
