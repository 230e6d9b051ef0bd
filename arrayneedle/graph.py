"""The backward graph walk: ``Tensor.backward`` (through ``run_backward``), ``autograd.grad``,
post-accumulate-grad hooks and end-of-backward callbacks.

The walk visits the graph once in reverse topological order (iteratively, so deep graphs do
not hit the recursion limit), accumulates gradients into leaves and frees every node it passed,
so no reference cycles are left behind and memory stays flat from one training step to the
next.
"""
from __future__ import annotations

import threading

import array_api_compat

from .autograd import Tensor, _check_versions
from .hooks import _function_hooks, _observed

__all__ = ["grad", "queue_callback", "run_backward", "HookHandle"]

_state = threading.local()  # the running backward's callback queue (queue_callback)


class HookHandle:
    _next_id = 0

    def __init__(self, hooks, hook):
        HookHandle._next_id += 1
        self.id = HookHandle._next_id
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self):
        self._hooks.pop(self.id, None)


def queue_callback(callback):
    """Run ``callback()`` once the running ``backward`` has finished every gradient, before
    it returns (how a post-accumulate-grad hook waits for work it started)."""
    queue = getattr(_state, "callbacks", None)
    if queue is None:
        raise RuntimeError("queue_callback: only callable while backward() runs")
    queue.append(callback)


def _toposort(root):
    """Tensors reachable from root through creators, in reverse topological order."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        ctx = t._ctx
        if ctx is not None:
            for p in ctx.parents:
                if p.requires_grad and id(p) not in visited:
                    stack.append((p, False))
    order.reverse()
    return order


def _own(g, handed):
    """``g`` as an array that a leaf's ``.grad`` may own: in-place changes to one gradient
    (``p.grad.mul_``, clipping) must not reach another parameter's. A backward hands the
    same array, or views of it, to several inputs (add gives both its gradient; reshape a
    view) and may hand out broadcast views (zero strides, read-only in NumPy): those are
    copied, once per parameter and only then."""
    base = getattr(g, "base", None)
    key = id(g if base is None else base)
    strides = getattr(g, "strides", None) or ()
    if key in handed or 0 in strides:
        g = array_api_compat.array_namespace(g).asarray(g, copy=True)
        key = id(g)
    handed.add(key)
    return g


def run_backward(root, g):
    outer = getattr(_state, "callbacks", None)
    _state.callbacks = queue = []
    try:
        _walk(root, g)
        for callback in queue:  # a callback may queue more; they run in order
            callback()
    finally:
        _state.callbacks = outer


def _walk(root, g):
    order = _toposort(root)
    grads = {id(root): g}
    handed = set()  # arrays (or their bases) already given to a leaf's .grad
    for t in order:
        g = grads.pop(id(t), None)
        ctx = t._ctx
        if ctx is None:  # leaf
            if g is None:
                continue
            if t.grad is None:
                t.grad = Tensor._wrap(_own(g, handed), t._device)
            else:
                t.grad = Tensor._wrap(t.grad._array + g, t._device)
            hooks = getattr(t, "_post_acc_hooks", None)
            if hooks:
                for hook in list(hooks.values()):
                    hook(t)
            continue
        parents = ctx.parents
        if not parents:
            raise RuntimeError("backward through a graph that was already freed by an earlier "
                               "backward(); recompute the forward pass")
        if g is not None:
            if getattr(t, "_retain", False):
                t.grad = Tensor._wrap(g if t.grad is None else t.grad._array + g, t._device)
            _check_versions(ctx)
            in_grads = (_observed(ctx, "backward", ctx.backward, (g,), {}) if _function_hooks
                        else ctx.backward(g))
            if not isinstance(in_grads, (tuple, list)):
                in_grads = (in_grads,)
            for p, pg in zip(parents, in_grads):
                if pg is None or not p.requires_grad:
                    continue
                if tuple(pg.shape) != tuple(p._array.shape):
                    raise RuntimeError(f"{type(ctx).__name__}.backward returned a gradient of "
                                       f"shape {tuple(pg.shape)} for an input of shape "
                                       f"{tuple(p._array.shape)}")
                k = id(p)
                prev = grads.get(k)
                grads[k] = pg if prev is None else prev + pg
        # free the graph: the node forgets its inputs and saved arrays (it keeps no reference
        # to its output, so nothing forms a cycle)
        ctx.parents = ()
        ctx.versions = ()
        ctx.saved_output = None
        ctx.__dict__.clear()


class _AllOutputs:
    __slots__ = ("parents",)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, *, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple of Tensors, one per
    input), as ``torch.autograd.grad``: no ``.grad`` attribute is read or written, and only the
    part of the graph that leads to ``inputs`` is run. ``grad_outputs`` weights each output
    (default: 1 for scalar outputs). The graph is freed unless ``retain_graph=True``. An input
    the outputs do not depend on is an error unless ``allow_unused`` (then ``None``, or zeros
    with ``materialize_grads``). ``only_inputs`` is accepted and ignored, as in PyTorch."""
    if create_graph:
        raise RuntimeError("autograd.grad(create_graph=True): higher-order gradients are not "
                           "supported; backward runs on raw arrays and records no graph, so "
                           "gradients of gradients cannot be taken")
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: got {len(grad_outputs)} grad_outputs for "
                         f"{len(outputs)} outputs")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: inputs[{i}] does not require grad")
    grads = {}
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise RuntimeError(f"autograd.grad: element {i} of outputs does not require grad "
                               f"and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(f"autograd.grad: a gradient can be implicitly created only "
                                   f"for scalar outputs; output {i} has shape {out.shape}: "
                                   f"pass grad_outputs")
            g = out._device.xp.ones(out.array.shape, dtype=out.array.dtype)
        else:
            g = g.array if isinstance(g, Tensor) else out._device.asarray(g, out.array.dtype)
            if tuple(g.shape) != out.shape:
                raise ValueError(f"autograd.grad: grad_outputs[{i}] has shape "
                                 f"{tuple(g.shape)}, output {i} has {out.shape}")
        grads[id(out)] = g if id(out) not in grads else grads[id(out)] + g
    wanted = {id(t) for t in inputs}
    joint = _AllOutputs()  # one creator of all outputs, so that one walk orders them together
    joint.parents = outputs
    order = _toposort(Tensor._wrap(None, outputs[0]._device, requires_grad=True, ctx=joint))[1:]
    leads = set()  # nodes from which some input is reachable: only these are run
    for t in reversed(order):  # creators before what they made
        if t._ctx is not None and not t._ctx.parents:
            raise RuntimeError("autograd.grad through a graph that was already freed by an "
                               "earlier backward; recompute the forward pass, or pass "
                               "retain_graph=True to the earlier call")
        if id(t) in wanted or (t._ctx is not None and any(id(p) in leads
                                                          for p in t._ctx.parents)):
            leads.add(id(t))
    found, retain = {}, create_graph if retain_graph is None else retain_graph
    for t in order:
        g = grads.pop(id(t), None)
        if g is None or id(t) not in leads:
            continue
        if id(t) in wanted:
            found[id(t)] = g
        ctx = t._ctx
        if ctx is None or not any(id(p) in leads for p in ctx.parents):
            continue
        _check_versions(ctx)
        in_grads = (_observed(ctx, "backward", ctx.backward, (g,), {}) if _function_hooks
                    else ctx.backward(g))
        if not isinstance(in_grads, (tuple, list)):
            in_grads = (in_grads,)
        for p, pg in zip(ctx.parents, in_grads):
            if pg is not None and p.requires_grad and id(p) in leads:
                if tuple(pg.shape) != p.shape:
                    raise RuntimeError(f"{type(ctx).__name__}.backward returned a gradient of "
                                       f"shape {tuple(pg.shape)} for an input of shape {p.shape}")
                k = id(p)
                grads[k] = pg if k not in grads else grads[k] + pg
        if not retain:
            ctx.parents = ()
            ctx.versions = ()
            ctx.saved_output = None
            ctx.__dict__.clear()
    result = []
    for t in inputs:
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("autograd.grad: one of the differentiated Tensors appears to not "
                               "have been used in the graph; set allow_unused=True if this is "
                               "the desired behavior")
        if g is None and materialize_grads:
            g = t._device.xp.zeros_like(t.array)
        result.append(None if g is None else Tensor._wrap(g, t._device))
    return tuple(result)
