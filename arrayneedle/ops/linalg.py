"""Matrix products: matmul (batched, broadcasting), mm, bmm, outer."""
from __future__ import annotations

from .. import kernels
from .._helpers import as_tensor, operands
from ..backend import dtype_name
from ..autograd import Function, Tensor, is_grad_enabled
from ._util import unbroadcast
from .shape import reshape

__all__ = ["matmul", "mm", "bmm", "outer", "same_dtype_operands"]

# PyTorch's C names of the dtypes, as its "same dtype" errors spell them
_C_NAMES = {"float64": "double", "float32": "float", "float16": "c10::Half",
            "bfloat16": "c10::BFloat16", "int64": "long int", "int32": "int",
            "int16": "short int", "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}


def same_dtype_operands(a, b):
    """``a`` and ``b`` as Tensors of one dtype, as PyTorch's matrix products require: they do
    not promote (float64 @ float32 is a RuntimeError in PyTorch, not a float64 result)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.array.dtype != b.array.dtype:
        na, nb = dtype_name(a.array.dtype), dtype_name(b.array.dtype)
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_C_NAMES.get(na, na)} != {_C_NAMES.get(nb, nb)}")
    return a, b


class MatMul(Function):
    """a @ b for a, b with ndim >= 2 (the op wrapper lifts 1-D operands)."""

    def forward(self, a, b):
        # backward reads a only for b's gradient and b only for a's (so a weight changed in
        # place before backward is harmless when the input needs no gradient, as PyTorch)
        self.keeps_inputs = tuple(i for i, n in ((0, self.needs_input_grad[1]),
                                                 (1, self.needs_input_grad[0])) if n)
        return kernels.matmul(a, b)

    def backward(self, g):
        a, b = self.parents
        ga = gb = None
        if not is_grad_enabled():  # the same products on the raw arrays: no Tensor overhead
            xp = g._device.xp
            if a.ndim == 2 and b.ndim > 2:  # a weight applied to a batch: one folded g
                gw, gx = kernels.weight_matmul_grads(a._array, b._array, g._array,
                                                     *self.needs_input_grad)
                return (None if gw is None else Tensor._wrap(gw, a._device),
                        None if gx is None else Tensor._wrap(gx, b._device))
            if self.needs_input_grad[0]:
                ga = Tensor._wrap(_operand_grad(xp, g._array, b._array, a.shape, 0), a._device)
            if self.needs_input_grad[1]:
                gb = Tensor._wrap(_operand_grad(xp, a._array, g._array, b.shape, 1), b._device)
            return ga, gb
        if self.needs_input_grad[0]:
            ga = unbroadcast(MatMul.apply(g, b.mT), a.shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(MatMul.apply(a.mT, g), b.shape)
        return ga, gb


def _operand_grad(xp, p, q, shape, which):
    """The gradient of one matmul operand of ``shape`` from raw arrays: ``p @ q.mT`` (the left
    operand's, ``which=0``: p the output gradient, q the right operand) or ``p.mT @ q`` (the
    right's, ``which=1``: p the left operand, q the output gradient), summed over the batch
    axes broadcasting added. A 2-D operand against a batched one (a weight applied to a batch
    of matrices) gets one matrix product over the batch folded into its rows or columns
    (``kernels.matmul_batch_sum``), not a batch of products and a sum over a batch-sized
    temporary."""
    mt = xp.matrix_transpose
    left, right = (p, mt(q)) if which == 0 else (mt(p), q)
    if len(shape) == 2 and p.ndim == q.ndim > 2 and p.shape[:-2] == q.shape[:-2]:
        return kernels.matmul_batch_sum(left, right)
    return unbroadcast(kernels.matmul(left, right), shape)


def matmul(a, b):
    a, b = same_dtype_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must have at least 1 dimension, "
                         f"got shapes {a.shape} and {b.shape}")
    squeeze_a = squeeze_b = False
    if a.ndim == 1:
        a, squeeze_a = reshape(a, (1, a.shape[0])), True
    if b.ndim == 1:
        b, squeeze_b = reshape(b, (b.shape[0], 1)), True
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shape mismatch, {a.shape} @ {b.shape} "
                         f"(inner dimensions {a.shape[-1]} and {b.shape[-2]} differ)")
    try:
        out = MatMul.apply(a, b)
    except ValueError as e:
        raise ValueError(f"matmul: cannot broadcast batch dimensions of {a.shape} and "
                         f"{b.shape}: {e}") from None
    if squeeze_a:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if squeeze_b:
        out = reshape(out, out.shape[:-1])
    return out


def mm(input, mat2):
    """Matrix product of two 2-D tensors (no broadcasting, as torch.mm)."""
    a, b = same_dtype_operands(input, mat2)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expects two 2-D tensors, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def bmm(input, mat2):
    """Batched matrix product of two 3-D tensors (b, n, m) @ (b, m, p), no broadcasting."""
    a, b = same_dtype_operands(input, mat2)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: expects 3-D tensors with the same batch size, got shapes "
                         f"{a.shape} and {b.shape}")
    return matmul(a, b)


def outer(input, vec2):
    """Outer product of two 1-D tensors (promoting, as torch.outer)."""
    a, b = operands(input, vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return reshape(a, (a.shape[0], 1)) * reshape(b, (1, b.shape[0]))
