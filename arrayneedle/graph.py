"""The backward graph walk: ``Tensor.backward`` and ``autograd.grad`` are one walk
(``backward`` is ``grad`` into the leaves), plus post-accumulate-grad hooks and end-of-backward
callbacks.

The walk visits the graph once in reverse topological order (iteratively, so deep graphs do
not hit the recursion limit). It runs each node's backward formula under ``no_grad`` (no graph
cost) or, with ``create_graph=True``, under ``enable_grad`` so that the gradients are Tensors
in a graph of their own and can be differentiated again. Unless ``retain_graph`` it frees every
node it passed, so no reference cycles are left behind and memory stays flat from one training
step to the next; a second walk through a freed node raises PyTorch's error.
"""
from __future__ import annotations

import threading
import warnings

import array_api_compat

from . import grad_mode
from .autograd import Tensor, _check_versions
from .hooks import _function_hooks, _observed

__all__ = ["backward", "grad", "queue_callback"]

_state = threading.local()  # the running backward's callback queue (queue_callback)

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")


class _ShapeMismatch(RuntimeError, ValueError):
    """A gradient of the wrong shape: PyTorch's RuntimeError, and a ValueError for code that
    catches bad arguments."""


def queue_callback(callback):
    """Run ``callback()`` once the running ``backward`` has finished every gradient, before
    it returns (how a post-accumulate-grad hook waits for work it started)."""
    queue = getattr(_state, "callbacks", None)
    if queue is None:
        raise RuntimeError("queue_callback: only callable while backward() runs")
    queue.append(callback)


def _seeds(roots, grads, create_graph):
    """The gradient of each root as a Tensor: ones for a scalar root when none is given (the
    one place where seeds are made, for ``backward`` and ``grad`` alike)."""
    if grads is None:
        grads = (None,) * len(roots)
    elif isinstance(grads, Tensor):
        grads = (grads,)
    grads = tuple(grads)
    if len(grads) != len(roots):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got "
                           f"{len(grads)} gradients for {len(roots)} outputs")
    out = []
    for i, (r, g) in enumerate(zip(roots, grads)):
        if not isinstance(r, Tensor) or not r.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               f"a grad_fn (no input had requires_grad=True, or it was made "
                               f"under no_grad)")
        arr = r._array
        if g is None:
            if r.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"output {i} has shape {tuple(r.shape)}: pass a gradient of "
                                   f"the same shape")
            g = Tensor._wrap(r._device.xp.ones(arr.shape, dtype=arr.dtype), r._device)
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(r._device.asarray(g, arr.dtype), r._device)
        if tuple(g.shape) != tuple(arr.shape):
            raise _ShapeMismatch(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                 f"{tuple(g.shape)} and output[{i}] has a shape of "
                                 f"{tuple(arr.shape)}")
        if not create_graph and g._ctx is not None:
            g = g.detach()
        out.append(g)
    return out


def _toposort(roots):
    """Tensors reachable from ``roots`` through creators, in reverse topological order."""
    order, visited = [], set()
    stack = [(r, False) for r in reversed(roots)]
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


_CYCLE = ("Using backward() with create_graph=True will create a reference cycle between the "
          "parameter and its gradient which can cause a memory leak. We recommend using "
          "autograd.grad when creating the graph to avoid this. If you have to use this "
          "function, make sure to reset the .grad fields of your parameters to None after use "
          "to break the cycle and avoid the leak.")
_warned = []


def _accumulate(t, g, handed, create_graph):
    """Add ``g`` into ``t.grad`` and run t's post-accumulate-grad hooks."""
    if create_graph:  # .grad is then in the graph (a Tensor op), and owns its memory
        if g.requires_grad and t._ctx is None and not _warned:
            _warned.append(True)  # PyTorch warns once per process
            warnings.warn(_CYCLE, UserWarning, stacklevel=4)
        if t.grad is None:
            t.grad = g if _own(g._array, handed) is g._array else g.clone()
        else:
            t.grad = t.grad + g
    elif t.grad is None:
        t.grad = Tensor._wrap(_own(g._array, handed), t._device)
    else:
        t.grad = Tensor._wrap(t.grad._array + g._array, t._device)
    hooks = getattr(t, "_post_acc_hooks", None)
    if hooks:
        for hook in list(hooks.values()):
            hook(t)


def _free(ctx):
    # the node forgets its inputs and saved arrays (it keeps no reference to its output, so
    # nothing forms a cycle)
    ctx.parents = ()
    ctx.versions = ctx.creators = ()
    ctx._out_vc = None
    ctx.__dict__.clear()


def _run(ctx, t, g, create_graph):
    """ctx's backward for the gradient ``g`` of its output ``t``: a tuple of Tensors/None."""
    ctx._output = t
    try:
        res = (_observed(ctx, "backward", ctx.backward, (g,), {}) if _function_hooks
               else ctx.backward(g))
    finally:
        ctx._output = None
    return res if isinstance(res, (tuple, list)) else (res,)


def _walk(roots, seeds, inputs, accumulate, retain, create_graph):
    """The one walk. ``inputs`` None: every leaf gets its gradient accumulated (backward).
    Otherwise only the part of the graph that leads to ``inputs`` runs, and their gradients
    are accumulated into ``.grad`` (``accumulate``) or returned by ``id``."""
    order = _toposort(roots)
    grads = {}
    for r, g in zip(roots, seeds):
        k = id(r)
        grads[k] = g if k not in grads else _add(grads[k], g, create_graph)
    wanted = leads = None
    if inputs is not None:
        wanted = {id(t) for t in inputs}
        leads = set()  # nodes from which some input is reachable: only these are run
        for t in reversed(order):  # creators before what they made
            ctx = t._ctx
            if ctx is not None and not ctx.parents:
                raise RuntimeError(_FREED)
            if id(t) in wanted or (ctx is not None and any(id(p) in leads
                                                           for p in ctx.parents)):
                leads.add(id(t))
    found, handed = {}, set()
    for t in order:
        g = grads.pop(id(t), None)
        ctx = t._ctx
        if leads is not None:
            if g is None or id(t) not in leads:
                continue
            if id(t) in wanted:
                if accumulate:
                    _accumulate(t, g, handed, create_graph)
                else:
                    found[id(t)] = g
            if ctx is None or not any(id(p) in leads for p in ctx.parents):
                continue
        elif ctx is None:
            if g is not None:
                _accumulate(t, g, handed, create_graph)
            continue
        parents = ctx.parents
        if not parents:
            raise RuntimeError(_FREED)
        if g is not None:
            if accumulate and getattr(t, "_retain", False):
                t.grad = g if t.grad is None else _add(t.grad, g, create_graph)
            _check_versions(ctx)
            in_grads = _run(ctx, t, g, create_graph)
            for p, pg in zip(parents, in_grads):
                if pg is None or not p.requires_grad:
                    continue
                if tuple(pg.shape) != tuple(p._array.shape):
                    raise RuntimeError(f"{type(ctx).__name__}.backward returned a gradient of "
                                       f"shape {tuple(pg.shape)} for an input of shape "
                                       f"{tuple(p._array.shape)}")
                k = id(p)
                prev = grads.get(k)
                grads[k] = pg if prev is None else _add(prev, pg, create_graph)
        if not retain:
            _free(ctx)
    return found


def _add(a, b, create_graph):
    return a + b if create_graph else Tensor._wrap(a._array + b._array, a._device)


def _run_walk(roots, seeds, inputs, accumulate, retain, create_graph):
    outer = getattr(_state, "callbacks", None)
    _state.callbacks = queue = []
    mode = grad_mode.is_grad_enabled()
    grad_mode._set_mode(create_graph)
    try:
        found = _walk(roots, seeds, inputs, accumulate, retain, create_graph)
        for callback in queue:  # a callback may queue more; they run in order
            callback()
    finally:
        grad_mode._set_mode(mode)
        _state.callbacks = outer
    return found


def _inputs(inputs, name):
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if not inputs:
        raise RuntimeError(f"{name}: inputs must be a non-empty sequence of Tensors")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"{name}: One of the differentiated Tensors (inputs[{i}]) does "
                               f"not require grad")
    return inputs


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``torch.autograd.backward``: accumulate the gradients of ``tensors`` (weighted by
    ``grad_tensors``) into the ``.grad`` of every leaf, or only of ``inputs``."""
    roots = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    seeds = _seeds(roots, grad_tensors, create_graph)
    if inputs is not None:
        inputs = _inputs(inputs, "backward")
    retain = create_graph if retain_graph is None else retain_graph
    _run_walk(roots, seeds, inputs, True, retain, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, *,
         materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (a tuple of Tensors, one per
    input), as ``torch.autograd.grad``: no ``.grad`` attribute is read or written, and only the
    part of the graph that leads to ``inputs`` is run. ``grad_outputs`` weights each output
    (default: 1 for scalar outputs). The graph is freed unless ``retain_graph`` (default:
    ``create_graph``). With ``create_graph=True`` the gradients are Tensors in a graph and can
    be differentiated again. An input the outputs do not depend on is an error unless
    ``allow_unused`` (then ``None``, or zeros with ``materialize_grads``). ``only_inputs`` is
    accepted and ignored, as in PyTorch."""
    if is_grads_batched:
        raise RuntimeError("autograd.grad: is_grads_batched=True (vmap over grad_outputs) is "
                           "not supported; call grad once per gradient")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    roots = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = _inputs(inputs, "autograd.grad")
    seeds = _seeds(roots, grad_outputs, create_graph)
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    retain = create_graph if retain_graph is None else retain_graph
    found = _run_walk(roots, seeds, inputs, False, retain, create_graph)
    result = []
    for t in inputs:
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used "
                               "in the graph. Set allow_unused=True if this is the desired "
                               "behavior.")
        if g is None and materialize_grads:
            g = Tensor._wrap(t._device.xp.zeros_like(t._array), t._device)
        result.append(g)
    return tuple(result)
