"""Reverse-mode automatic differentiation (``Tensor`` itself is in arrayneedle/tensor.py).

A ``Function`` computes on raw arrays (``forward``) and maps the output gradient to input
gradients (``backward``), saving only what backward needs. ``Function.apply`` wraps the result
in a ``Tensor`` that remembers its creator. ``Tensor.backward`` walks the graph once in
reverse topological order (iteratively, so deep graphs do not hit the recursion limit),
accumulates gradients into leaves and frees every node it passed, so no reference cycles are
left behind and memory stays flat from one training step to the next.
"""
from __future__ import annotations

from .backend import dtype_name
from .hooks import RemovableHandle, _function_hooks, _observed, register_function_hook  # noqa: F401
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                        set_grad_enabled)
from .tensor import DeviceMismatchError, Size, Tensor

__all__ = ["Tensor", "Size", "DeviceMismatchError", "Function", "no_grad", "enable_grad",
           "is_grad_enabled", "set_grad_enabled", "inference_mode", "increment_version",
           "register_function_hook", "RemovableHandle", "queue_callback", "grad"]


class Function:
    """One differentiable operation. Subclasses implement ``forward`` and ``backward``.

    ``forward(*arrays, **params)`` returns one array; ``backward(grad)`` returns one gradient
    per array input (a tuple, or a single array for one input; ``None`` where no gradient
    flows). ``self.needs_input_grad`` tells backward which gradients are wanted.
    """

    __slots__ = ("parents", "needs_input_grad", "versions", "saved_output", "__dict__")

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} is not differentiable")

    # False on a Function whose backward reads no input (add, reshape...): a leaf input (a
    # weight) changed in place after its forward is then harmless and backward accepts it.
    # A non-leaf input changed in place is refused either way: the in-place op gave that
    # Tensor a new creator, and the gradient would flow to the wrong node.
    keeps_inputs = True

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
        if _function_hooks:
            out = _observed(fn, "forward", fn.forward, arrays, params)
        else:
            out = fn.forward(*arrays, **params)
        if not track:
            return Tensor._wrap(out, dev)
        fn.parents = tensors
        res = Tensor._wrap(out, dev, requires_grad=True, ctx=fn)
        _record_versions(fn, tensors, out, res)
        return res


def _record_versions(fn, tensors, out, res):
    """Remember the version of every input (backward may read any of them: a Function may
    keep an input, or a view of it such as a reshaped weight, under any name) and, when the
    Function kept its own output array (exp, tanh, sigmoid...), the output's counter. Only
    graph-building calls get here, so untracked forwards pay nothing."""
    fn.versions = tuple(0 if t._vc is None else t._vc[0] for t in tensors)
    fn.saved_output = None
    for v in fn.__dict__.values():
        if v is out:
            res._vc = [0]
            fn.saved_output = res._vc
            break


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
    """Raise PyTorch's error when an input (or the kept output) of ``ctx`` was modified in
    place after ctx's forward."""
    keeps = ctx.keeps_inputs
    for i, (p, v) in enumerate(zip(ctx.parents, ctx.versions)):
        now = 0 if p._vc is None else p._vc[0]
        if now != v and (keeps or p._ctx is not None):
            _modified(p, f"input {i}", ctx, now, v)
    if ctx.saved_output is not None and ctx.saved_output[0] != 0:
        _modified(None, "output 0", ctx, ctx.saved_output[0], 0)


def _modified(t, which, ctx, now, expected):
    what = "" if t is None else f"[{dtype_name(t._array.dtype)} {list(t._array.shape)}], "
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {what}which is {which} of {ctx.name()}, is at version {now}; "
        f"expected version {expected} instead. Hint: it was changed in place (an optimizer "
        f"step, an in-place method such as add_, or x[idx] = v) after the forward pass that "
        f"used it: call backward() before changing it, or change a clone() of it")


# the walk (graph.py) reads _check_versions from this module, so it is imported once that exists
from .graph import HookHandle, grad, queue_callback, run_backward  # noqa: E402,F401
