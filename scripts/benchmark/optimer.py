"""Per-op timing inside one training or sampling step, through arrayneedle's public observer
hook (``arrayneedle.autograd.register_function_hook``).

Every Function's forward and backward is timed between device synchronisations and summed per
category. Functions that run inside a BatchNorm layer's forward are attributed to
``batchnorm2d``: its forward is the whole layer's wall time (batch statistics included), its
backward the Functions it created. Matrix products inside the Unet's ``Attention`` layers
(projections, q k^T, attention times v) are counted as ``attention matmuls``, apart from the
Linear layers' matmuls. Every convolution is listed with its shapes, times and FLOPs.
"""
from __future__ import annotations

import time
from collections import defaultdict

import arrayneedle as an
from arrayneedle.autograd import register_function_hook
from diffusion import Attention

from .adapters import forward_hooks

_SPECIAL = {"ReLU": "relu", "MaxPool2d": "max_pool2d", "MatMul": "matmul (Linear)",
            "Stack": "stack (skip concat)", "Concat": "concat (skip concat)",
            "Normalize": "batchnorm2d", "BatchNorm": "batchnorm2d", "GroupNorm": "groupnorm",
            "SiLU": "silu", "Softmax": "softmax", "LogSoftmax": "softmax",
            "LogSumExp": "softmax"}  # (softmax composed as exp(x - logsumexp(x)))
_SHAPE = frozenset({"Reshape", "BroadcastTo", "Permute", "Flip", "Pad", "GetItem", "Take"})
_REDUCE = frozenset({"Sum", "Mean", "Max", "Var"})
_ELEMENTWISE = frozenset({
    "Add", "Subtract", "Multiply", "Divide", "Negative", "PowerScalar", "RPowerScalar", "Exp",
    "Log", "Sqrt", "Abs", "Sin", "Cos", "Tanh", "Sigmoid", "Maximum", "Minimum", "Where",
    "Clip", "AsType", "ToDevice"})


def conv_kind(name):
    """``conv2d`` or ``conv_transpose2d`` for a convolution Function's class name (any of the
    algorithms ``conv2d()`` chooses between), else None."""
    if name.startswith("ConvTranspose2d"):
        return "conv_transpose2d"
    if name.startswith("Conv2d"):
        return "conv2d"
    return None


def op_category(cls):
    """The row of the per-op table a Function class is counted in (by class name, so that it
    does not depend on which file of ``arrayneedle.ops`` defines it)."""
    name = cls.__name__
    kind = conv_kind(name) or _SPECIAL.get(name)
    if kind:
        return kind
    if name in _ELEMENTWISE:
        return "other elementwise"
    if name in _SHAPE:
        return "other shape ops"
    if name in _REDUCE:
        return "reductions (loss)"
    return name


def conv_flops(kind, x_shape, w_shape, y_shape):
    """Multiply-adds times two of one convolution's forward."""
    if kind == "conv2d":
        N, Co, OH, OW = y_shape
        _, C, kh, kw = w_shape
        return 2 * N * OH * OW * Co * C * kh * kw
    N, Cin, H, W = x_shape
    _, Cout, kh, kw = w_shape
    return 2 * N * H * W * Cin * Cout * kh * kw


class OpTimer:
    """Times every Function's forward and backward while installed (``install(model)`` /
    ``uninstall()``); ``phase`` receives the training step's forward/backward/optimizer split
    from ``AnWorkload.train_step``."""

    def __init__(self, sync):
        self.sync = sync
        self.fwd = defaultdict(float)
        self.bwd = defaultdict(float)
        self.calls = defaultdict(int)
        self.phase = defaultdict(float)
        self.convs = []
        self.scope = None
        self._tags = {}  # id(Function) -> (category, conv record), from its forward to backward
        self._handles = []
        self._bn_t0 = 0.0
        self._attention = 0  # depth of Attention forwards running now

    def install(self, model):
        self._handles.append(register_function_hook(self._on_function))
        for m in model.modules():
            if isinstance(m, (an.nn.BatchNorm1d, an.nn.BatchNorm2d)):
                self._handles.append(forward_hooks(m, self._bn_enter, self._bn_exit))
            elif isinstance(m, Attention):
                self._handles.append(forward_hooks(m, self._attn_enter, self._attn_exit))
        return self

    def uninstall(self):
        for h in reversed(self._handles):
            h.remove()
        self._handles.clear()
        self._tags.clear()
        self.scope = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.uninstall()

    # ---- BatchNorm layers: one scope around the whole forward ----
    def _bn_enter(self, module):
        if self.scope is None:
            self.scope = "batchnorm2d"
            self.sync()
            self._bn_t0 = time.perf_counter()

    def _bn_exit(self, module):
        self.sync()
        self.fwd["batchnorm2d"] += time.perf_counter() - self._bn_t0
        self.calls["batchnorm2d"] += 1
        self.scope = None

    def _attn_enter(self, module):
        self._attention += 1

    def _attn_exit(self, module):
        self._attention -= 1

    # ---- every Function ----
    def _on_function(self, fn, phase, arrays, params):
        if phase == "backward":
            return self._time_backward(fn)
        tracked = any(fn.needs_input_grad)
        if self.scope is not None:
            if tracked:
                self._tags[id(fn)] = (self.scope, None)
            return None
        cat = op_category(type(fn))
        if self._attention and cat == "matmul (Linear)":
            cat = "attention matmuls"
        self.sync()
        t0 = time.perf_counter()

        def after(out):
            self.sync()
            dt = time.perf_counter() - t0
            self.fwd[cat] += dt
            self.calls[cat] += 1
            rec = None
            kind = conv_kind(type(fn).__name__)
            if kind is not None:
                x, w = arrays[0], arrays[1]
                flops = conv_flops(kind, tuple(x.shape), tuple(w.shape), tuple(out.shape))
                rec = {"op": cat, "x": list(x.shape), "w": list(w.shape),
                       "stride": list(params.get("stride", (1, 1))),
                       "padding": list(params.get("padding", (0, 0))),
                       "fwd_s": dt, "bwd_s": 0.0, "fwd_flops": flops,
                       "bwd_flops": flops * sum(fn.needs_input_grad[:2]) if tracked else 0}
                self.convs.append(rec)
            if tracked:
                self._tags[id(fn)] = (cat, rec)
        return after

    def _time_backward(self, fn):
        tag = self._tags.pop(id(fn), None)
        cat, rec = tag if tag else (op_category(type(fn)), None)
        self.sync()
        t0 = time.perf_counter()

        def after(_):
            self.sync()
            dt = time.perf_counter() - t0
            self.bwd[cat] += dt
            if rec is not None:
                rec["bwd_s"] += dt
        return after

    def table(self):
        cats = sorted(set(self.fwd) | set(self.bwd),
                      key=lambda c: -(self.fwd.get(c, 0) + self.bwd.get(c, 0)))
        return [{"op": c, "calls": self.calls.get(c, 0), "fwd_s": self.fwd.get(c, 0.0),
                 "bwd_s": self.bwd.get(c, 0.0)} for c in cats]


def _one_instrumented(work, sync, sampling):
    with OpTimer(sync).install(work.model) as timer:
        sync()
        t0 = time.perf_counter()
        if sampling:
            work.sample_step()
        else:
            work.train_step(timer)
        sync()
        total = time.perf_counter() - t0
    return timer, total


def instrumented_step(work, sync, sampling=False, repeats=3):
    """One training step (or sampling step) with every op timed: the fastest of ``repeats``
    instrumented steps after a plain warm-up step (a single step is at the mercy of the
    machine's other load)."""
    (work.sample_step if sampling else work.train_step)()
    sync()
    timer, total = min((_one_instrumented(work, sync, sampling) for _ in range(repeats)),
                       key=lambda r: r[1])
    rows = timer.table()
    fwd_ops = sum(r["fwd_s"] for r in rows)
    bwd_ops = sum(r["bwd_s"] for r in rows)
    if sampling:
        rows.append({"op": "Python, modules, time embedding", "calls": 0,
                     "fwd_s": max(total - fwd_ops, 0.0), "bwd_s": 0.0})
    else:
        rows.append({"op": "Adam update", "calls": 1, "fwd_s": 0.0,
                     "bwd_s": 0.0, "other_s": timer.phase["optimizer (Adam)"]})
        rows.append({"op": "forward: Python, modules, time embedding", "calls": 0,
                     "fwd_s": max(timer.phase["forward (incl. loss)"] - fwd_ops, 0.0),
                     "bwd_s": 0.0})
        rows.append({"op": "backward: graph walk, grad accumulation", "calls": 0, "fwd_s": 0.0,
                     "bwd_s": max(timer.phase["backward"] - bwd_ops, 0.0)})
    for r in rows:
        r["total_s"] = r["fwd_s"] + r["bwd_s"] + r.get("other_s", 0.0)
        r["share"] = r["total_s"] / total
    return {"total_s": total, "phases": dict(timer.phase), "ops": rows, "convs": timer.convs}
