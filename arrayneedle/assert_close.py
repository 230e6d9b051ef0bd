"""``testing.assert_close`` with PyTorch's defaults, checks and messages: tolerances chosen by
dtype (float16 1e-3/1e-5, float32 1.3e-6/1e-5, float64 1e-7/1e-7, integers exact), shape,
dtype and device compared first, nested sequences and mappings compared entry by entry."""
from __future__ import annotations

import math

import numpy as np

from .tensor import Tensor
from .backend import dtype_name, to_numpy

__all__ = ["assert_close"]

_TOLS = {"float16": (1e-3, 1e-5), "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}


def _tensorlike(x):
    if isinstance(x, Tensor):
        return x
    return None


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None,
                 equal_nan=False, check_device=True, check_dtype=True, check_layout=True,
                 check_stride=False, msg=None):
    """Raise AssertionError unless ``|actual - expected| <= atol + rtol * |expected|``
    elementwise (NaNs equal only with ``equal_nan``)."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'atol' if atol is None else 'rtol'}.")
    if isinstance(actual, dict) and isinstance(expected, dict):
        if set(actual) != set(expected):
            raise AssertionError(f"The keys of the mappings do not match: {sorted(actual)} != "
                                 f"{sorted(expected)}")
        for k in expected:
            assert_close(actual[k], expected[k], rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)) and not (
            _numbers(actual) and _numbers(expected)):
        if len(actual) != len(expected):
            raise AssertionError(f"The length of the sequences mismatch: {len(actual)} != "
                                 f"{len(expected)}")
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    ta, te = _tensorlike(actual), _tensorlike(expected)
    if (ta is None) != (te is None) and check_dtype and not (
            isinstance(actual, (int, float)) or isinstance(expected, (int, float))):
        raise TypeError(f"No comparison operator for {type(actual).__name__} and "
                        f"{type(expected).__name__}")
    a = to_numpy(ta.detach().array) if ta is not None else np.asarray(actual)
    e = to_numpy(te.detach().array) if te is not None else np.asarray(expected)
    if a.shape != e.shape:
        raise AssertionError(_fail(msg, f"The values for attribute 'shape' do not match: "
                                        f"{tuple(a.shape)} != {tuple(e.shape)}."))
    if ta is not None and te is not None:
        if check_device and ta.device is not te.device:
            raise AssertionError(_fail(msg, f"The values for attribute 'device' do not match: "
                                            f"{ta.device} != {te.device}."))
        if check_dtype and dtype_name(ta.dtype) != dtype_name(te.dtype):
            raise AssertionError(_fail(msg, f"The values for attribute 'dtype' do not match: "
                                            f"arrayneedle.{dtype_name(ta.dtype)} != "
                                            f"arrayneedle.{dtype_name(te.dtype)}."))
    if rtol is None:
        name = dtype_name(a.dtype) if a.dtype != np.bool_ else "bool"
        name2 = dtype_name(e.dtype) if e.dtype != np.bool_ else "bool"
        t1, t2 = _TOLS.get(name, (0.0, 0.0)), _TOLS.get(name2, (0.0, 0.0))
        rtol, atol = max(t1[0], t2[0]), max(t1[1], t2[1])
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a64 - e64)
        ok = diff <= atol + rtol * np.abs(e64)
        ok |= a64 == e64  # equal infinities
        if equal_nan:
            ok |= np.isnan(a64) & np.isnan(e64)
    if ok.all():
        return
    bad = int((~ok).sum())
    total = ok.size
    diff = np.where(np.isnan(diff), np.inf, diff)
    iabs = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = diff / np.abs(e64)
    rel = np.where(np.isnan(rel), np.inf, rel)
    irel = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.ndim else ()
    kind = "Tensor-likes" if ta is not None or te is not None else "Scalars"
    lines = [f"{kind} are not close!", "",
             f"Mismatched elements: {bad} / {total} ({100 * bad / total:.1f}%)",
             f"Greatest absolute difference: {_num(diff[iabs])} at index {tuple(map(int, iabs))}"
             f" (up to {atol} allowed)",
             f"Greatest relative difference: {_num(rel[irel])} at index "
             f"{tuple(map(int, irel))} (up to {rtol} allowed)"]
    raise AssertionError(_fail(msg, "\n".join(lines)))


def _numbers(seq):
    return all(isinstance(x, (int, float, bool)) for x in seq)


def _num(x):
    x = float(x)
    return "inf" if math.isinf(x) else repr(x)


def _fail(msg, text):
    return msg if isinstance(msg, str) else (msg(text) if callable(msg) else text)
