"""Op-table rows (same format as op_table.OPS) for PyTorch's elementwise and rearranging
ops: remainder/fmod/pow, the rounding and math functions, atan2/hypot/logaddexp/lerp, roll,
tile, repeat_interleave, diff, cross. op_table appends them to OPS, so they run on NumPy
(test_ops.py) and on array-api-strict (test_strict.py), forward and float64 gradient."""
import numpy as np

import arrayneedle as an
import arrayneedle.ops as O


def _pos(x):
    return np.abs(x) + 0.5


def _unit(x):  # inside (-0.9, 0.9): asin, acos, atanh, tan
    return 0.9 * np.tanh(x)


def _apart(x):
    return np.where(np.abs(x) < 0.1, 0.5, x)


def _away_from_half(x):  # no element within 0.05 of a rounding boundary of round(x, 1)
    f = x * 10 - np.floor(x * 10)
    return np.where(np.abs(f - 0.5) < 0.05, x + 0.02, x)


def _nonfinite(x):
    x = x.copy()
    x.flat[0], x.flat[5], x.flat[7] = np.nan, np.inf, -np.inf
    return x


def _const(x, v):  # a constant Tensor on x's device (no gradient)
    return an.Tensor(x.device.asarray(np.asarray(v)), device=x.device)


def _cross(a, b):
    return np.cross(a, b, axis=1)


SURFACE2_OPS = [
    ("remainder", O.remainder, np.remainder, [(3, 4), (4,)], [lambda x: 3 * x, _pos]),
    ("remainder_neg_divisor", lambda a, b: a % b, np.remainder, [(3, 4), (3, 1)],
     [lambda x: 3 * x, lambda x: -_pos(x)]),
    ("mod_scalar", lambda a: a % 0.7, lambda a: np.remainder(a, 0.7), [(3, 4)], None),
    ("rmod_scalar", lambda a: 2.5 % a, lambda a: np.remainder(2.5, a), [(3, 4)], [_pos]),
    ("fmod", O.fmod, np.fmod, [(3, 4), (3, 4)], [lambda x: 3 * x, _apart]),
    ("fmod_scalar", lambda a: a.fmod(-0.7), lambda a: np.fmod(a, -0.7), [(3, 4)], None),
    ("pow_tensors", O.pow, np.power, [(3, 4), (4,)], [_pos, None]),
    ("pow_method_scalar", lambda a: a.pow(3), lambda a: a ** 3, [(3, 4)], None),
    ("pow_neg_base_int_exponent", lambda a: O.pow(a, _const(a, [2.0, 3.0, 0.0, 1.0])),
     lambda a: a ** np.array([2.0, 3.0, 0.0, 1.0]), [(3, 4)], None),
    ("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [(3, 4)], None),
    ("sign", O.sign, np.sign, [(3, 4)], [_apart]),
    ("floor", O.floor, np.floor, [(3, 4)], None),
    ("ceil", lambda a: a.ceil(), np.ceil, [(3, 4)], None),
    ("trunc", O.trunc, np.trunc, [(3, 4)], None),
    ("round", lambda a: a.round(), np.round, [(3, 4)], None),
    ("round_decimals", lambda a: O.round(a, decimals=1), lambda a: np.round(a * 10) / 10,
     [(3, 4)], [_away_from_half]),
    ("frac", O.frac, lambda a: a - np.trunc(a), [(3, 4)], None),
    ("square", lambda a: a.square(), np.square, [(3, 4)], None),
    ("rsqrt", O.rsqrt, lambda a: 1 / np.sqrt(a), [(3, 4)], [_pos]),
    ("reciprocal", lambda a: a.reciprocal(), np.reciprocal, [(3, 4)], [_pos]),
    ("log1p", O.log1p, np.log1p, [(3, 4)], [_pos]),
    ("expm1", O.expm1, np.expm1, [(3, 4)], None),
    ("log2", O.log2, np.log2, [(3, 4)], [_pos]),
    ("log10", lambda a: a.log10(), np.log10, [(3, 4)], [_pos]),
    ("exp2", O.exp2, np.exp2, [(3, 4)], None),
    ("tan", O.tan, np.tan, [(3, 4)], [_unit]),
    ("asin", O.asin, np.arcsin, [(3, 4)], [_unit]),
    ("acos", lambda a: a.acos(), np.arccos, [(3, 4)], [_unit]),
    ("atan", O.atan, np.arctan, [(3, 4)], None),
    ("sinh", O.sinh, np.sinh, [(3, 4)], None),
    ("cosh", O.cosh, np.cosh, [(3, 4)], None),
    ("asinh", O.asinh, np.arcsinh, [(3, 4)], None),
    ("acosh", O.acosh, np.arccosh, [(3, 4)], [lambda x: _pos(x) + 1]),
    ("atanh", O.atanh, np.arctanh, [(3, 4)], [_unit]),
    ("nan_to_num_values", lambda a: a.nan_to_num(1.0, 2.0, -3.0),
     lambda a: np.nan_to_num(a, nan=1.0, posinf=2.0, neginf=-3.0), [(3, 4)], [_nonfinite]),
    ("atan2", O.atan2, np.arctan2, [(3, 4), (4,)], None),
    ("hypot", lambda a, b: a.hypot(b), np.hypot, [(3, 4), (3, 1)], None),
    ("logaddexp", O.logaddexp, np.logaddexp, [(3, 4), (3, 4)], [lambda x: 20 * x, None]),
    ("lerp", O.lerp, lambda a, b, w: a + w * (b - a), [(3, 4), (3, 4), (4,)], None),
    ("lerp_scalar", lambda a, b: a.lerp(b, 0.3), lambda a, b: a + 0.3 * (b - a),
     [(3, 4), (4,)], None),
    ("roll", lambda a: O.roll(a, (1, -2), (0, 2)), lambda a: np.roll(a, (1, -2), (0, 2)),
     [(3, 2, 4)], None),
    ("roll_flat", lambda a: a.roll(5), lambda a: np.roll(a, 5), [(3, 4)], None),
    ("tile", lambda a: O.tile(a, (2,)), lambda a: np.tile(a, (1, 2)), [(3, 2)], None),
    ("repeat_interleave", lambda a: a.repeat_interleave(2, dim=1),
     lambda a: np.repeat(a, 2, axis=1), [(3, 2)], None),
    ("repeat_interleave_flat", lambda a: O.repeat_interleave(a, 3), lambda a: np.repeat(a, 3),
     [(2, 2)], None),
    ("repeat_interleave_counts", lambda a: O.repeat_interleave(a, _const(a, [2, 0, 1]), 0),
     lambda a: np.repeat(a, [2, 0, 1], axis=0), [(3, 2)], None),
    ("diff", lambda a: O.diff(a, n=2, dim=0), lambda a: np.diff(a, n=2, axis=0), [(5, 3)],
     None),
    ("diff_prepend", lambda a, p: a.diff(prepend=p), lambda a, p: np.diff(a, prepend=p),
     [(3, 4), (3, 2)], None),
    ("cross", O.cross, _cross, [(2, 3, 2), (2, 3, 2)], None),
]
