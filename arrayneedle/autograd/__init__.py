"""Tensor and reverse-mode automatic differentiation.

A ``Function`` computes on raw arrays (``forward``) and maps the output gradient to input
gradients (``backward``) with differentiable Tensor operations, so gradients can themselves be
differentiated (``create_graph=True``). ``Function.apply`` wraps the result in a ``Tensor``
that remembers its creator. ``Tensor.backward`` and ``grad`` are one walk (graph.py) over the
graph in reverse topological order (iteratively, so deep graphs do not hit the recursion
limit); it frees every node it passed unless ``retain_graph``, so no reference cycles are left
behind and memory stays flat from one training step to the next. ``functional`` has vjp, jvp,
jacobian, hessian, hvp, vhp; ``gradcheck``/``gradgradcheck`` check first and second
derivatives against finite differences.
"""
from __future__ import annotations


import array_api_compat

from .. import backend
from ..backend import Device, device_of, dtype_name
from ..hooks import (RemovableHandle, _function_hooks, _observed, _quiet,  # noqa: F401
                    register_function_hook)
from ..grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                        set_grad_enabled)

__all__ = ["Tensor", "Size", "Function", "no_grad", "enable_grad", "is_grad_enabled",
           "set_grad_enabled", "inference_mode", "increment_version", "register_function_hook",
           "RemovableHandle", "queue_callback", "grad", "backward", "functional", "gradcheck",
           "gradgradcheck"]


class DeviceMismatchError(RuntimeError, ValueError):
    """Operands of one op live on different devices. A RuntimeError as in PyTorch, and a
    ValueError so that code catching bad-argument errors catches it too."""


def _is_array(x):
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (bool, int, float, complex))


class Function:
    """One differentiable operation. Subclasses implement ``forward`` and ``backward``.

    The contract (Chainer's ``FunctionNode``; PyTorch's derivative formulas):

    - ``forward(self, *arrays, **params) -> array`` computes on raw arrays and saves on
      ``self`` what backward needs. ``self.needs_input_grad`` (one bool per input) tells which
      gradients will be asked for: a forward saves nothing for the others.
    - ``backward(self, grad)``: ``grad`` is a **Tensor**; it returns a Tensor (one input) or a
      tuple of Tensors/None, one per input (None where no gradient flows). It computes ONLY
      with differentiable Tensor-level operations (Tensor methods and operators, arrayneedle
      functions, ``OtherFunction.apply(...)`` of Functions that follow this contract), so the
      same formula records a graph when one is asked for (``create_graph=True``: the walk runs
      it under ``enable_grad``) and costs no graph node otherwise (under ``no_grad``).
      ``arrayneedle.is_grad_enabled()`` inside backward is True exactly when a graph is
      recorded: a formula MAY then take a fast path on raw arrays when it is False, provided
      both paths give the same values.
    - Differentiable quantities a formula reads are Tensors: the inputs as
      ``self.parents[i]``, the node's own output (exp, tanh, sigmoid...) as
      ``self.saved_output()`` (declare ``saves_output = True``). Non-differentiable saved data
      (masks, integer indices, im2col columns) stay raw arrays on ``self``, wrapped with
      ``Tensor._wrap(array, device)`` where a formula needs a Tensor.
    - ``keeps_inputs`` says which inputs backward reads, so that only those are checked
      against in-place changes (PyTorch's saved tensors): True (all, the default), False
      (none: add, reshape...), or a tuple of input positions set by forward for the call
      (matmul reads ``a`` only when ``b`` needs a gradient).
    - ``is_view = True`` on an op whose output aliases its input (reshape, permute...): the
      output shares the input's version counter, as PyTorch's views do.
    """

    __slots__ = ("parents", "needs_input_grad", "versions", "creators", "_out_vc", "_output",
                 "__dict__")

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} is not differentiable")

    keeps_inputs = True
    saves_output = False
    is_view = False
    # Transition: a Function whose backward still maps raw arrays to raw arrays (no double
    # backward through it yet; create_graph=True through it raises).
    legacy_backward = False

    def saved_output(self) -> "Tensor":
        """This node's output as a Tensor connected to the graph (its gradient flows back
        through this node), for a backward formula that reads it (exp, tanh, sigmoid...)."""
        out = self._output
        if out is None:
            raise RuntimeError(f"{self.name()}: saved_output() is only available while its "
                               f"backward runs")
        return out

    def name(self) -> str:
        """PyTorch's name of this node: the Function's class name + "Backward0"."""
        return type(self).__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

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
        arrays = [t._array for t in tensors]
        if _function_hooks and not _quiet[0]:
            out = _observed(fn, "forward", fn.forward, arrays, params)
        else:
            out = fn.forward(*arrays, **params)
        if not track:
            res = Tensor._wrap(out, dev)
            if fn.is_view:
                _share_version(res, tensors[0])
            return res
        fn.parents = tensors
        fn._output = None
        res = Tensor._wrap(out, dev, requires_grad=True, ctx=fn)
        _record_versions(fn, tensors, out, res)
        return res


def _share_version(view, base):
    if base._vc is None:
        base._vc = [0]
    view._vc = base._vc


def _record_versions(fn, tensors, out, res):
    """Remember the version and creator of every input and, when the Function keeps its own
    output (``saves_output``, or a legacy Function holding the output array), the output's
    counter. Only graph-building calls get here, so untracked forwards pay nothing."""
    fn.versions = tuple(0 if t._vc is None else t._vc[0] for t in tensors)
    fn.creators = tuple(t._ctx for t in tensors)
    fn._out_vc = None
    if fn.is_view:
        _share_version(res, tensors[0])
    elif fn.saves_output or (fn.legacy_backward and any(v is out for v in fn.__dict__.values())):
        res._vc = [0]
        fn._out_vc = res._vc


def increment_version(tensors):
    """Mark ``tensors`` (one Tensor or an iterable of them) as modified in place, as
    ``torch.autograd.graph.increment_version``: for code that writes into ``t.array`` with
    ``t.array[...] = v`` or ``out=``, which the Tensor cannot see. (``t.array op= v`` needs
    no call: the Tensor sees the augmented assignment.)"""
    if isinstance(tensors, Tensor):
        tensors._bump()
        return
    for t in tensors:
        t._bump()


def _check_versions(ctx):
    """Raise PyTorch's error when an input that ``ctx``'s backward reads (or its kept output)
    was modified in place after ctx's forward. A non-leaf input changed in place is refused
    whatever backward reads: the in-place op gave that Tensor a new creator, and the gradient
    would flow to the wrong node."""
    keeps = ctx.keeps_inputs
    for i, (p, v, c) in enumerate(zip(ctx.parents, ctx.versions, ctx.creators)):
        now = 0 if p._vc is None else p._vc[0]
        if now != v and (keeps is True or p._ctx is not c or (keeps and i in keeps)):
            _modified(p, f"input {i}", ctx, now, v)
    if ctx._out_vc is not None and ctx._out_vc[0] != 0:
        _modified(None, "output 0", ctx, ctx._out_vc[0], 0)


def _modified(t, which, ctx, now, expected):
    what = "" if t is None else f"[{dtype_name(t._array.dtype)} {list(t._array.shape)}], "
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {what}which is {which} of {ctx.name()}, is at version {now}; "
        f"expected version {expected} instead. Hint: it was changed in place (an optimizer "
        f"step, an in-place method such as add_, or x[idx] = v) after the forward pass that "
        f"used it: call backward() before changing it, or change a clone() of it")


class Size(tuple):
    """A shape: a tuple of ints, as ``torch.Size`` (``Tensor.shape`` and ``Tensor.size()``);
    it prints as the plain tuple."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    # printed as the plain tuple, so messages read "(2, 3)" whatever holds the shape


class Tensor:
    """An n-dimensional array on a device, with optional gradient tracking.

    Every Tensor has a version counter (``_version``, as PyTorch) that each in-place change
    through the Tensor bumps: the in-place methods (``add_``, ``x[i] = v``...), and an
    augmented assignment to the raw array (``t.array -= step``, how the optimizers update
    parameters), which the ``array`` setter sees because it receives the same array object
    back. Graph-building ops record their inputs' versions and ``backward()`` refuses to use
    an input changed since. Writes the Tensor cannot see (``t.array[...] = v``, ``out=``) call
    ``increment_version(t)``. The counter is created on first use, so Tensors that are never
    changed in place carry only ``None``.
    """

    __slots__ = ("_array", "grad", "requires_grad", "_ctx", "_device", "_vc", "_retain",
                 "_post_acc_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # make ndarray OP Tensor defer to Tensor.__rOP__

    def __init__(self, data, device=None, dtype=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = data._array
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
        self._array = arr
        self.grad = None
        self._ctx = None
        self._device = dev
        self._vc = None
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
        t._array = array
        t.grad = None
        t._device = dev
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._vc = None
        return t

    # ---- the raw array and its version ----
    @property
    def array(self):
        """The raw NumPy/CuPy (array-API) array."""
        return self._array

    @array.setter
    def array(self, value):
        # ``t.array op= v`` calls this with the very array it read, changed in place: that is
        # an in-place modification. Binding another array changes nothing a graph saved.
        if value is self._array:
            self._bump()
        else:
            self._array = value

    def _bump(self):
        vc = self._vc
        if vc is None:
            self._vc = [1]
        else:
            vc[0] += 1

    @property
    def _version(self) -> int:
        return 0 if self._vc is None else self._vc[0]

    @property
    def data(self):
        """PyTorch's ``.data``: a Tensor sharing this one's memory, outside the graph (no grad,
        its own version counter), e.g. for in-place initialisation ``p.data.normal_(0, 0.02)``.
        The raw NumPy/CuPy array is ``.array``."""
        return Tensor._wrap(self._array, self._device)

    @data.setter
    def data(self, value):
        """``p.data = t`` makes ``p`` use ``t``'s array (a raw array is accepted too)."""
        arr = value._array if isinstance(value, Tensor) else value
        if not _is_array(arr):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        if device_of(arr) is not self._device:
            raise DeviceMismatchError(f"cannot set .data of a Tensor on {self._device} to an "
                                      f"array on {device_of(arr)}")
        self._array = arr

    # ---- properties ----
    @property
    def shape(self) -> Size:
        return Size(self._array.shape)

    @property
    def ndim(self) -> int:
        return self._array.ndim

    def numel(self) -> int:
        n = 1
        for s in self._array.shape:
            n *= s
        return n

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    @property
    def dtype(self):
        """The array library's dtype; it compares equal to ``an.float32`` and to
        ``"float32"``."""
        return self._array.dtype

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that made this Tensor (prints as ``<AddBackward0 ...>``), None for a
        leaf."""
        return self._ctx

    def requires_grad_(self, requires_grad=True):
        if requires_grad and dtype_name(self._array.dtype) not in ("float16", "float32",
                                                                   "float64"):
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got dtype {dtype_name(self._array.dtype)}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; use "
                               "detach() to get a Tensor outside the graph")
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def xp(self):
        return self._device.xp

    # ---- conversion ----
    def detach(self) -> "Tensor":
        """A Tensor sharing memory and the version counter, outside the graph."""
        if self._vc is None:
            self._vc = [0]
        t = Tensor._wrap(self._array, self._device)
        t._vc = self._vc
        return t

    def __hash__(self):
        return id(self)

    # ---- autograd ----
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (or only into ``inputs``'),
        as ``torch.Tensor.backward``. The graph is freed unless ``retain_graph`` (default:
        ``create_graph``); ``create_graph=True`` records the backward pass itself, so the
        gradients can be differentiated again."""
        _backward((self,), None if gradient is None else (gradient,), retain_graph,
                  create_graph, inputs)

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
        return RemovableHandle(hooks, hook)

    # in-place methods are attached in arrayneedle/inplace.py, conversions and facts (numpy,
    # item, size, to...) in arrayneedle/tensor_api.py, operators and op methods in
    # arrayneedle/ops/__init__.py


# the walk uses Tensor, so it is imported once Tensor exists
from ..graph import backward, grad, queue_callback  # noqa: E402
from .gradcheck import gradcheck, gradgradcheck  # noqa: E402
# autograd.functional (vjp, jacobian, hessian...) is built from ops, so arrayneedle/__init__.py
# imports it once the ops exist

_backward = backward
