"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond";
``torch.optim.RAdam``): Adam whose adaptive step is switched on once the variance of the
adaptive learning rate is tractable (rho_t > 5), scaled by the rectification term."""
from __future__ import annotations

import math

from .adam import _pair
from .optimizer import Optimizer, check_common, check_number

__all__ = ["RAdam"]


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        super().__init__(params, dict(
            lr=lr, betas=_pair(betas), eps=eps, weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay, foreach=foreach, maximize=maximize,
            capturable=capturable, differentiable=differentiable))

    def _check_group(self, g):
        check_common("RAdam", g)
        check_number("RAdam", "eps", g["eps"])
        g["betas"] = _pair(g["betas"])
        for i, b in enumerate(g["betas"]):
            check_number("RAdam", f"betas[{i}]", b, high=1.0, high_open=True)

    def _update(self, xp, param, grad, state, g):
        lr, eps, wd = float(g["lr"]), float(g["eps"]), float(g["weight_decay"])
        b1, b2 = (float(b) for b in g["betas"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        if wd:
            if g["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                grad = grad + wd * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * (b2 ** t) / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            denom = xp.sqrt(v) + eps
            param -= (lr * rect * math.sqrt(bc2) / bc1) * (m / denom)
        else:
            param -= (lr / bc1) * m
