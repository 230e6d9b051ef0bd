"""erf, a member of the unary math family (gelu, which uses it, is in activation.py).

The array API has no erf, so ``Erf`` evaluates W. J. Cody's rational approximations (the
CALERF routine of SPECFUN, relative error below 1e-16 in float64) with namespace ops; the
derivative is exact: 2/sqrt(pi) * exp(-x^2)."""
from __future__ import annotations

import math

from array_api_compat import array_namespace

from .._helpers import as_tensor
from ._dtypes import to_float
from .unary import _Unary

__all__ = ["erf", "erf_array"]

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRPI = 5.6418958354775628695e-1  # 1/sqrt(pi)
_THRESH = 0.46875


def _exp_neg_sq(xp, y):
    # exp(-y^2) split as exp(-r^2) * exp(-(y-r)(y+r)) with r = y rounded down to 1/16: keeps
    # the relative accuracy of erfc for large y (Cody)
    r = xp.trunc(y * 16) / 16
    return xp.exp(-r * r) * xp.exp(-(y - r) * (y + r))


def erf_array(x):
    """erf of a floating array, computed with the array's namespace."""
    xp = array_namespace(x)
    y = xp.abs(x)
    # |x| <= 0.46875: erf = x * R(x^2)
    ys = xp.minimum(y, _THRESH)
    ysq = ys * ys
    num, den = _A[4] * ysq, ysq
    for i in range(3):
        num, den = (num + _A[i]) * ysq, (den + _B[i]) * ysq
    small = x * (num + _A[3]) / (den + _B[3])
    # 0.46875 < |x| <= 4: erfc = exp(-x^2) * R(|x|)
    ym = xp.clip(y, _THRESH, 4.0)
    num, den = _C[8] * ym, ym
    for i in range(7):
        num, den = (num + _C[i]) * ym, (den + _D[i]) * ym
    erfc_mid = _exp_neg_sq(xp, ym) * (num + _C[7]) / (den + _D[7])
    # |x| > 4: erfc = exp(-x^2) / |x| * (1/sqrt(pi) + R(1/x^2) / x^2); 0 beyond 27
    yl = xp.clip(y, 4.0, 27.0)
    z = 1 / (yl * yl)
    num, den = _P[5] * z, z
    for i in range(4):
        num, den = (num + _P[i]) * z, (den + _Q[i]) * z
    erfc_big = _exp_neg_sq(xp, yl) * (_SQRPI - z * (num + _P[4]) / (den + _Q[4])) / yl
    erfc = xp.where(y <= 4.0, erfc_mid, erfc_big)
    big = (0.5 - erfc) + 0.5
    big = xp.where(x < 0, -big, big)
    return xp.where(y <= _THRESH, small, big)


class Erf(_Unary):
    f = staticmethod(lambda xp, a: erf_array(a))

    def d(self, a, out, m):
        return (2 / math.sqrt(math.pi)) * m.exp(-a * a)


# ---------------------------------------------------------------- public wrappers
def erf(input):
    """The error function (differentiable)."""
    return Erf.apply(to_float(as_tensor(input)))
