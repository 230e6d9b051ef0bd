"""RMSprop (``torch.optim.RMSprop``): divide by a running root mean square of the gradient."""
from __future__ import annotations

from .optimizer import Optimizer, check_common, check_number

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """``square_avg = alpha * square_avg + (1 - alpha) * g^2``; the step is
    ``lr * g / (sqrt(square_avg) + eps)``, with the running mean of ``g`` subtracted inside the
    root when ``centered``, and through a momentum buffer when ``momentum`` > 0."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _check_group(self, g):
        check_common("RMSprop", g)
        check_number("RMSprop", "momentum", g["momentum"])
        check_number("RMSprop", "alpha", g["alpha"], high=1.0)
        check_number("RMSprop", "eps", g["eps"])

    def _update(self, xp, param, grad, state, g):
        lr, alpha, eps = float(g["lr"]), float(g["alpha"]), float(g["eps"])
        mom, wd = float(g["momentum"]), float(g["weight_decay"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            if mom > 0:
                state["momentum_buffer"] = xp.zeros_like(param)
            if g["centered"]:
                state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        if wd:
            grad = grad + wd * param
        sq = state["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * (grad * grad)
        if g["centered"]:
            ga = state.setdefault("grad_avg", xp.zeros_like(param))
            ga *= alpha
            ga += (1 - alpha) * grad
            avg = xp.sqrt(sq - ga * ga)
        else:
            avg = xp.sqrt(sq)
        avg += eps
        if mom > 0:
            buf = state.setdefault("momentum_buffer", xp.zeros_like(param))
            buf *= mom
            buf += grad / avg
            param -= lr * buf
        else:
            update = grad / avg
            update *= lr
            param -= update
