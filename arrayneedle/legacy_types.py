"""PyTorch's typed-tensor names and the pre-0.4 autograd spellings that programs still use.

- ``FloatTensor``, ``DoubleTensor``, ``HalfTensor``, ``LongTensor``, ``IntTensor``,
  ``ShortTensor``, ``CharTensor``, ``ByteTensor``, ``BoolTensor`` (and ``cuda.FloatTensor``...):
  called with sizes (``FloatTensor(2, 3)``, a tensor of zeros where PyTorch leaves memory
  uninitialised) or with data (``LongTensor([1, 2])``, an array); ``isinstance(t,
  FloatTensor)`` is true for a float32 tensor on the CPU, as in PyTorch.
- ``Tensor.type()``: the type name (``'arrayneedle.FloatTensor'``, ``'arrayneedle.cuda.
  LongTensor'``); ``Tensor.type(T)`` with a type, a dtype or a type name (``'torch.X'`` is read as
  ``'arrayneedle.X'``) casts, as PyTorch.
- ``autograd.Variable(tensor, requires_grad=False)``: a Tensor sharing ``tensor``'s data (what
  Variable has been since PyTorch 0.4); ``isinstance(t, Variable)`` holds for every Tensor.
"""
from __future__ import annotations

import numbers
import warnings

from .tensor import Size, Tensor
from .backend import device as _device, dtype_name, get_dtype

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
           "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "Variable", "CUDA_TYPES"]

_TYPES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
          "LongTensor": "int64", "IntTensor": "int32", "ShortTensor": "int16",
          "CharTensor": "int8", "ByteTensor": "uint8", "BoolTensor": "bool"}
_NAME_OF = {v: k for k, v in _TYPES.items()}


class _TensorType(type):
    """The metaclass of the typed-tensor names: calling one makes a Tensor; isinstance checks
    dtype and device kind."""

    def __instancecheck__(cls, obj):
        return (isinstance(obj, Tensor) and dtype_name(obj.dtype) == cls.dtype_name
                and (obj.device.kind == "cuda") == cls.is_cuda)

    def __call__(cls, *args, device=None):
        dev = _device(device if device is not None else ("cuda" if cls.is_cuda else "cpu"))
        if not args:
            return Tensor(dev.xp.zeros((0,), dtype=get_dtype(dev.xp, cls.dtype_name)), device=dev)
        sizes = args[0] if len(args) == 1 and isinstance(args[0], Size) else args
        if all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
            if any(int(s) < 0 for s in sizes):
                raise RuntimeError(f"{cls.__name__}: negative dimension in size {tuple(sizes)}")
            return Tensor(dev.xp.zeros(tuple(int(s) for s in sizes),
                                       dtype=get_dtype(dev.xp, cls.dtype_name)), device=dev)
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}() takes sizes (ints) or one sequence of data, got "
                            f"{args!r}")
        data = args[0]
        if isinstance(data, Tensor):  # shares the data, as PyTorch; no silent cast
            if dtype_name(data.dtype) != cls.dtype_name:
                raise TypeError(f"{cls.__name__}: expected a tensor of dtype {cls.dtype_name}, "
                                f"got {dtype_name(data.dtype)}")
            return data.detach()
        if isinstance(data, numbers.Number):
            raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
        return Tensor(data, dtype=cls.dtype_name, device=dev)

    def __repr__(cls):
        return f"<class '{cls.__module__}.{cls.__qualname__}'>"


def _make_type(name, cuda):
    cls = _TensorType(name, (), {"dtype_name": _TYPES[name], "is_cuda": cuda,
                                 "__doc__": f"PyTorch's {'cuda.' if cuda else ''}{name}: "
                                            f"{_TYPES[name]} tensors on the "
                                            f"{'GPU' if cuda else 'CPU'}."})
    cls.__module__ = "arrayneedle.cuda" if cuda else "arrayneedle"
    return cls


FloatTensor, DoubleTensor, HalfTensor = (_make_type("FloatTensor", False),
                                         _make_type("DoubleTensor", False),
                                         _make_type("HalfTensor", False))
LongTensor, IntTensor, ShortTensor, CharTensor = (
    _make_type("LongTensor", False), _make_type("IntTensor", False),
    _make_type("ShortTensor", False), _make_type("CharTensor", False))
ByteTensor, BoolTensor = _make_type("ByteTensor", False), _make_type("BoolTensor", False)
CPU_TYPES = {n: globals()[n] for n in _TYPES}
CUDA_TYPES = {n: _make_type(n, True) for n in _TYPES}


def _type_name(t):
    return ("arrayneedle.cuda." if t.device.kind == "cuda" else "arrayneedle.") + _NAME_OF.get(
        dtype_name(t.dtype), dtype_name(t.dtype))


def _parse_type_name(s):
    name = s.replace("torch.", "arrayneedle.", 1) if s.startswith("torch.") else s
    for prefix, types in (("arrayneedle.cuda.", CUDA_TYPES), ("arrayneedle.", CPU_TYPES)):
        short = name[len(prefix):] if name.startswith(prefix) else None
        if short in _TYPES:
            return types[short]
    raise ValueError(f"invalid type: {s!r}; expected a name such as 'arrayneedle.FloatTensor' "
                     f"or 'arrayneedle.cuda.LongTensor'")


def type_(self, dtype=None, non_blocking=False, **kwargs):
    """``t.type()``: the type name; ``t.type(FloatTensor)`` / ``t.type('arrayneedle.cuda.
    FloatTensor')`` / ``t.type(float64)``: the tensor cast (and moved for a cuda type), itself
    when nothing changes."""
    if dtype is None:
        return _type_name(self)
    if isinstance(dtype, str) and "Tensor" in dtype:
        dtype = _parse_type_name(dtype)
    if isinstance(dtype, _TensorType):
        dev = self.device
        if dtype.is_cuda != (dev.kind == "cuda"):
            dev = _device("cuda" if dtype.is_cuda else "cpu")
        return self.to(device=dev, dtype=dtype.dtype_name)
    return self.to(dtype=dtype)


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)

    def __call__(cls, data, requires_grad=False, volatile=False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with "
                          "arrayneedle.no_grad():` instead.", UserWarning, stacklevel=2)
        out = data.detach()
        return out.requires_grad_(True) if requires_grad else out


class Variable(metaclass=_VariableMeta):
    """``Variable(tensor, requires_grad=False, volatile=False)``: a Tensor sharing the data of
    ``tensor`` (detached from its graph), requiring grad when asked; PyTorch's Variable since
    0.4. ``volatile`` has no effect (a warning says so, as PyTorch)."""


def _attach():  # module attributes only: Tensor.type is declared in tensor.py
    from . import autograd, backend
    autograd.Variable = Variable  # torch.autograd.Variable
    for n, cls in CUDA_TYPES.items():
        setattr(backend.cuda, n, cls)  # torch.cuda.FloatTensor...


_attach()
