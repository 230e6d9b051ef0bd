"""The code of PyTorch's in-place Tensor methods (``Tensor`` in arrayneedle/tensor.py declares
them): ``zero_``, ``fill_``, ``normal_``, ``uniform_``,
``copy_``, ``add_``, ``sub_``, ``mul_``, ``div_``, ``clamp_``, ``masked_fill_``,
``x[idx] = v`` and the augmented operators (``+=``...).

Each returns the Tensor itself, writes into its array (so every Tensor sharing that memory,
``.data`` and ``detach()`` included, sees the change) and bumps its version counter.

The rules are PyTorch's:
- On a leaf that requires grad, outside ``no_grad``, they raise (the leaf's value is what the
  gradient is taken at).
- Outside the graph (no grad involved) they compute straight into the array.
- On a Tensor in the graph (or when the new value requires grad) the Tensor takes a new
  creator: the op applied to a stand-in for its old value, so gradients flow to the old
  value's inputs. Ops that already used the old value were recorded at its old version and
  ``backward()`` refuses them (conservatively: also where the op would not have needed the
  value). The stand-in shares the array unless the op keeps its input for backward (mul_,
  div_), which then gets a copy.
"""
from __future__ import annotations

import operator

from array_api_compat import array_namespace

from . import backend, ops
from ._helpers import as_scalar
from .autograd import DeviceMismatchError, Function, Tensor, is_grad_enabled
from .backend import dtype_name
from .dtypes import FLOAT_DTYPES
from .ops import unbroadcast

__all__ = ["IndexPut", "Copy", "add_", "sub_", "mul_", "div_", "zero_", "fill_", "normal_",
           "uniform_", "copy_", "clamp_", "masked_fill_", "setitem"]


# ---------------------------------------------------------------- Functions
class Copy(Function):
    """The identity as a graph node (``copy_`` and ``to(copy=True)``); ``copy=True`` returns a
    new array."""

    keeps_inputs = False

    def forward(self, a, copy=False):
        if copy:
            return array_namespace(a).asarray(a, copy=True)
        return a

    def backward(self, g):
        return g


class IndexPut(Function):
    """``out = a; out[index] = v`` (a copy of ``a``); gradients: ``g`` with the written places
    zeroed for ``a``, the written places (summed over broadcasting) for ``v``."""

    keeps_inputs = False

    def forward(self, a, v, index):
        xp = array_namespace(a)
        out = xp.asarray(a, copy=True)
        out[index] = v
        self.index, self.vshape = index, v.shape
        return out

    def backward(self, g):
        ga = gv = None
        if self.needs_input_grad[0]:
            zero = Tensor._wrap(g._device.xp.zeros((), dtype=g._array.dtype), g._device)
            ga = IndexPut.apply(g, zero, index=self.index)
        if self.needs_input_grad[1]:
            gv = unbroadcast(g[self.index], self.vshape)
        return ga, gv


# ---------------------------------------------------------------- machinery
def _check_leaf(t):
    if t.requires_grad and t._ctx is None and is_grad_enabled():
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")


def _in_graph(t, *others):
    if not is_grad_enabled():
        return False
    return t.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others)


def _writable(t):
    """The Tensor's array, made writable first when it is a read-only view (a broadcast
    gradient): such an array cannot share its memory with anything to update."""
    a = t._array
    flags = getattr(a, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        a = t._array = t._device.xp.asarray(a, copy=True)
    return a


def _operand(t, other, name):
    """``other`` as a Python number or a raw array on ``t``'s device, after PyTorch's check that
    the result can be stored in ``t``'s dtype."""
    if isinstance(other, Tensor) and other._device is not t._device:
        if other.ndim != 0:
            raise DeviceMismatchError(f"{name}: the tensor is on {t._device} and the other "
                                      f"operand on {other._device}; move it with .to()")
        other = other.item()  # a 0-d tensor from another device acts as a number (PyTorch)
    if isinstance(other, Tensor):
        kind = dtype_name(other._array.dtype)
        raw = other._array
    else:
        other = as_scalar(other)
        if not isinstance(other, (int, float, bool)):
            other = Tensor(other, device=t._device)
            return _operand(t, other, name)
        kind = "float32" if isinstance(other, float) else "int64"
        raw = other
    mine = dtype_name(t._array.dtype)
    if kind in FLOAT_DTYPES and mine not in FLOAT_DTYPES:
        raise RuntimeError(f"{name}: result type {kind} can't be cast to the desired output "
                           f"type {mine} (the tensor's dtype)")
    if not isinstance(raw, (int, float, bool)):
        shape = _broadcast(tuple(t._array.shape), tuple(raw.shape))
        if shape != tuple(t._array.shape):
            raise RuntimeError(f"{name}: output with shape {list(t._array.shape)} doesn't match "
                               f"the broadcast shape {list(shape)}")
    return raw


def _broadcast(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


def _rebase(t, res):
    """Make ``t`` hold ``res``'s value (written into t's array) and ``res``'s creator."""
    if res._array.dtype != t._array.dtype:
        res = ops.astype(res, t._array.dtype)
    a = _writable(t)
    a[...] = res._array
    t._ctx = res._ctx
    t.requires_grad = res.requires_grad
    t._bump()
    return t


def _stand_in(t, copy=False):
    """A Tensor for ``t``'s current value and creator, to be the input of the op that replaces
    it in the graph."""
    a = t._array
    if copy:
        a = t._device.xp.asarray(a, copy=True)
    return Tensor._wrap(a, t._device, requires_grad=t.requires_grad, ctx=t._ctx)


def _arith(name, op, iop, keeps_input):
    def method(self, other, *, alpha=None):
        _check_leaf(self)
        if alpha is not None and alpha != 1:
            other = other * alpha
        if _in_graph(self, other):
            if isinstance(other, Tensor) and other._device is not self._device:
                raise DeviceMismatchError(f"{name}: the tensor is on {self._device} and the "
                                          f"other operand on {other._device}")
            _operand(self, other.detach() if isinstance(other, Tensor) else other, name)
            return _rebase(self, op(_stand_in(self, keeps_input), other))
        raw = _operand(self, other, name)
        a = _writable(self)
        out = iop(a, raw)
        if out is not a:  # an array library without in-place operators
            self._array = out
        self._bump()
        return self
    method.__name__ = name
    method.__doc__ = f"In place ``{op.__name__}`` (PyTorch's ``Tensor.{name}``); returns self."
    return method


def _overwrite(self, new_raw, name):
    """Write a value that does not depend on the old one (fill_, normal_...)."""
    _check_leaf(self)
    a = _writable(self)
    a[...] = new_raw
    if is_grad_enabled() and self._ctx is not None:
        # the new value is a constant: nothing flows back through it any more
        self._ctx = None
        self.requires_grad = False
    self._bump()
    return self


# ---------------------------------------------------------------- the methods
add_ = _arith("add_", ops.add, operator.iadd, False)
sub_ = _arith("sub_", ops.subtract, operator.isub, False)
mul_ = _arith("mul_", ops.multiply, operator.imul, True)
div_ = _arith("div_", ops.divide, operator.itruediv, True)


def zero_(self):
    return _overwrite(self, 0, "zero_")


def fill_(self, value):
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        value = value.item()
    return _overwrite(self, as_scalar(value), "fill_")


def _generator(generator, dev):
    if generator is None:
        return dev
    if isinstance(generator, backend.Device):
        if generator is not dev:
            raise DeviceMismatchError(f"generator is the one of {generator}, the tensor is on "
                                      f"{dev}")
        return generator
    raise TypeError(f"generator must be None or a Device (whose generator is used), got "
                    f"{type(generator).__name__}")


def _float_only(self, name):
    if dtype_name(self._array.dtype) not in FLOAT_DTYPES:
        raise RuntimeError(f"{name} expects a floating point tensor, got dtype "
                           f"{dtype_name(self._array.dtype)}")


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with N(mean, std^2) draws from the device's generator (seeded by manual_seed)."""
    _float_only(self, "normal_")
    if std < 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    gen = _generator(generator, self._device)
    return _overwrite(self, gen.randn(tuple(self._array.shape), self._array.dtype) * std + mean,
                      "normal_")


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fill with U(a, b) draws from the device's generator."""
    _float_only(self, "uniform_")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={a} > to={b}")
    gen = _generator(generator, self._device)
    u = gen.rand(tuple(self._array.shape), self._array.dtype)
    return _overwrite(self, u * (b - a) + a, "uniform_")


def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast to this shape, cast to this dtype, from any device) in."""
    _check_leaf(self)
    if not isinstance(src, Tensor):
        src = Tensor(src, device=self._device)
    if _broadcast(tuple(self._array.shape), tuple(src._array.shape)) != tuple(self._array.shape):
        raise RuntimeError(f"copy_: the source of shape {list(src._array.shape)} cannot be "
                           f"broadcast to the tensor's shape {list(self._array.shape)}")
    if _in_graph(self, src):
        res = src if src._device is self._device else ops.to_device(src, self._device)
        if tuple(res.shape) != tuple(self.shape):
            res = ops.broadcast_to(res, tuple(self.shape))
        return _rebase(self, Copy.apply(res))
    raw = src._array if src._device is self._device else self._device.asarray(src._array)
    a = _writable(self)
    a[...] = raw
    self._bump()
    return self


def clamp_(self, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp_: at least one of 'min' or 'max' must not be None")
    _check_leaf(self)
    if _in_graph(self):
        return _rebase(self, ops.clip(_stand_in(self), min, max))
    a = _writable(self)
    a[...] = ops.clip(Tensor._wrap(a, self._device), min, max)._array
    self._bump()
    return self


def masked_fill_(self, mask, value):
    """Where ``mask`` (a bool tensor broadcastable to this shape) is true, write ``value``."""
    _check_leaf(self)
    if not isinstance(mask, Tensor) or dtype_name(mask._array.dtype) != "bool":
        got = type(mask).__name__ if not isinstance(mask, Tensor) else dtype_name(mask.dtype)
        raise RuntimeError(f"masked_fill_ only supports boolean masks, got {got}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.ndim} dimension(s)")
    if not isinstance(value, Tensor):
        value = as_scalar(value)
    if _in_graph(self, value):
        return _rebase(self, ops.where(mask, value, _stand_in(self)))
    a = _writable(self)
    src = Tensor._wrap(a, self._device)
    a[...] = ops.where(mask, value.detach() if isinstance(value, Tensor) else value, src)._array
    self._bump()
    return self


def _raw_index(index, dev):
    if isinstance(index, tuple):
        return tuple(_raw_index(i, dev) for i in index)
    if isinstance(index, Tensor):
        if index._device is not dev:
            raise DeviceMismatchError(f"indices are on {index._device}, the tensor on {dev}")
        return index._array
    if isinstance(index, list):
        return dev.asarray(index)
    return index


def setitem(self, index, value):
    """``x[index] = value`` (basic and advanced indexing; a number, array or Tensor value)."""
    _check_leaf(self)
    idx = _raw_index(index, self._device)
    if self._device.kind != "cpu":  # NumPy raises IndexError itself; CuPy would wrap
        from .ops._util import check_array_index
        check_array_index(self.shape, idx)
    if _in_graph(self, value):
        v = value if isinstance(value, Tensor) else Tensor(value, device=self._device,
                                                           dtype=self._array.dtype)
        if v._device is not self._device:
            raise DeviceMismatchError(f"x[index] = value: the value is on {v._device}, the "
                                      f"tensor on {self._device}")
        if v._array.dtype != self._array.dtype:
            v = ops.astype(v, self._array.dtype)
        _rebase(self, IndexPut.apply(_stand_in(self), v, index=idx))
        return
    if isinstance(value, Tensor):
        if value._device is not self._device:
            raise DeviceMismatchError(f"x[index] = value: the value is on {value._device}, the "
                                      f"tensor on {self._device}")
        raw = value._array
    else:
        raw = as_scalar(value)
        if not isinstance(raw, (int, float, bool)):
            raw = self._device.asarray(raw, self._array.dtype)
    a = _writable(self)
    a[idx] = raw
    self._bump()
