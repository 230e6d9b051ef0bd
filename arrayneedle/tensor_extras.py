"""More of PyTorch's tensor functions and methods, found by counting a corpus of real code
(scripts/api_coverage.py): ``dot``, ``mv``, ``ger``, ``addmm``, ``addcmul``, ``meshgrid``,
``unbind``, ``nonzero``, ``masked_select``, ``index_add``, ``ravel``, ``swapaxes``, ``diagonal``,
``finfo``/``iinfo``, the in-place ``scatter_``/``index_add_``/``exp_``..., ``data_ptr``,
``get_device``. Each is built from the differentiable ops, so gradients follow."""
from __future__ import annotations

from . import ops
from ._helpers import as_tensor
from .tensor import Tensor
from .backend import dtype_name

__all__ = ["unfold", "dist", "bincount", "dot", "mv", "ger", "addmm", "addcmul", "addcdiv",
           "meshgrid", "unbind", "nonzero",
           "masked_select", "index_add", "ravel", "swapaxes", "diagonal", "finfo", "iinfo",
           "set_float32_matmul_precision", "get_float32_matmul_precision", "compile",
           "channels_last", "contiguous_format", "preserve_format"]


def dot(input, tensor):
    """The inner product of two 1-D tensors (a 0-d tensor)."""
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {tensor.ndim}D "
                           f"tensors")
    if input.shape != tensor.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and "
                           f"src [{tensor.shape[0]}] to have the same number of elements")
    return ops.sum(input * tensor)


def mv(input, vec):
    """Matrix (n, m) times vector (m,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got {input.ndim}D and "
                           f"{vec.ndim}D tensors")
    return ops.matmul(input, vec)


def ger(input, vec2):
    """The outer product (PyTorch's old name of ``outer``)."""
    return ops.outer(input, vec2)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)``."""
    return _scaled(input, beta) + _scaled(ops.mm(mat1, mat2), alpha)


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    return input + _scaled(tensor1 * tensor2, value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    return input + _scaled(tensor1 / tensor2, value)


def _scaled(t, k):
    return t if k == 1 else t * k


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 1-D tensors: ``indexing="ij"`` (PyTorch's default) or ``"xy"``
    (the first two dimensions swapped)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim > 1 for t in tensors):
        raise RuntimeError("meshgrid expects all tensors to be 0-D or 1-D")
    ts = [ops.reshape(t, (-1,)) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        out.append(ops.broadcast_to(ops.reshape(t, tuple(view)), shape))
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def unbind(input, dim=0):
    """The slices along ``dim``, as a tuple (the dimension removed)."""
    d = dim % input.ndim if input.ndim else 0
    return tuple(ops.squeeze(p, d) for p in ops.split(input, 1, d)) if input.shape[d] else ()


def nonzero(input, *, as_tuple=False):
    """Indices of the nonzero entries: an (n, ndim) int64 tensor, or with ``as_tuple`` one
    1-D tensor per dimension."""
    xp = input.device.xp
    arr = input.array
    found = xp.nonzero(arr) if arr.ndim else xp.nonzero(xp.reshape(arr, (1,)))
    cols = [Tensor.from_array(xp.astype(c, xp.int64), input.device) for c in found]
    if as_tuple:
        return tuple(cols)
    if arr.ndim == 0:  # one row of no coordinates when the scalar is nonzero, as PyTorch
        return Tensor.from_array(xp.zeros((int(bool(arr)), 0), dtype=xp.int64), input.device)
    return ops.stack(cols, 1)


def masked_select(input, mask):
    """The entries where ``mask`` (broadcast) is True, as a 1-D tensor; differentiable."""
    mask = as_tensor(mask)
    shape = tuple(ops.broadcast_to(input, mask.shape).shape) if input.ndim < mask.ndim else \
        tuple(input.shape)
    m = ops.broadcast_to(mask, shape).array
    x = ops.broadcast_to(input, shape)
    idx = tuple(Tensor.from_array(c, input.device) for c in input.device.xp.nonzero(m))
    return ops.getitem(x, idx)


def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source`` slices added at ``index`` along ``dim`` (repeats
    accumulate); differentiable in ``input`` and ``source``."""
    d = dim % input.ndim
    idx = index.array if isinstance(index, Tensor) else input.device.xp.asarray(index)
    xp = input.device.xp
    shape = [1] * source.ndim
    shape[d] = idx.shape[0]
    full = xp.broadcast_to(xp.reshape(xp.astype(idx, xp.int64), tuple(shape)), source.shape)
    return ops.scatter_add(input, d, Tensor.from_array(full, input.device),
                           _scaled(source, alpha))


def unfold(self, dimension, size, step):
    """``Tensor.unfold``: every window of ``size`` along ``dimension``, ``step`` apart, as a new
    last dimension (the windows replace ``dimension``); differentiable."""
    d = dimension % self.ndim if self.ndim else 0
    n = (self.shape[d] - size) // step + 1
    if size <= 0 or step <= 0 or n <= 0:
        raise RuntimeError(f"unfold: size {size} and step {step} do not fit dimension {d} of "
                           f"size {self.shape[d]}")
    xp = self.device.xp
    idx = xp.reshape(xp.arange(n, dtype=xp.int64)[:, None] * step
                     + xp.arange(size, dtype=xp.int64)[None, :], (-1,))
    picked = ops.index_select(self, d, Tensor.from_array(idx, self.device))
    shape = tuple(self.shape[:d]) + (n, size) + tuple(self.shape[d + 1:])
    return ops.movedim(ops.reshape(picked, shape), d + 1, -1)


def dist(input, other, p=2):
    """The ``p``-norm of ``input - other``."""
    return ops.norm(input - other, p)


def bincount(input, weights=None, minlength=0):
    """Counts of each value of a 1-D non-negative integer tensor (sums of ``weights`` when
    given), of length max(input) + 1 or ``minlength``."""
    if input.ndim != 1 or dtype_name(input.dtype) not in ("int64", "int32", "int16", "int8",
                                                          "uint8"):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    xp = input.device.xp
    idx = xp.astype(input.array, xp.int64)
    if idx.shape[0] and bool(xp.any(idx < 0)):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    n = max(int(xp.max(idx)) + 1 if idx.shape[0] else 0, int(minlength))
    from . import kernels
    if weights is None:
        vals = xp.ones(idx.shape, dtype=xp.int64)
    else:
        w = weights.array if isinstance(weights, Tensor) else xp.asarray(weights)
        vals = w if dtype_name(w.dtype).startswith("float") else xp.astype(w, xp.float64)
    return Tensor.from_array(kernels.index_add((n,), idx, vals), input.device)


def _reshaped_in_place(name, make):
    def method(self, *args, **kwargs):
        if self.requires_grad:
            raise RuntimeError(f"{name} on a tensor that requires grad is not offered (its "
                               f"graph would lose the old shape); use {name[:-1]}")
        self.data = make(self.detach(), *args, **kwargs)
        return self
    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: this tensor takes the new shape (a view)."
    return method


def _resize(t, *sizes):
    """PyTorch's resize_: the same elements in order, cut or extended with zeros."""
    shape = tuple(int(s) for s in (sizes[0] if len(sizes) == 1 and isinstance(
        sizes[0], (tuple, list)) else sizes))
    xp, n = t.device.xp, 1
    for s in shape:
        n *= s
    flat = xp.reshape(t.array, (-1,))
    if flat.shape[0] >= n:
        return Tensor.from_array(xp.reshape(flat[:n], shape), t.device)
    out = xp.zeros((n,), dtype=flat.dtype)
    out[:flat.shape[0]] = flat
    return Tensor.from_array(xp.reshape(out, shape), t.device)


def ravel(input):
    return ops.reshape(input, (-1,))


def swapaxes(input, axis0, axis1):
    return ops.transpose(input, axis0, axis1)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes, as the last dimension."""
    a, b = dim1 % input.ndim, dim2 % input.ndim
    rest = [i for i in range(input.ndim) if i not in (a, b)]
    x = ops.permute(input, tuple(rest) + (a, b))
    n, m = x.shape[-2], x.shape[-1]
    rows = range(max(0, -offset), min(n, m - offset)) if offset < m else range(0)
    xp = input.device.xp
    r = xp.asarray(list(rows), dtype=xp.int64)
    i = Tensor.from_array(r, input.device)
    j = Tensor.from_array(r + offset, input.device)
    return ops.getitem(x, (Ellipsis, i, j))


class _Info:
    def __init__(self, info, name):
        self.dtype = name
        for k in ("bits", "eps", "max", "min", "tiny", "resolution", "smallest_normal"):
            if hasattr(info, k):
                v = getattr(info, k)
                setattr(self, k, float(v) if name.startswith("float") else int(v))

    def __repr__(self):
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items() if k != "dtype")
        return f"{'finfo' if self.dtype.startswith('float') else 'iinfo'}({fields}, " \
               f"dtype={self.dtype})"


def finfo(type=None):
    """Machine limits of a floating dtype (default float32): eps, max, min, tiny, bits..."""
    import numpy as np  # the limits are facts of IEEE formats, the same on every device
    name = dtype_name(type) if type is not None else "float32"
    if not name.startswith("float"):
        raise TypeError(f"finfo expects a floating point dtype, got {name}")
    return _Info(np.finfo(name), name)


def iinfo(type):
    """Machine limits of an integer dtype: bits, max, min."""
    import numpy as np
    name = dtype_name(type)
    if not (name.startswith("int") or name.startswith("uint")):
        raise TypeError(f"iinfo expects an integer dtype, got {name}")
    return _Info(np.iinfo(name), name)


_MATMUL_PRECISION = ["highest"]


def set_float32_matmul_precision(precision):
    """PyTorch's TF32 switch. Every float32 matmul here runs in full float32 whatever is set
    ("highest"); the value is kept for ``get_float32_matmul_precision``."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"set_float32_matmul_precision: expected 'highest', 'high' or "
                           f"'medium', got {precision!r}")
    _MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision():
    return _MATMUL_PRECISION[0]


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,
            options=None, disable=False):
    """``torch.compile``: arrayneedle has no compiler, so the model (or function) runs as
    written, which is what a compiled one computes; also usable as ``@compile`` and
    ``@compile(mode=...)``."""
    if model is None:
        return lambda m: m
    if not callable(model):
        raise TypeError(f"compile expects a Module or a function, got {type(model).__name__}")
    return model


# memory formats: arrays here have one layout (C order), so these name it
channels_last = contiguous_format = preserve_format = "contiguous"


def _inplace(fn, name):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: writes the result into this tensor."
    return method


def data_ptr(self):
    """The address of the first element (NumPy's or CuPy's buffer)."""
    a = self.array
    if hasattr(a, "data") and hasattr(a.data, "ptr"):  # CuPy
        return int(a.data.ptr)
    return int(a.__array_interface__["data"][0])


def new(self, *args):
    """PyTorch's legacy ``t.new(...)``: sizes give zeros, data gives a tensor, both of this
    tensor's dtype and device."""
    if not args or all(isinstance(a, int) for a in args) or (
            len(args) == 1 and isinstance(args[0], tuple) and all(
                isinstance(a, int) for a in args[0])):
        return self.new_zeros(args[0] if len(args) == 1 and isinstance(args[0], tuple)
                              else (args if args else (0,)))
    return self.new_tensor(args[0])


def random_(self, from_=0, to=None, *, generator=None):
    """Fill with integers uniform in [from, to) (``random_(to)``: [0, to); no bound: [0, 2^24]
    for float32 as PyTorch's mantissa range, the dtype's maximum for integers)."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        name = dtype_name(self.dtype)
        to = {"float32": 2 ** 24 + 1, "float64": 2 ** 53 + 1, "float16": 2 ** 11 + 1}.get(
            name, None)
        if to is None:
            to = iinfo(name).max
    from .creation import randint
    draw = randint(int(from_), int(to), tuple(self.shape), device=self.device)
    return self.copy_(draw)


def get_device(self):
    """The GPU index of a CUDA tensor, -1 on the CPU (as PyTorch)."""
    return self.device.index if self.device.kind == "cuda" else -1


# ---- the Tensor methods of this module (declared in arrayneedle/tensor.py) ----
swapdims = swapaxes
unsqueeze_ = _reshaped_in_place("unsqueeze_", ops.unsqueeze)
squeeze_ = _reshaped_in_place("squeeze_", ops.squeeze)
transpose_ = _reshaped_in_place("transpose_", ops.transpose)
t_ = _reshaped_in_place("t_", ops.t)
resize_ = _reshaped_in_place("resize_", _resize)
scatter_ = _inplace(ops.scatter, "scatter_")
scatter_add_ = _inplace(ops.scatter_add, "scatter_add_")
index_add_ = _inplace(index_add, "index_add_")
addcmul_ = _inplace(addcmul, "addcmul_")
addcdiv_ = _inplace(addcdiv, "addcdiv_")
(exp_, log_, sqrt_, sigmoid_, tanh_, relu_, abs_, neg_, pow_, floor_, ceil_, round_, sign_,
 lerp_, reciprocal_, rsqrt_, sin_, cos_, cumsum_, square_, log1p_, expm1_, trunc_, frac_,
 logical_not_) = (_inplace(getattr(ops, n), n + "_") for n in (
    "exp", "log", "sqrt", "sigmoid", "tanh", "relu", "abs", "neg", "pow", "floor", "ceil",
    "round", "sign", "lerp", "reciprocal", "rsqrt", "sin", "cos", "cumsum", "square", "log1p",
    "expm1", "trunc", "frac", "logical_not"))


def pin_memory(self, device=None):
    """Pinned (page-locked) host memory is a CUDA-copy optimisation NumPy arrays do not have:
    a tensor is its own pinned version (as the DataLoader's ``pin_memory``, no effect)."""
    return self


def is_pinned(self, device=None):
    return False


def _top_level_in_place(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"``input.{name}(...)``."
    return fn


clamp_, fill_, zero_ = (_top_level_in_place(n) for n in ("clamp_", "fill_", "zero_"))
