"""Dtype names and PyTorch-style dtype objects (``an.float32``, ``an.long``...), shared by the
backend and everything above it. NumPy's dtype names are the canonical spelling; CuPy and the
array-API namespaces use the same names.

Every dtype rule lives here: which dtypes exist, which are floating (the only ones that carry
gradients), the default float dtype, and what counts as an array rather than a number.
"""
from __future__ import annotations

import array_api_compat
import numpy as _np

__all__ = ["DTYPES", "FLOAT_DTYPES", "DEFAULT_FLOAT", "NUMPY_SCALARS", "DType", "DTYPE_OBJECTS",
           "dtype_object", "dtype_name", "get_dtype", "is_float_dtype", "is_array"]

DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "bool", "uint8")
# the floating dtypes: the only ones that can require gradients
FLOAT_DTYPES = ("float16", "float32", "float64")
# PyTorch's default dtype: Python floats, random factories and float functions of integers
DEFAULT_FLOAT = "float32"
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


_IS_FLOAT: dict = {}


def is_float_dtype(dtype) -> bool:
    """Whether ``dtype`` (any spelling, or any library's dtype object) is a floating dtype."""
    # cached per dtype object: this sits on the arithmetic hot path. The key holds the dtype's
    # class first so that dtypes of different libraries are never compared with each other
    key = (type(dtype), dtype)
    r = _IS_FLOAT.get(key)
    if r is None:
        r = _IS_FLOAT[key] = dtype_name(dtype) in FLOAT_DTYPES
    return r


def is_array(x) -> bool:
    """Whether ``x`` is an array of an array-API library (NumPy, CuPy, array-api-strict...),
    not a Python number (which array-api-compat also accepts)."""
    return array_api_compat.is_array_api_obj(x) and not isinstance(x, (bool, int, float,
                                                                         complex))


def python_data(data):
    """Python data (numbers, nested lists) as a NumPy array of PyTorch's dtype for it: floats
    ``DEFAULT_FLOAT``, integers int64, booleans bool; other kinds raise a TypeError."""
    probe = _np.asarray(data)
    kind = probe.dtype.kind
    if kind == "f":
        return probe.astype(DEFAULT_FLOAT, copy=False)
    if kind in "iu":
        return probe.astype("int64", copy=False)
    if kind != "b":
        raise TypeError(f"cannot make a Tensor from {type(data).__name__} data of dtype "
                        f"{probe.dtype}")
    return probe
