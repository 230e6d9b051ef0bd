"""The Tensor methods of PyTorch's long tail (issue 24), ranked by counting real programs
(scripts/api_coverage.py): ``TailMethods`` is a mixin of ``Tensor`` (arrayneedle/tensor.py),
declared as ``OpMethods`` is (arrayneedle/tensor_ops.py): each line names the module whose
function is the method, found there on first use."""
from __future__ import annotations

from functools import partial

from .tensor_ops import Delegated

__all__ = ["TailMethods"]

_extra = partial(Delegated, "tensor_extras")


class TailMethods:
    __slots__ = ()

    type = Delegated("legacy_types", "type_")  # 'arrayneedle.FloatTensor', or a cast
    bernoulli = Delegated("sampling")
    bernoulli_ = Delegated("sampling")
    to_sparse = Delegated("sparse")
    to_sparse_coo = Delegated("sparse")
    erfinv = Delegated("ops.erfinv")
    median = Delegated("ops.median")
    multinomial = Delegated("creation")
    dot = _extra()
    mv = _extra()
    ger = _extra()
    addmm = _extra()
    addcmul = _extra()
    addcdiv = _extra()
    unbind = _extra()
    nonzero = _extra()
    masked_select = _extra()
    index_add = _extra()
    ravel = _extra()
    swapaxes = _extra()
    swapdims = _extra()
    diagonal = _extra()
    unfold = _extra()
    dist = _extra()
    bincount = _extra()
    new = _extra()
    random_ = _extra()
    data_ptr = _extra()
    get_device = _extra()
    pin_memory = _extra()
    is_pinned = _extra()
    unsqueeze_ = _extra()
    squeeze_ = _extra()
    transpose_ = _extra()
    t_ = _extra()
    resize_ = _extra()
    scatter_ = _extra()
    scatter_add_ = _extra()
    index_add_ = _extra()
    addcmul_ = _extra()
    addcdiv_ = _extra()
    exp_ = _extra()
    log_ = _extra()
    sqrt_ = _extra()
    sigmoid_ = _extra()
    tanh_ = _extra()
    relu_ = _extra()
    abs_ = _extra()
    neg_ = _extra()
    pow_ = _extra()
    floor_ = _extra()
    ceil_ = _extra()
    round_ = _extra()
    sign_ = _extra()
    lerp_ = _extra()
    reciprocal_ = _extra()
    rsqrt_ = _extra()
    sin_ = _extra()
    cos_ = _extra()
    cumsum_ = _extra()
    square_ = _extra()
    log1p_ = _extra()
    expm1_ = _extra()
    trunc_ = _extra()
    frac_ = _extra()
    logical_not_ = _extra()
