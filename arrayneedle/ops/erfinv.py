"""``erfinv``: the inverse error function on (-1, 1) (+-inf at +-1, NaN outside), with its
gradient sqrt(pi)/2 * exp(erfinv(x)^2). Giles' single-precision approximation ("Approximating
the erfinv function", 2010) refined by three Newton steps on erf, in the array's namespace."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import as_tensor
from ._dtypes import to_float
from .special import erf_array
from .unary import _Unary

__all__ = ["erfinv"]

_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
            -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
         -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _poly(coeffs, t):
    p = coeffs[0] + 0 * t
    for c in coeffs[1:]:
        p = p * t + c
    return p


def erfinv_array(x):
    xp = array_namespace(x)
    ax = xp.minimum(xp.abs(x), xp.asarray(1.0, dtype=x.dtype))
    w = -xp.log((1.0 - ax) * (1.0 + ax))
    central = _poly(_CENTRAL, w - 2.5)
    tail = _poly(_TAIL, xp.sqrt(xp.maximum(w, xp.asarray(5.0, dtype=x.dtype))) - 3.0)
    y = xp.where(w < 5.0, central, tail) * x
    finite = xp.abs(x) < 1
    y = xp.where(finite, y, xp.zeros_like(y))
    k = 2.0 / math.sqrt(math.pi)
    for _ in range(3):  # Newton on erf(y) = x
        err = erf_array(y) - x
        y = y - xp.where(finite, err / (k * xp.exp(-y * y)), xp.zeros_like(y))
    inf = xp.asarray(math.inf, dtype=x.dtype)
    y = xp.where(x == 1, inf, xp.where(x == -1, -inf, y))
    return xp.where(xp.abs(x) > 1, xp.asarray(math.nan, dtype=x.dtype), y)


class ErfInv(_Unary):
    """A member of the unary math family: d/dx erfinv(x) = sqrt(pi)/2 * exp(erfinv(x)^2)."""

    saves = "out"
    f = staticmethod(lambda xp, a: erfinv_array(a))

    def d(self, a, out, m):
        return (math.sqrt(math.pi) / 2) * m.exp(out * out)


def erfinv(input):
    """The inverse of ``erf`` (floating point; integers are promoted as PyTorch)."""
    return ErfInv.apply(to_float(as_tensor(input)))
