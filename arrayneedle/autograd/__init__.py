"""Reverse-mode automatic differentiation (``Tensor`` itself is in arrayneedle/tensor.py).

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

from ..backend import dtype_name
from ..hooks import (RemovableHandle, _function_hooks, _observed, _quiet,  # noqa: F401
                    register_function_hook)
from ..grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                        set_grad_enabled)
from ..tensor import DeviceMismatchError, Size, Tensor

__all__ = ["Tensor", "Size", "DeviceMismatchError", "Function", "no_grad", "enable_grad",
           "is_grad_enabled", "set_grad_enabled", "inference_mode", "increment_version",
           "register_function_hook", "RemovableHandle", "queue_callback", "grad", "backward",
           "functional", "gradcheck", "gradgradcheck"]


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
        _record_versions(fn, tensors, res)
        return res


def _share_version(view, base):
    if base._vc is None:
        base._vc = [0]
    view._vc = base._vc


def _record_versions(fn, tensors, res):
    """Remember the version and creator of every input and, when the Function keeps its own
    output (``saves_output``), the output's counter. Only graph-building calls get here, so
    untracked forwards pay nothing."""
    fn.versions = tuple(0 if t._vc is None else t._vc[0] for t in tensors)
    fn.creators = tuple(t._ctx for t in tensors)
    fn._out_vc = None
    if fn.is_view:
        _share_version(res, tensors[0])
    elif fn.saves_output:
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


# the walk (graph.py) reads _check_versions from this module, so it is imported once that exists
from ..graph import backward, grad, queue_callback  # noqa: E402
from .gradcheck import gradcheck, gradgradcheck  # noqa: E402
# autograd.functional (vjp, jacobian, hessian...) is built from ops, so arrayneedle/__init__.py
# imports it once the ops exist

_backward = backward
