"""Sparse COO tensors as graph code uses them (``torch.sparse_coo_tensor``, ``torch.sparse``).

A ``SparseTensor`` holds ``indices`` (int64, ``(sparse_dim, nnz)``) and ``values`` (a Tensor of
``(nnz, *dense_dims)``) of a tensor of ``shape``. What graph networks need works, with gradients
to ``values`` and to the dense operand as PyTorch's:

- ``sparse_coo_tensor(indices, values, size)``, ``Tensor.to_sparse()``, ``to_dense()``;
- ``coalesce()`` (duplicates summed, indices sorted), ``indices()``, ``values()``, ``_nnz()``;
- ``sparse @ dense``, ``sparse.mm`` / ``spmm`` / ``mm`` / ``matmul`` (2-D sparse times a 1-D or
  2-D dense, or dense times sparse), ``sparse + dense`` (a dense result; PyTorch writes
  ``dense + sparse``, which a Tensor's ``+`` does not take here), ``sparse + sparse``,
  ``sparse * number``, ``t()``.

The products never build the dense matrix: they gather the dense rows the nonzeros need and
scatter-add them (``kernels.index_add``), in the namespace of the arrays (NumPy, CuPy, any
array-API library). A SparseTensor is not a ``Tensor`` subclass here: dense ops take it only
through ``to_dense()``.
"""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from . import kernels, ops
from .autograd import Function
from .ops.shape import Take, TakeAdjoint
from .tensor import Size, Tensor
from .backend import dtype_name

__all__ = ["SparseTensor", "sparse_coo_tensor", "mm", "spmm", "sum", "FloatTensor",
           "DoubleTensor", "LongTensor"]


class _ToDense(Function):
    """values (nnz, *dense) at linear positions ``lin`` of a (n_sparse, *dense) table summed
    into place; the gradient of values is the table's gradient gathered at ``lin``."""

    keeps_inputs = False

    def forward(self, values, lin, n, shape):
        xp = array_namespace(values)
        self.lin, self.flat_shape = lin, (n,) + tuple(values.shape[1:])
        return xp.reshape(kernels.index_add(self.flat_shape, lin, values), shape)

    def backward(self, g):
        return Take.apply(g.reshape(self.flat_shape), indices=self.lin, axis=0)


class _SpMM(Function):
    """(n_rows x k sparse, nonzeros ``values`` at (rows, cols)) @ dense (k, m)."""

    def forward(self, values, dense, rows, cols, n_rows):
        xp = array_namespace(values, dense)
        self.rows, self.cols, self.k = rows, cols, dense.shape[0]
        # values are read for dense's gradient, dense for the values'
        self.keeps_inputs = tuple(i for i, n in ((0, self.needs_input_grad[1]),
                                                 (1, self.needs_input_grad[0])) if n)
        picked = xp.take(dense, cols, axis=0) * values[:, None]
        return kernels.index_add((n_rows, dense.shape[1]), rows, picked)

    def backward(self, g):
        values, dense = self.parents
        g_rows = Take.apply(g, indices=self.rows, axis=0)
        gv = gd = None
        if self.needs_input_grad[0]:
            gv = (g_rows * Take.apply(dense, indices=self.cols, axis=0)).sum(1)
        if self.needs_input_grad[1]:
            gd = TakeAdjoint.apply(g_rows * values.reshape((-1, 1)), indices=self.cols, axis=0,
                                   shape=(self.k, g.shape[1]))
        return gv, gd


def _linear(indices, shape, xp):
    """Row-major positions of the index columns among the sparse dimensions."""
    lin = xp.zeros(indices.shape[1], dtype=xp.int64)
    for d, size in enumerate(shape):
        lin = lin * size + indices[d]
    return lin


class SparseTensor:
    """A sparse COO tensor (see the module docstring). Build it with ``sparse_coo_tensor``."""

    is_sparse = True
    layout = "sparse_coo"

    def __init__(self, indices, values, shape, coalesced=False):
        self._indices, self._values, self._shape = indices, values, Size(shape)
        self._coalesced = coalesced

    # ---- facts ----
    @property
    def shape(self):
        return self._shape

    def size(self, dim=None):
        return self._shape if dim is None else self._shape[dim]

    @property
    def ndim(self):
        return len(self._shape)

    def dim(self):
        return len(self._shape)

    def sparse_dim(self):
        return int(self._indices.shape[0])

    def dense_dim(self):
        return self.ndim - self.sparse_dim()

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def device(self):
        return self._values.device

    @property
    def requires_grad(self):
        return self._values.requires_grad

    def requires_grad_(self, requires_grad=True):
        self._values.requires_grad_(requires_grad)
        return self

    @property
    def grad(self):
        return self._values.grad

    def is_coalesced(self):
        return self._coalesced

    def _nnz(self):
        return int(self._indices.shape[1])

    def indices(self):
        if not self._coalesced:
            raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call "
                               ".coalesce() first")
        return Tensor.from_array(self._indices, self.device)

    def values(self):
        if not self._coalesced:
            raise RuntimeError("Cannot get values on an uncoalesced tensor, please call "
                               ".coalesce() first")
        return self._values

    def _values_(self):
        return self._values

    def __repr__(self):
        return (f"SparseTensor(indices={self._indices.tolist()}, values={self._values!r}, "
                f"size={tuple(self._shape)}, nnz={self._nnz()}, layout=sparse_coo)")

    # ---- conversions ----
    def _lin(self):
        xp = self.device.xp
        return _linear(self._indices, self._shape[:self.sparse_dim()], xp)

    def to_dense(self):
        """The dense Tensor (duplicates summed); differentiable in the values."""
        n = math.prod(self._shape[:self.sparse_dim()])
        return _ToDense.apply(self._values, lin=self._lin(), n=n, shape=tuple(self._shape))

    def coalesce(self):
        """Indices sorted (row-major) and unique, duplicate values summed (differentiably)."""
        if self._coalesced:
            return self
        xp = self.device.xp
        lin = self._lin()
        found = xp.unique_inverse(lin)
        uniq, inverse = found.values, xp.reshape(found.inverse_indices, (-1,))
        summed = _ToDense.apply(self._values, lin=inverse, n=int(uniq.shape[0]),
                                shape=(int(uniq.shape[0]),) + tuple(self._values.shape[1:]))
        idx = []
        rest = uniq
        for size in reversed(self._shape[:self.sparse_dim()]):
            idx.append(rest % size)
            rest = rest // size
        return SparseTensor(xp.stack(idx[::-1]), summed, self._shape, coalesced=True)

    def to(self, *args, **kwargs):
        values = self._values.to(*args, **kwargs)
        idx = values.device.asarray(self._indices) if values.device is not self.device \
            else self._indices
        return SparseTensor(idx, values, self._shape, self._coalesced)

    def to_sparse(self):
        return self

    def detach(self):
        return SparseTensor(self._indices, self._values.detach(), self._shape, self._coalesced)

    def t(self):
        """The transpose of a 2-D sparse matrix."""
        if self.sparse_dim() != 2 or self.dense_dim():
            raise RuntimeError(f"t() expects a 2-D sparse matrix, got sparse_dim "
                               f"{self.sparse_dim()} and dense_dim {self.dense_dim()}")
        xp = self.device.xp
        return SparseTensor(xp.stack([self._indices[1], self._indices[0]]), self._values,
                            (self._shape[1], self._shape[0]))

    # ---- arithmetic ----
    def __add__(self, other):
        if isinstance(other, SparseTensor):
            if other.shape != self.shape:
                raise RuntimeError(f"sparse + sparse: shapes {tuple(self.shape)} and "
                                   f"{tuple(other.shape)} differ")
            xp = self.device.xp
            return SparseTensor(xp.concat([self._indices, other._indices], axis=1),
                                ops.cat([self._values, other._values]), self._shape)
        if isinstance(other, Tensor):
            return self.to_dense() + other
        return NotImplemented

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, (int, float)):
            return SparseTensor(self._indices, self._values * other, self._shape,
                                self._coalesced)
        return NotImplemented

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        if isinstance(other, (int, float)):
            return self * (1.0 / other)
        return NotImplemented

    def __matmul__(self, other):
        return mm(self, other)

    def __rmatmul__(self, other):
        if isinstance(other, Tensor):
            squeeze = other.ndim == 1
            d = ops.unsqueeze(other, 0) if squeeze else other
            out = ops.transpose(mm(self.t(), ops.transpose(d, 0, 1)), 0, 1)
            return ops.squeeze(out, 0) if squeeze else out
        return NotImplemented

    mm = __matmul__
    matmul = __matmul__


def mm(mat1, mat2):
    """``mm`` that also takes a sparse operand: ``sparse @ dense`` (a 2-D sparse matrix times a
    dense matrix or vector) is a dense Tensor, with gradients to the sparse values and to the
    dense operand."""
    if not isinstance(mat1, SparseTensor):
        if isinstance(mat2, SparseTensor):
            return mat2.__rmatmul__(mat1)
        return ops.mm(mat1, mat2)
    if isinstance(mat2, SparseTensor):
        mat2 = mat2.to_dense()
    if not isinstance(mat2, Tensor):
        raise TypeError(f"sparse.mm: the dense operand must be a Tensor, got "
                        f"{type(mat2).__name__}")
    if mat1.sparse_dim() != 2 or mat1.dense_dim():
        raise RuntimeError("sparse.mm expects a 2-D sparse matrix")
    vector = mat2.ndim == 1
    dense = ops.unsqueeze(mat2, 1) if vector else mat2
    if dense.ndim != 2 or dense.shape[0] != mat1.shape[1]:
        raise RuntimeError(f"sparse.mm: shapes {tuple(mat1.shape)} and {tuple(mat2.shape)} "
                           f"cannot be multiplied")
    values = mat1._values
    if values.dtype != dense.dtype:
        raise RuntimeError(f"sparse.mm: dtypes differ ({dtype_name(values.dtype)} and "
                           f"{dtype_name(dense.dtype)})")
    out = _SpMM.apply(values, dense, rows=mat1._indices[0], cols=mat1._indices[1],
                      n_rows=mat1.shape[0])
    return ops.squeeze(out, 1) if vector else out


spmm = mm


def sum(input, dim=None):
    """The sum of a sparse tensor: all entries (a 0-d Tensor), or over ``dim`` (dense)."""
    dense = input.to_dense() if isinstance(input, SparseTensor) else input
    return ops.sum(dense) if dim is None else ops.sum(dense, dim)


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """A SparseTensor with nonzeros ``values`` at the columns of ``indices`` (sparse_dim x
    nnz); ``size`` defaults to one past the largest index in each sparse dimension, followed
    by the values' trailing dimensions."""
    if not isinstance(values, Tensor):
        values = Tensor(values, dtype=dtype, device=device)
    elif dtype is not None or device is not None:
        values = values.to(device=device, dtype=dtype)
    dev = values.device
    idx = indices.array if isinstance(indices, Tensor) else dev.asarray(
        Tensor(indices, device=dev).array)
    xp = dev.xp
    if dtype_name(idx.dtype) not in ("int64", "int32", "int16", "int8", "uint8"):
        raise TypeError(f"sparse_coo_tensor: indices must be integers, got "
                        f"{dtype_name(idx.dtype)}")
    idx = xp.astype(idx, xp.int64)
    if idx.ndim != 2 or idx.shape[1] != values.shape[0]:
        raise ValueError(f"sparse_coo_tensor: indices must be (sparse_dim, nnz) with nnz = "
                         f"values.shape[0] = {values.shape[0]}, got {tuple(idx.shape)}")
    sparse_dim = idx.shape[0]
    if size is None:
        size = tuple(int(v) + 1 for v in xp.max(idx, axis=1)) if idx.shape[1] else (0,) * \
            sparse_dim
        size = size + tuple(values.shape[1:])
    size = tuple(int(s) for s in size)
    if len(size) != sparse_dim + values.ndim - 1 or size[sparse_dim:] != values.shape[1:]:
        raise ValueError(f"sparse_coo_tensor: size {size} does not fit indices of "
                         f"{sparse_dim} sparse dims and values of shape {tuple(values.shape)}")
    if idx.shape[1] and (bool(xp.any(idx < 0)) or any(
            int(xp.max(idx[d])) >= size[d] for d in range(sparse_dim))):
        raise ValueError(f"sparse_coo_tensor: an index is out of range for size {size}")
    if requires_grad:
        values = values.detach().requires_grad_(True)
    return SparseTensor(idx, values, size, coalesced=bool(is_coalesced))


def to_sparse(self, sparse_dim=None):
    """``Tensor.to_sparse()``: the nonzero entries as a coalesced SparseTensor (gradients flow
    back to this Tensor through the values)."""
    xp = self.device.xp
    sd = self.ndim if sparse_dim is None else int(sparse_dim)
    lead = self.shape[:sd]
    flat = ops.reshape(self, (math.prod(lead),) + tuple(self.shape[sd:]))
    nz = flat.array != 0
    if flat.ndim > 1:
        nz = xp.any(xp.reshape(nz, (nz.shape[0], -1)), axis=1)
    pos = xp.nonzero(nz)[0]
    idx, rest = [], pos
    for size in reversed(lead):
        idx.append(rest % size)
        rest = rest // size
    idx = xp.stack(idx[::-1]) if idx else xp.zeros((0, pos.shape[0]), dtype=xp.int64)
    values = flat[Tensor.from_array(pos, self.device)]
    return SparseTensor(xp.astype(idx, xp.int64), values, self.shape, coalesced=True)


def _legacy(dtype):
    def make(indices, values, size=None):
        return sparse_coo_tensor(indices, values, size, dtype=dtype)
    make.__doc__ = f"PyTorch's legacy ``torch.sparse.{_LEGACY[dtype]}(indices, values, size)``."
    return make


_LEGACY = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor"}
FloatTensor, DoubleTensor, LongTensor = (_legacy("float32"), _legacy("float64"),
                                         _legacy("int64"))


def matmul(input, other):
    """``matmul`` that also takes a sparse operand (``sparse @ dense``, ``dense @ sparse``)."""
    if isinstance(input, SparseTensor):
        return input @ other
    if isinstance(other, SparseTensor):
        return other.__rmatmul__(input)
    return ops.matmul(input, other)


to_sparse_coo = to_sparse
