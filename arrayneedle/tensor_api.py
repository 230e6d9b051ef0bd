"""The code of Tensor's conversions and facts, with PyTorch's names and overloads: ``to``,
``cpu``, ``cuda``, ``astype``, ``type_as``, ``new_zeros``/``new_ones``/``new_full``/
``new_empty``/``new_tensor``, ``numpy``, ``item``, ``tolist``, ``size``, ``element_size``,
``retain_grad``, ``detach_``, ``where`` and the Python conversions. Each function takes the
Tensor first; ``Tensor`` (arrayneedle/tensor.py) declares them as its methods.

``to`` (and the casts built on it) is differentiable and returns the Tensor itself when
nothing changes (``copy=True`` forces a new one), as PyTorch.
"""
from __future__ import annotations

from . import backend, ops
from ._helpers import shape_arg
from .backend import Device, dtype_name
from .inplace import Copy
from .tensor import Size, Tensor

__all__ = ["parse_to", "to", "cpu", "cuda", "astype", "type_as", "new_full", "new_zeros",
           "new_ones", "new_empty", "new_tensor", "size", "element_size", "retain_grad",
           "detach_", "numpy", "item", "tolist", "where"]


def _as_dtype(x):
    """``x`` as a dtype name when it spells a dtype, else None."""
    if isinstance(x, (backend.DType, str)) or hasattr(x, "kind") or isinstance(x, type):
        try:
            return dtype_name(x)
        except (TypeError, ValueError):
            return None
    return None


def parse_to(args, kwargs, like=None):
    """PyTorch's ``to`` overloads -> (Device or None, dtype name or None, copy):
    ``to(device=None, dtype=None, non_blocking=False, copy=False)``, ``to(dtype, ...)``,
    ``to(tensor, ...)``."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    copy = bool(kwargs.pop("copy", False))
    if kwargs:
        raise TypeError(f"to() got unexpected keyword argument(s) {', '.join(kwargs)}; expected "
                        f"device, dtype, non_blocking, copy")
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        device, dtype = other._device, other._array.dtype
    elif rest and _as_dtype(rest[0]) is not None:
        dtype = rest.pop(0)
    elif rest and (isinstance(rest[0], (str, Device, int)) and not isinstance(rest[0], bool)):
        device = rest.pop(0)
        if rest and _as_dtype(rest[0]) is not None:
            dtype = rest.pop(0)
    if rest and isinstance(rest[0], bool):  # non_blocking
        rest.pop(0)
        if rest and isinstance(rest[0], bool):
            copy = rest.pop(0)
    if rest:
        raise TypeError(f"to() received an invalid combination of arguments {args!r}; expected "
                        f"to(device, dtype), to(dtype) or to(tensor)")
    if isinstance(device, int):
        device = backend.cuda(device)
    dev = None if device is None else backend.device(device)
    return dev, (None if dtype is None else dtype_name(dtype)), copy


def to(self, *args, **kwargs) -> Tensor:
    """A Tensor on another device and/or of another dtype (differentiable); the Tensor itself
    when it already matches, unless ``copy=True``."""
    dev, dtype, copy = parse_to(args, dict(kwargs))
    out = self
    if dev is not None and dev is not self._device:
        out = ops.to_device(out, dev)
    if dtype is not None and dtype != dtype_name(out._array.dtype):
        out = ops.astype(out, dtype)
    if copy and out is self:
        out = Copy.apply(self, copy=True)
    return out


def cpu(self):
    return to(self, "cpu")


def cuda(self, device=None, non_blocking=False):
    if device is None:
        device = 0
    return to(self, backend.cuda(device) if isinstance(device, int) else device)


def astype(self, dtype):
    return to(self, dtype=dtype)


def type_as(self, other):
    return to(self, dtype=other._array.dtype)


def _new(self, array, requires_grad):
    t = Tensor.from_array(array)
    return t.requires_grad_(True) if requires_grad else t


def _target(self, dtype, device):
    dev = self._device if device is None else backend.device(device)
    return dev, (self._array.dtype if dtype is None else dtype_name(dtype))


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    dev, dt = _target(self, dtype, device)
    arr = dev.xp.full(shape_arg((size,)), fill_value, dtype=backend.get_dtype(dev.xp, dt))
    return _new(self, arr, requires_grad)


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    return new_full(self, shape_arg(size), 0, dtype=dtype, device=device,
                    requires_grad=requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return new_full(self, shape_arg(size), 1, dtype=dtype, device=device,
                    requires_grad=requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    """Like PyTorch's (whose content is undefined); here the memory is zeroed."""
    return new_zeros(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """A new leaf Tensor (a copy) of ``data``, by default of this one's dtype and device."""
    dev, dt = _target(self, dtype, device)
    if isinstance(data, Tensor):
        data = data._array
    t = Tensor(dev.asarray(data, dt), device=dev)
    if t._array is data:
        t._array = dev.xp.asarray(data, copy=True)
    return t.requires_grad_(True) if requires_grad else t


def element_size(self) -> int:
    return backend.dtype_object(self._array.dtype).itemsize


def size(self, dim=None):
    """The shape as a ``Size`` (a tuple), or its length along ``dim``, as PyTorch."""
    if dim is None:
        return Size(self._array.shape)
    return self._array.shape[_dim(dim, self._array.ndim)]


def retain_grad(self):
    """Keep this non-leaf Tensor's gradient in ``.grad`` at the next backward."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
    if self._ctx is not None:
        self._retain = True
    return self


def detach_(self) -> "Tensor":
    """Take this Tensor out of the graph: it becomes a leaf that requires no grad."""
    self._ctx = None
    self.requires_grad = False
    return self


def numpy(self, force=False):
    """The data as a NumPy array (a copy from the GPU; the array itself on the CPU)."""
    if self.requires_grad and not force:
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                           "tensor.detach().numpy() instead.")
    return backend.to_numpy(self._array)


def item(self):
    if self.numel() != 1:
        raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to "
                           f"a Python scalar (item() needs exactly one element; shape "
                           f"{tuple(self.shape)})")
    return self.numpy(force=True).reshape(()).item()


def tolist(self):
    return self.numpy(force=True).tolist()


def __repr__(self):
    extra = f", device='{self._device}'" if self._device.kind != "cpu" else ""
    grad = (f", grad_fn={self._ctx!r}" if self._ctx is not None
            else ", requires_grad=True" if self.requires_grad else "")
    body = str(self.numpy(force=True)) if self.numel() <= 64 else f"<shape {tuple(self.shape)}>"
    return f"Tensor({body}, dtype={dtype_name(self.dtype)}{extra}{grad})"


def __array__(self, dtype=None, copy=None):
    a = self.numpy(force=True)
    return a if dtype is None else a.astype(dtype)


def __index__(self):
    if dtype_name(self._array.dtype) not in ("int64", "int32", "uint8", "int16", "int8"):
        raise TypeError("only integer tensors of a single element can be converted to an "
                        "index")
    return int(self.item())


def where(self, condition, other) -> Tensor:
    """``x.where(condition, y)`` is ``where(condition, x, y)`` (PyTorch's method order)."""
    return ops.where(condition, self, other)


def _dim(dim, ndim):
    d = int(dim)
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return d % ndim if ndim else 0
