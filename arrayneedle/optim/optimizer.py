"""The ``Optimizer`` base class: parameter groups, ``step``, ``zero_grad`` and a state dict in
PyTorch's structure (``torch.optim.Optimizer``).

Subclasses implement ``_update(xp, param, grad, state, group)`` on raw arrays of the namespace
``xp``: ``param`` is the
parameter's own array, updated in place (no new parameter arrays per step), ``grad`` is read-only
to them (it may be shared with other gradients), ``state`` the parameter's state dict. The base
class has already negated ``grad`` for ``maximize`` and cast it to the parameter's dtype, so
float32 parameters and their state stay float32.

State dicts hold arrays, numbers, strings and tuples only, so ``arrayneedle.save`` stores them
(no pickle) and training resumes exactly.
"""
from __future__ import annotations

import math
from collections import defaultdict
from numbers import Real

from ..autograd import Tensor, enable_grad, increment_version

__all__ = ["Optimizer"]


class _RequiredParameter:
    """Marks a hyper-parameter every parameter group must give (no default)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def check_number(owner, name, value, low=0.0, high=math.inf, low_open=False, high_open=False):
    """Raise a ValueError naming ``name`` unless ``value`` is a real number in the interval
    (NaN is always rejected: every comparison with it is false)."""
    ok = isinstance(value, Real) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high)
    if not ok:
        interval = (("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]"))
        raise ValueError(f"{owner}: invalid {name}={value!r}; expected a number in {interval}")


def check_common(owner, group):
    """The checks every optimizer shares: lr, weight_decay, and the PyTorch flags arrayneedle
    reads (``differentiable`` would need a graph through the update, which runs on raw arrays
    outside autograd)."""
    check_number(owner, "lr", group["lr"])
    check_number(owner, "weight_decay", group["weight_decay"])
    if group.get("differentiable"):
        raise ValueError(f"{owner}: differentiable=True is not supported (updates are applied "
                         f"in place on raw arrays, outside the autograd graph)")


class Optimizer:
    """Base class of all optimizers. ``params`` is an iterable of Tensors, of ``(name, Tensor)``
    pairs, or of dicts (parameter groups, each with ``"params"`` and optional hyper-parameters
    that override ``defaults``)."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError(f"params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got a single {type(params).__name__}")
        self.defaults = defaults
        self.state = defaultdict(dict)  # parameter Tensor -> its state dict
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"

    def _check_group(self, group):
        """Validate one group's hyper-parameters (subclasses: raise ValueError naming one)."""

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``"params"``); hyper-parameters it does not
        give are taken from ``defaults``. The dict itself becomes the group, as in PyTorch."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets changes between runs; use a list")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names; some "
                                 "param names are missing")
            params = [p[1] for p in params]
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params is "
                                f"a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (one computed from "
                                 f"others); pass the leaf parameters, or .detach() it")
        param_group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            param_group.setdefault(key, default)
        self._check_group(param_group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for g in self.param_groups:
            if ("param_names" in g) != ("param_names" in param_group):
                raise ValueError("all optimizer param groups should be with/without names")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters: to ``None`` (default), or to zeros."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    # Zeros in the same grad Tensor, but a new array: a gradient array may be
                    # a read-only broadcast view or shared with another parameter's gradient.
                    p.grad.array = p.device.xp.zeros_like(p.grad.array)

    def step(self, closure=None):
        """Update every parameter that has a gradient (others are skipped). ``closure``, if
        given, re-evaluates the model and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            maximize = group.get("maximize", False)
            for p in group["params"]:
                if p.grad is None:
                    continue
                param, grad = p.array, p.grad.array
                if tuple(grad.shape) != tuple(param.shape):  # NumPy would broadcast or fail
                    raise RuntimeError(f"{type(self).__name__}.step: a parameter of size "
                                       f"{list(param.shape)} holds a gradient of size "
                                       f"{list(grad.shape)}; they must be the same size")
                if grad.dtype != param.dtype:
                    grad = p.device.xp.astype(grad, param.dtype)
                if maximize:
                    grad = -grad
                self._update(p.device.xp, param, grad, self.state[p], group)
                increment_version(p)  # a graph built before this step must not use p again
        return loss

    def _update(self, xp, param, grad, state, group):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _update (the "
                                  f"per-parameter update rule) or override step")

    # ---- state dicts ----
    def state_dict(self):
        """``{"state": {index: {name: array|number}}, "param_groups": [{..., "params":
        [index, ...]}]}``: parameters are numbered in group order, as in PyTorch. Arrays are
        the live state (no copy); ``arrayneedle.save`` writes them to host memory."""
        index, groups = {}, []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for p in g["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in g["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(st) for p, st in self.state.items()
                 if st and id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state (copied onto each parameter's device and dtype).
        Groups must match this optimizer's in number and size. Keys that the saved groups lack
        (hyper-parameters added since) take this optimizer's defaults."""
        name = type(self).__name__
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has a different number "
                             f"of parameter groups ({len(saved)}) than this optimizer "
                             f"({len(self.param_groups)}); the groups do not match")
        for i, (s, g) in enumerate(zip(saved, self.param_groups)):
            if len(s["params"]) != len(g["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a "
                                 f"parameter group ({i}) that doesn't match the size of this "
                                 f"optimizer's group ({len(s['params'])} vs "
                                 f"{len(g['params'])} parameters); the groups do not match")
        id_map = {int(k): p for s, g in zip(saved, self.param_groups)
                  for k, p in zip(s["params"], g["params"])}
        new_state = defaultdict(dict)
        for k, st in state_dict["state"].items():
            p = id_map.get(int(k))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {k}, which no "
                                 f"parameter group lists")
            new_state[p] = {key: _load_value(p, key, v, k) for key, v in st.items()}
        groups = []
        for s, g in zip(saved, self.param_groups):
            new = {k: (tuple(v) if isinstance(v, list) and k == "betas" else v)
                   for k, v in s.items() if k != "params"}
            new["params"] = g["params"]
            if "param_names" in g and "param_names" not in new:
                new["param_names"] = g["param_names"]
            for k, v in self.defaults.items():
                new.setdefault(k, v)
            groups.append(new)
        self.state, self.param_groups = new_state, groups


def _load_value(p, key, v, index):
    if key == "step":  # a count (PyTorch keeps it as a 0-d float tensor)
        v = float(v.item() if hasattr(v, "item") else v)
        return int(v) if v.is_integer() else v
    if isinstance(v, Tensor):
        v = v.array
    if not hasattr(v, "shape"):
        return v
    if tuple(v.shape) != p.shape:
        raise ValueError(f"optimizer state {key!r} for parameter {index} has shape "
                         f"{tuple(v.shape)}, the parameter has {p.shape}")
    return p.device.xp.asarray(p.device.asarray(v, p.dtype), copy=True)
