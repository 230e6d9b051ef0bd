"""Stochastic gradient descent with momentum, dampening and Nesterov (``torch.optim.SGD``)."""
from __future__ import annotations

from .optimizer import Optimizer, check_common, check_number

__all__ = ["SGD"]


class SGD(Optimizer):
    """``p -= lr * g`` with ``g`` the gradient plus ``weight_decay * p``, through a momentum
    buffer when ``momentum`` > 0 (Nesterov's variant with ``nesterov=True``).

    ``foreach`` and ``fused`` are accepted so PyTorch calls run unchanged: every parameter is
    updated in one vectorised pass whatever their value."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _check_group(self, g):
        check_common("SGD", g)
        check_number("SGD", "momentum", g["momentum"])
        check_number("SGD", "dampening", g["dampening"], high=1.0)
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True requires momentum > 0 and dampening = 0, got "
                             f"momentum={g['momentum']}, dampening={g['dampening']}")

    def _update(self, xp, param, grad, state, g):
        lr, wd, mom = float(g["lr"]), float(g["weight_decay"]), float(g["momentum"])
        if wd:
            grad = grad + wd * param
        if mom:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.asarray(grad, copy=True)
            else:
                buf *= mom
                buf += (1 - float(g["dampening"])) * grad
            grad = grad + mom * buf if g["nesterov"] else buf
        param -= lr * grad

