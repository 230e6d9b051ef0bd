"""Matrix multiplication (batched, broadcasting)."""
from __future__ import annotations

from array_api_compat import array_namespace

from ..autograd import Function
from ._util import unbroadcast


class MatMul(Function):
    """a @ b for a, b with ndim >= 2 (the op wrapper lifts 1-D operands)."""

    def forward(self, a, b):
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        self.shapes = (a.shape, b.shape)
        return array_namespace(a, b).matmul(a, b)

    def backward(self, g):
        xp = array_namespace(g)
        sa, sb = self.shapes
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(xp.matmul(g, xp.matrix_transpose(self.b)), sa)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.matmul(xp.matrix_transpose(self.a), g), sb)
        return ga, gb
