"""Dtype names and PyTorch-style dtype objects (``an.float32``, ``an.long``...), shared by the
backend and everything above it. NumPy's dtype names are the canonical spelling; CuPy and the
array-API namespaces use the same names."""
from __future__ import annotations

import numpy as _np

__all__ = ["DTYPES", "NUMPY_SCALARS", "DType", "DTYPE_OBJECTS", "dtype_object", "dtype_name",
           "get_dtype"]

DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "bool", "uint8")
NUMPY_SCALARS = (_np.number, _np.bool_)  # NumPy scalars count as numbers, not arrays

_NAMES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
          "int": "int32", "short": "int16"}


class DType:
    """A dtype object as PyTorch's (``an.float32``, ``an.long``...). Accepted wherever a dtype
    is (it converts to the NumPy dtype through its ``dtype`` attribute, as NumPy and CuPy
    read it), and equal to its name and to the array library's dtype, so ``t.dtype ==
    an.float32`` and ``t.dtype == "float32"`` both hold."""

    __slots__ = ("name", "dtype")

    def __init__(self, name):
        self.name = name
        self.dtype = _np.dtype(name)

    @property
    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def __eq__(self, other):
        if isinstance(other, DType):
            return other.name == self.name
        try:
            return dtype_name(other) == self.name
        except (TypeError, ValueError):
            return NotImplemented

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"arrayneedle.{self.name}"

    def __reduce__(self):
        return (DType, (self.name,))


DTYPE_OBJECTS = {name: DType(name) for name in DTYPES}


def dtype_object(dtype) -> DType:
    """The ``DType`` for any dtype spelling (string, NumPy/CuPy dtype or DType)."""
    return DTYPE_OBJECTS[dtype_name(dtype)]


def dtype_name(dtype) -> str:
    """Canonical string name of a dtype given as a string, a DType or a namespace dtype."""
    if isinstance(dtype, DType):
        return dtype.name
    if isinstance(dtype, str):
        name = _NAMES.get(dtype, dtype)
    else:
        try:
            name = _np.dtype(dtype).name
        except TypeError:
            name = str(dtype).split(".")[-1].strip("'>")
    if name not in DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    return name


def get_dtype(xp, dtype):
    """The namespace's dtype object for ``dtype`` (a string or a dtype)."""
    return getattr(xp, dtype_name(dtype))
