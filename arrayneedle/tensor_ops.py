"""The Tensor methods that are ops: ``x.exp()`` is ``arrayneedle.ops.exp(x)``, ``x.sum(1)``
is ``ops.sum(x, 1)``. ``OpMethods`` is a mixin of ``Tensor`` (arrayneedle/tensor.py); each line
declares one method, found in ``arrayneedle.ops`` under the same name when first used
(``Delegated``): the method is the op function itself, with its signature and docstring.
"""
from __future__ import annotations

import importlib
from functools import partial
from types import MethodType

__all__ = ["Delegated", "LateModule", "OpMethods"]


class Delegated:
    """A Tensor method whose code is the function ``attr`` (by default the method's own name)
    of the module ``arrayneedle.<module>``: ``x.name(*args, **kwargs)`` calls
    ``module.attr(x, *args, **kwargs)``, and with ``reflected=True`` (the right-hand operators)
    ``x.__radd__(y)`` calls ``module.attr(y, x)``.

    Those modules compute with Tensors, so they are imported after ``Tensor`` exists. On the
    method's first use the declaration resolves itself: it looks the function up and puts it
    in the class under the declared name (as ``functools.cached_property`` does on instances),
    so from then on the method is that plain function, at the cost of any other method.
    """

    __slots__ = ("module", "attr", "reflected", "owner", "name")

    def __init__(self, module: str, attr: str | None = None, *, reflected: bool = False):
        self.module, self.attr, self.reflected = module, attr, reflected
        self.owner = self.name = None

    def __set_name__(self, owner, name):
        self.owner, self.name = owner, name
        if self.attr is None:
            self.attr = name

    def resolve(self):
        """The function this declaration stands for, now put in its class."""
        fn = getattr(importlib.import_module(f"arrayneedle.{self.module}"), self.attr)
        if self.reflected:
            fn = _reflected(fn, self.name)
        setattr(self.owner, self.name, fn)
        return fn

    def __get__(self, obj, objtype=None):
        fn = self.resolve()
        return fn if obj is None else MethodType(fn, obj)

    def __repr__(self):
        return f"<Tensor method {self.name}: arrayneedle.{self.module}.{self.attr}>"


class LateModule:
    """The module ``arrayneedle.<name>``, imported on first attribute access: for code below
    that module in the import graph (``Tensor.backward`` reaches the backward walk)."""

    __slots__ = ("name", "_mod")

    def __init__(self, name: str):
        self.name, self._mod = name, None

    def __getattr__(self, attr):
        mod = self._mod
        if mod is None:
            mod = self._mod = importlib.import_module(f"arrayneedle.{self.name}")
        return getattr(mod, attr)


def _reflected(fn, name):
    def method(self, other):
        return fn(other, self)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{fn.__name__}(other, self)``."
    return method


_ops = partial(Delegated, "ops")


class OpMethods:
    """Tensor's methods that are functions of ``arrayneedle.ops`` of the same name."""

    __slots__ = ()

    # arithmetic and comparison (the operators below call these too)
    add = _ops()
    sub = _ops()
    subtract = _ops()
    mul = _ops()
    multiply = _ops()
    div = _ops()
    divide = _ops()
    true_divide = _ops()
    neg = _ops()
    negative = _ops()
    pow = _ops()
    remainder = _ops()
    fmod = _ops()
    floor_divide = _ops()
    maximum = _ops()
    minimum = _ops()
    eq = _ops()
    ne = _ops()
    lt = _ops()
    le = _ops()
    gt = _ops()
    ge = _ops()
    equal = _ops()
    not_equal = _ops()
    less = _ops()
    less_equal = _ops()
    greater = _ops()
    greater_equal = _ops()
    isclose = _ops()
    allclose = _ops()
    clip = _ops()
    clamp = _ops()

    # unary math
    abs = _ops()
    exp = _ops()
    log = _ops()
    sqrt = _ops()
    sin = _ops()
    cos = _ops()
    tanh = _ops()
    sigmoid = _ops()
    relu = _ops()
    silu = _ops()
    erf = _ops()
    sign = _ops()
    sgn = _ops()
    floor = _ops()
    ceil = _ops()
    trunc = _ops()
    fix = _ops()
    frac = _ops()
    round = _ops()
    square = _ops()
    rsqrt = _ops()
    reciprocal = _ops()
    log1p = _ops()
    expm1 = _ops()
    log2 = _ops()
    log10 = _ops()
    exp2 = _ops()
    tan = _ops()
    asin = _ops()
    acos = _ops()
    atan = _ops()
    arcsin = _ops()
    arccos = _ops()
    arctan = _ops()
    sinh = _ops()
    cosh = _ops()
    asinh = _ops()
    acosh = _ops()
    atanh = _ops()
    arcsinh = _ops()
    arccosh = _ops()
    arctanh = _ops()
    nan_to_num = _ops()

    # binary math
    atan2 = _ops()
    arctan2 = _ops()
    hypot = _ops()
    logaddexp = _ops()
    lerp = _ops()

    # logical and bitwise
    logical_not = _ops()
    logical_and = _ops()
    logical_or = _ops()
    logical_xor = _ops()
    bitwise_not = _ops()
    bitwise_and = _ops()
    bitwise_or = _ops()
    bitwise_xor = _ops()

    # tests
    isnan = _ops()
    isinf = _ops()
    isfinite = _ops()
    isposinf = _ops()
    isneginf = _ops()

    # reductions, max/min and sorting
    sum = _ops()
    mean = _ops()
    prod = _ops()
    var = _ops()
    std = _ops()
    logsumexp = _ops()
    norm = _ops()
    all = _ops()
    any = _ops()
    max = _ops()
    min = _ops()
    amax = _ops()
    amin = _ops()
    argmax = _ops()
    argmin = _ops()
    softmax = _ops()
    log_softmax = _ops()
    topk = _ops()
    sort = _ops()
    argsort = _ops()
    cumsum = _ops()
    cumprod = _ops()

    # linear algebra
    matmul = _ops()
    mm = _ops()
    bmm = _ops()
    outer = _ops()

    # shape and views
    reshape = _ops()
    view = _ops()
    view_as = _ops()
    reshape_as = _ops()
    broadcast_to = _ops()
    expand = _ops()
    expand_as = _ops()
    repeat = _ops()
    permute = _ops()
    transpose = _ops()
    t = _ops()
    movedim = _ops()
    flip = _ops()
    flatten = _ops()
    unflatten = _ops()
    unsqueeze = _ops()
    squeeze = _ops()
    split = _ops()
    chunk = _ops()
    tensor_split = _ops()
    narrow = _ops()
    pad = _ops()
    roll = _ops()
    tile = _ops()
    repeat_interleave = _ops()
    diff = _ops()
    cross = _ops()
    unique = _ops()
    clone = _ops()
    contiguous = _ops()

    # indexing
    take = _ops()
    index_select = _ops()
    gather = _ops()
    scatter = _ops()
    scatter_add = _ops()
    masked_fill = _ops()
    tril = _ops()
    triu = _ops()
    diag = _ops()
