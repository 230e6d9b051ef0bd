"""Adadelta (``torch.optim.Adadelta``): steps scaled by the ratio of running RMS of updates
and gradients, so ``lr`` (default 1) only rescales them."""
from __future__ import annotations

from .optimizer import Optimizer, check_common, check_number

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """``square_avg = rho * square_avg + (1 - rho) * g^2``;
    ``delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g``;
    ``acc_delta = rho * acc_delta + (1 - rho) * delta^2``; ``p -= lr * delta``."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, capturable=capturable,
                                      foreach=foreach, differentiable=differentiable))

    def _check_group(self, g):
        check_common("Adadelta", g)
        check_number("Adadelta", "rho", g["rho"], high=1.0)
        check_number("Adadelta", "eps", g["eps"])

    def _update(self, xp, param, grad, state, g):
        rho, eps, wd = float(g["rho"]), float(g["eps"]), float(g["weight_decay"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            state["acc_delta"] = xp.zeros_like(param)
        state["step"] += 1
        if wd:
            grad = grad + wd * param
        sq, acc = state["square_avg"], state["acc_delta"]
        sq *= rho
        sq += (1 - rho) * (grad * grad)
        delta = xp.sqrt(acc + eps)
        delta /= xp.sqrt(sq + eps)
        delta *= grad
        acc *= rho
        acc += (1 - rho) * (delta * delta)
        delta *= float(g["lr"])
        param -= delta
