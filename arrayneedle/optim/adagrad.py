"""Adagrad (``torch.optim.Adagrad``): per-coordinate steps shrinking with the summed squares."""
from __future__ import annotations

from .optimizer import Optimizer, check_common, check_number

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """``sum += g^2``; ``p -= clr * g / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (step - 1) * lr_decay)``. As in PyTorch, every parameter's state exists
    from construction (``sum`` starts at ``initial_accumulator_value``)."""

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p.device.xp, p.array, self.state[p], group)

    def _check_group(self, g):
        check_common("Adagrad", g)
        check_number("Adagrad", "lr_decay", g["lr_decay"])
        check_number("Adagrad", "initial_accumulator_value", g["initial_accumulator_value"])
        check_number("Adagrad", "eps", g["eps"])

    @staticmethod
    def _init_state(xp, param, state, g):
        state["step"] = 0
        state["sum"] = xp.full_like(param, float(g["initial_accumulator_value"]))

    def _update(self, xp, param, grad, state, g):
        if not state:
            self._init_state(xp, param, state, g)
        state["step"] += 1
        wd = float(g["weight_decay"])
        if wd:
            grad = grad + wd * param
        clr = float(g["lr"]) / (1 + (state["step"] - 1) * float(g["lr_decay"]))
        acc = state["sum"]
        acc += grad * grad
        std = xp.sqrt(acc)
        std += float(g["eps"])
        update = grad / std
        update *= clr
        param -= update
