"""Tensor and reverse-mode automatic differentiation.

A ``Function`` computes on raw arrays (``forward``) and maps the output gradient to input
gradients (``backward``), saving only what backward needs. ``Function.apply`` wraps the result
in a ``Tensor`` that remembers its creator. ``Tensor.backward`` walks the graph once in
reverse topological order (iteratively, so deep graphs do not hit the recursion limit),
accumulates gradients into leaves and frees every node it passed, so no reference cycles are
left behind and memory stays flat from one training step to the next.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import array_api_compat

from . import backend
from .backend import Device, device_of, dtype_name

__all__ = ["Tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
           "register_function_hook", "RemovableHandle", "queue_callback", "grad"]

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


def set_grad_enabled(mode: bool):
    _state.grad_enabled = bool(mode)


class _GradMode:
    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.prev = is_grad_enabled()
        set_grad_enabled(self.mode)

    def __exit__(self, *exc):
        set_grad_enabled(self.prev)

    def __call__(self, fn):  # usable as a decorator
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with _GradMode(self.mode):
                return fn(*a, **k)
        return wrapper


def no_grad():
    """Context manager (or decorator) under which no graph is built."""
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


class DeviceMismatchError(RuntimeError, ValueError):
    """Operands of one op live on different devices. A RuntimeError as in PyTorch, and a
    ValueError so that code catching bad-argument errors catches it too."""


# ---- observers ----
class RemovableHandle:
    """What a ``register_*_hook`` call returns: ``remove()`` unregisters the hook (a second call
    does nothing); as a context manager it removes the hook on exit."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook
        hooks.append(hook)

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# Read by Function.apply and the backward walk with one truth test, so a process without
# observers pays nothing else.
_function_hooks: list = []


def register_function_hook(hook) -> RemovableHandle:
    """Observe every ``Function``'s forward and backward, process-wide (profilers, benchmarks).

    ``hook(fn, phase, arrays, params)`` runs just before ``fn.forward`` (``phase`` "forward",
    ``arrays`` the raw input arrays, ``params`` the keyword parameters) or ``fn.backward``
    (``phase`` "backward", ``arrays`` ``(grad_out,)``, ``params`` ``{}``). ``fn`` is the
    Function object: ``type(fn)`` names the op, ``fn.needs_input_grad`` tells which input
    gradients were asked for (none: no graph node is kept), and the same object is seen again
    at its backward. The hook may return a callable, which is called with the result (forward:
    the output array; backward: what ``backward`` returned) right after. Hooks observe only:
    they must not change the arrays. Returns a ``RemovableHandle``."""
    if not callable(hook):
        raise TypeError(f"register_function_hook expects a callable, got {type(hook).__name__}")
    return RemovableHandle(_function_hooks, hook)


def _observed(fn, phase, method, arrays, params):
    after = [a for a in (h(fn, phase, arrays, params) for h in tuple(_function_hooks))
             if a is not None]
    out = method(*arrays, **params)
    for a in after:
        a(out)
    return out


def _is_array(x):
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (bool, int, float, complex))


class Function:
    """One differentiable operation. Subclasses implement ``forward`` and ``backward``.

    ``forward(*arrays, **params)`` returns one array; ``backward(grad)`` returns one gradient
    per array input (a tuple, or a single array for one input; ``None`` where no gradient
    flows). ``self.needs_input_grad`` tells backward which gradients are wanted.
    """

    __slots__ = ("parents", "needs_input_grad", "__dict__")

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} is not differentiable")

    @classmethod
    def apply(cls, *tensors, **params):
        dev = None
        for t in tensors:
            if not isinstance(t, Tensor):
                raise TypeError(f"{cls.__name__} expects Tensors, got {type(t).__name__}")
            if dev is None:
                dev = t._device
            elif t._device is not dev:
                raise DeviceMismatchError(
                    f"{cls.__name__}: operands are on different devices ({dev} and {t._device}); "
                    f"move them with .to(device) first")
        fn = cls()
        # Under no_grad nothing will call backward, so every op is told that no input needs a
        # gradient: forwards then skip saving what backward would read (im2col columns, masks,
        # normalised activations), which keeps sampling memory and time down.
        if is_grad_enabled():
            need = tuple(t.requires_grad for t in tensors)
        else:
            need = (False,) * len(tensors)
        track = any(need)
        fn.needs_input_grad = need
        arrays = [t.array for t in tensors]
        if _function_hooks:
            out = _observed(fn, "forward", fn.forward, arrays, params)
        else:
            out = fn.forward(*arrays, **params)
        if not track:
            return Tensor._wrap(out, dev)
        fn.parents = tensors
        return Tensor._wrap(out, dev, requires_grad=True, ctx=fn)


class Tensor:
    """An n-dimensional array on a device, with optional gradient tracking."""

    __slots__ = ("array", "grad", "requires_grad", "_ctx", "_device", "_post_acc_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # make ndarray OP Tensor defer to Tensor.__rOP__

    def __init__(self, data, device=None, dtype=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.array
        dev = backend.device(device) if device is not None else (
            device_of(data) if _is_array(data) else backend.cpu())
        if dtype is None and not _is_array(data):
            # Python data: floats default to float32, ints to int64, bools stay bool
            import numpy as _np
            probe = _np.asarray(data)
            if probe.dtype.kind == "f":
                dtype = "float32"
            elif probe.dtype.kind in "iu":
                dtype = "int64"
            elif probe.dtype.kind != "b":
                raise TypeError(f"cannot make a Tensor from {type(data).__name__} data "
                                f"of dtype {probe.dtype}")
            data = probe
        arr = dev.asarray(data, dtype)
        dtype_name(arr.dtype)  # raises a clear TypeError for unsupported dtypes
        self.array = arr
        self.grad = None
        self._ctx = None
        self._device = dev
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def from_array(cls, array, device=None) -> "Tensor":
        """Wrap a raw array (NumPy, CuPy or another array-API array) without copying it; the
        Tensor shares memory with ``array``. ``device``, if given, must be the array's own."""
        if not _is_array(array):
            raise TypeError(f"Tensor.from_array expects an array, got {type(array).__name__}; "
                            f"use Tensor(data) to convert other data")
        dev = device_of(array)
        if device is not None and backend.device(device) is not dev:
            raise ValueError(f"Tensor.from_array: the array lives on {dev}, not on "
                             f"{backend.device(device)}; use Tensor(array, device=...) to copy it")
        return cls._wrap(array, dev)

    @classmethod
    def _wrap(cls, array, dev: Device, requires_grad=False, ctx=None):
        t = cls.__new__(cls)
        t.array = array
        t.grad = None
        t._device = dev
        t.requires_grad = requires_grad
        t._ctx = ctx
        return t

    # ---- properties ----
    @property
    def data(self):
        """PyTorch's ``.data``: a Tensor sharing this one's memory, outside the graph (no grad,
        no version tracking), e.g. for in-place initialisation ``p.data.normal_(0, 0.02)``. The
        raw NumPy/CuPy array is ``.array``."""
        return Tensor._wrap(self.array, self._device)

    @data.setter
    def data(self, value):
        """``p.data = t`` makes ``p`` use ``t``'s array (a raw array is accepted too)."""
        arr = value.array if isinstance(value, Tensor) else value
        if not _is_array(arr):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        if device_of(arr) is not self._device:
            raise DeviceMismatchError(f"cannot set .data of a Tensor on {self._device} to an "
                                      f"array on {device_of(arr)}")
        self.array = arr

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def size(self):
        n = 1
        for s in self.array.shape:
            n *= s
        return n

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_leaf(self):
        return self._ctx is None

    def requires_grad_(self, mode=True):
        if mode and dtype_name(self.array.dtype) not in ("float16", "float32", "float64"):
            raise TypeError(f"only floating-point tensors can require gradients, "
                            f"got dtype {dtype_name(self.array.dtype)}")
        self.requires_grad = bool(mode)
        return self

    @property
    def xp(self):
        return self._device.xp

    # ---- conversion ----
    def detach(self) -> "Tensor":
        return Tensor._wrap(self.array, self._device)

    def numpy(self):
        """The data as a NumPy array (a copy from the GPU; the array itself on the CPU)."""
        from .backend import to_numpy
        import numpy as _np
        return _np.asarray(to_numpy(self.array))

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device=None, dtype=None) -> "Tensor":
        """A copy on ``device`` and/or with ``dtype`` (differentiable)."""
        from . import ops
        out = self
        if device is not None and backend.device(device) is not self._device:
            out = ops.to_device(out, backend.device(device))
        if dtype is not None and dtype_name(dtype) != dtype_name(out.dtype):
            out = ops.astype(out, dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(backend.cuda(index))

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def astype(self, dtype):
        return self.to(dtype=dtype)

    def __repr__(self):
        extra = f", device='{self._device}'" if self._device.kind != "cpu" else ""
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = str(self.numpy()) if self.size <= 64 else f"<shape {self.shape}>"
        return f"Tensor({body}, dtype={dtype_name(self.dtype)}{extra}{grad})"

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __bool__(self):
        if self.size != 1:
            raise ValueError("the truth value of a tensor with more than one element is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __hash__(self):
        return id(self)

    # ---- autograd ----
    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``; frees the graph."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad)")
        xp = self._device.xp
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar output; this "
                                   f"tensor has shape {self.shape}: pass grad= of the same shape")
            g = xp.ones(self.array.shape, dtype=self.array.dtype)
        else:
            g = grad.array if isinstance(grad, Tensor) else self._device.asarray(grad, self.array.dtype)
            if tuple(g.shape) != self.shape:
                raise ValueError(f"backward(): grad has shape {tuple(g.shape)}, "
                                 f"expected {self.shape}")
        _run_backward(self, g)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` during ``backward`` each time this leaf's ``.grad`` has taken
        its final value for that backward (PyTorch's name). Returns a handle whose
        ``remove()`` unregisters it."""
        if not self.is_leaf or not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors that "
                               "require grad accumulate a gradient")
        hooks = getattr(self, "_post_acc_hooks", None)
        if hooks is None:
            hooks = self._post_acc_hooks = {}
        return _HookHandle(hooks, hook)

    # operators and methods are attached in arrayneedle/ops/__init__.py


class _HookHandle:
    _next_id = 0

    def __init__(self, hooks, hook):
        _HookHandle._next_id += 1
        self.id = _HookHandle._next_id
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


def _run_backward(root, g):
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
    for t in order:
        g = grads.pop(id(t), None)
        ctx = t._ctx
        if ctx is None:  # leaf
            if g is None:
                continue
            if t.grad is None:
                t.grad = Tensor._wrap(g, t._device)
            else:
                t.grad = Tensor._wrap(t.grad.array + g, t._device)
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
            in_grads = (_observed(ctx, "backward", ctx.backward, (g,), {}) if _function_hooks
                        else ctx.backward(g))
            if not isinstance(in_grads, (tuple, list)):
                in_grads = (in_grads,)
            for p, pg in zip(parents, in_grads):
                if pg is None or not p.requires_grad:
                    continue
                if tuple(pg.shape) != tuple(p.array.shape):
                    raise RuntimeError(f"{type(ctx).__name__}.backward returned a gradient of "
                                       f"shape {tuple(pg.shape)} for an input of shape "
                                       f"{tuple(p.array.shape)}")
                k = id(p)
                prev = grads.get(k)
                grads[k] = pg if prev is None else prev + pg
        # free the graph: the node forgets its inputs and saved arrays (it keeps no reference
        # to its output, so nothing forms a cycle)
        ctx.parents = ()
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
            if out.size != 1:
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
