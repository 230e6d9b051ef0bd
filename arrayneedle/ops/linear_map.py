"""``LinearMap``: a fixed linear map of one array given by a raw-array kernel and the kernel of
its adjoint, differentiable to any order.

The backward passes of the layer kernels are linear maps of the output gradient whose
adjoints are kernels we already have: max-pooling routes each window's gradient to its saved
maximum (its adjoint gathers at those maxima), average pooling spreads a window's gradient
over the window (its adjoint sums windows), dilation's adjoint keeps every (d+1)-th element,
an embedding's gradient adds rows into the table (its adjoint gathers rows). A LinearMap
computes ``y = A(x)`` with the kernel ``A`` and its backward is ``A^T(g)`` as another
LinearMap, whose backward is ``A`` again: gradients of gradients stay in these kernels.
"""
from __future__ import annotations

from ..autograd import Function, Tensor, is_grad_enabled

__all__ = ["LinearMap", "linear_map"]


class LinearMap(Function):
    """y = A(x) for a raw-array function ``A`` (``forward_fn``) with adjoint ``adjoint_fn``.

    Both are callables of one array (``functools.partial`` of a kernel with its fixed
    arguments: saved indices, shapes, geometry), holding no reference to a graph node, so a
    LinearMap outlives the Function whose backward made it (gradients of gradients)."""

    keeps_inputs = False  # linear: backward reads no input

    def forward(self, x, forward_fn, adjoint_fn):
        self.forward_fn, self.adjoint_fn = forward_fn, adjoint_fn
        return forward_fn(x)

    def backward(self, g):
        return linear_map(g, self.adjoint_fn, self.forward_fn)


def linear_map(x, forward_fn, adjoint_fn):
    """``forward_fn(x)`` for the Tensor ``x``, differentiable through ``adjoint_fn``. Where no
    graph is recorded (a backward without create_graph) just the kernel on the raw array."""
    if not is_grad_enabled():
        return Tensor._wrap(forward_fn(x._array), x._device)
    return LinearMap.apply(x, forward_fn=forward_fn, adjoint_fn=adjoint_fn)
