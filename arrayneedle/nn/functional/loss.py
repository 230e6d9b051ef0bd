"""Loss functions with torch.nn.functional's names, signatures and reduction rules.

Every loss takes ``reduction="mean"|"sum"|"none"`` (and PyTorch's deprecated ``size_average``/
``reduce``, mapped the way PyTorch maps them). Class-index losses (``nll_loss``,
``cross_entropy``) build one constant coefficient array of the input's shape (one-hot times the
class weight, zero where the target is ``ignore_index``), so the loss is one multiply and one
sum over the class axis and the weighted mean divides by the summed weights of the counted
targets, as PyTorch does.
"""
from __future__ import annotations

import warnings

from array_api_compat import array_namespace

from ... import ops
from ..._helpers import as_tensor
from ...autograd import Function, Tensor

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]

_REDUCTIONS = ("mean", "sum", "none")


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args are deprecated, please use reduction='mean'|"
                  "'sum'|'none'", UserWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _reduce(x, reduction, name):
    if reduction == "mean":
        return ops.mean(x)
    if reduction == "sum":
        return ops.sum(x)
    if reduction == "none":
        return x
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _pair(name, input, target):
    input = as_tensor(input)
    target = target if isinstance(target, Tensor) else Tensor(target, device=input.device)
    if input.shape != target.shape:
        raise ValueError(f"{name}: prediction shape {input.shape} != target shape "
                         f"{target.shape} (expected the same shape)")
    return input, target


def _weighted(loss, weight):
    return loss if weight is None else loss * weight


def _elementwise_weighted(name, loss, weight, reduction, mean_over_weights):
    """PyTorch's optional ``weight`` of mse/l1/huber: the input's shape; 'mean' divides by
    sum(weight) for mse and l1 (a weighted mean) and by the element count for huber."""
    if weight is None:
        return _reduce(loss, reduction, name)
    weight = _as_like(weight, loss)
    if weight.shape != loss.shape:
        raise ValueError(f"{name}: weight must have the input's shape {loss.shape}, got "
                         f"{weight.shape}")
    loss = loss * weight
    if reduction == "mean" and mean_over_weights:
        return ops.sum(loss) / ops.sum(weight)
    return _reduce(loss, reduction, name)


# ---------------------------------------------------------------- regression
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    input, target = _pair("mse_loss", input, target)
    d = input - target
    return _elementwise_weighted("mse_loss", d * d, weight,
                                 _legacy_reduction(size_average, reduce, reduction), True)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    input, target = _pair("l1_loss", input, target)
    return _elementwise_weighted("l1_loss", ops.abs(input - target), weight,
                                 _legacy_reduction(size_average, reduce, reduction), True)


def _smooth(d, beta):
    # q = min(|d|, beta): 0.5 q^2 / beta + (|d| - q) is 0.5 d^2 / beta inside, |d| - beta / 2
    # outside, with no branch to mask
    a = ops.abs(d)
    q = ops.clip(a, max=beta)
    return q * q * (0.5 / beta) + (a - q)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    input, target = _pair("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    d = input - target
    loss = ops.abs(d) if beta == 0 else _smooth(d, beta)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction), "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    input, target = _pair("huber_loss", input, target)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _elementwise_weighted("huber_loss", _smooth(input - target, delta) * delta, weight,
                                 reduction, False)


# ---------------------------------------------------------------- classification
def _class_weight(name, weight, n_classes, like):
    if weight is None:
        return None
    w = weight.array if isinstance(weight, Tensor) else like.device.asarray(weight)
    if tuple(w.shape) != (n_classes,):
        raise ValueError(f"{name}: weight must have shape ({n_classes},), one per class, "
                         f"got {tuple(w.shape)}")
    return like.device.xp.astype(w, like.dtype)


def _class_axis_shape(ndim, cdim, n):
    return tuple(n if i == cdim else 1 for i in range(ndim))


def _index_coefficients(name, input, target, weight, ignore_index, label_smoothing):
    """(coef, denom): coef has the input's shape, ``-sum(logp * coef, class axis)`` is the
    per-element loss; denom is the weighted count that 'mean' divides by."""
    xp = input.device.xp
    t = target.array
    if not xp.isdtype(t.dtype, "integral"):
        raise TypeError(f"{name}: targets must be integer class indices, got dtype {t.dtype} "
                        f"(class probabilities need the input's shape {input.shape})")
    cdim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[cdim]
    expected = input.shape[:cdim] + input.shape[cdim + 1:]
    if tuple(t.shape) != expected:
        raise ValueError(f"{name}: input of shape {input.shape} needs class-index targets of "
                         f"shape {expected}, got {tuple(t.shape)}")
    keep = t != ignore_index
    safe = xp.where(keep, t, xp.zeros_like(t))
    if safe.size:
        # one min and one max: an index outside [0, C) would match no class and silently add
        # nothing to the loss
        lo, hi = int(xp.min(safe)), int(xp.max(safe))
        if lo < 0 or hi >= n_classes:
            raise IndexError(f"{name}: target {lo if lo < 0 else hi} is out of bounds for "
                             f"{n_classes} classes (expected 0 <= target < {n_classes}, or "
                             f"ignore_index={ignore_index})")
    dt = input.dtype
    shape = _class_axis_shape(input.ndim, cdim, n_classes)
    classes = xp.reshape(xp.arange(n_classes, dtype=safe.dtype), shape)
    keep_c = xp.astype(xp.expand_dims(keep, axis=cdim), dt)
    onehot = xp.astype(xp.expand_dims(safe, axis=cdim) == classes, dt) * keep_c
    w = _class_weight(name, weight, n_classes, input)
    if w is not None:
        onehot = onehot * xp.reshape(w, shape)
    denom = xp.sum(onehot)
    coef = onehot
    if label_smoothing:
        # PyTorch: (1 - eps) * nll + eps / C * (-sum_c w_c logp_c), both over the same count
        spread = keep_c if w is None else keep_c * xp.reshape(w, shape)
        coef = onehot * (1.0 - label_smoothing) + spread * (label_smoothing / n_classes)
    return coef, denom


def _nll_from_coef(logp, coef, denom, reduction, name):
    cdim = 0 if logp.ndim == 1 else 1
    dev = logp.device
    loss = -ops.sum(logp * Tensor._wrap(coef, dev), axis=cdim)
    if reduction == "mean":
        return ops.sum(loss) / Tensor._wrap(denom, dev)
    return _reduce(loss, reduction, name)


def _check_input(name, input):
    if input.ndim == 0:
        raise ValueError(f"{name}: input must be (C,), (N, C) or (N, C, d1, ...), got a 0-d "
                         f"tensor")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of class indices under log-probabilities ``input``."""
    input = as_tensor(input)
    _check_input("nll_loss", input)
    target = target if isinstance(target, Tensor) else Tensor(target, device=input.device)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    coef, denom = _index_coefficients("nll_loss", input, target, weight, ignore_index, 0.0)
    return _nll_from_coef(input, coef, denom, reduction, "nll_loss")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross entropy of logits ``input`` (C,), (N, C) or (N, C, d1, ...) against class indices
    (the input's shape without C) or class probabilities (the input's shape)."""
    input = as_tensor(input)
    _check_input("cross_entropy", input)
    target = target if isinstance(target, Tensor) else Tensor(target, device=input.device)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    cdim = 0 if input.ndim == 1 else 1
    logp = ops.log_softmax(input, axis=cdim)
    xp = input.device.xp
    if target.shape == input.shape and xp.isdtype(target.dtype, "real floating"):
        n_classes = input.shape[cdim]
        p = target
        if label_smoothing:
            p = p * (1.0 - label_smoothing) + label_smoothing / n_classes
        w = _class_weight("cross_entropy", weight, n_classes, input)
        if w is not None:
            p = p * Tensor._wrap(xp.reshape(w, _class_axis_shape(input.ndim, cdim, n_classes)),
                                 input.device)
        loss = -ops.sum(logp * p, axis=cdim)
        if reduction == "mean":  # over the N * d1 * ... positions, whatever the weights
            return ops.sum(loss) / (loss.numel() if loss.numel() else float("nan"))
        return _reduce(loss, reduction, "cross_entropy")
    coef, denom = _index_coefficients("cross_entropy", input, target, weight, ignore_index,
                                      label_smoothing)
    return _nll_from_coef(logp, coef, denom, reduction, "cross_entropy")


# ---------------------------------------------------------------- binary
class ClampedLog(Function):
    """log(x) clamped below at -100, with the gradient 1 / max(x, 1e-12): PyTorch's
    binary_cross_entropy, finite at x = 0 and x = 1."""

    def forward(self, a):
        xp = array_namespace(a)
        pos = a > 0
        out = xp.log(xp.where(pos, a, xp.ones_like(a)))
        return xp.where(pos, xp.maximum(out, xp.asarray(-100.0, dtype=a.dtype)),
                        xp.asarray(-100.0, dtype=a.dtype))

    def backward(self, g):
        return g / self.parents[0].clamp(min=1e-12)


class LogSigmoid(Function):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x; gradient
    sigmoid(-x) (exact at x = 0, where a composition through abs would give 0)."""

    def forward(self, a):
        xp = array_namespace(a)
        return xp.minimum(a, xp.zeros_like(a)) - xp.log1p(xp.exp(-xp.abs(a)))

    def backward(self, g):
        return g * (-self.parents[0]).sigmoid()


def _as_like(x, like):
    if x is None:
        return None
    return x if isinstance(x, Tensor) else Tensor(like.device.asarray(x, like.dtype),
                                                 device=like.device)


def _check_broadcast(name, what, shape, other, other_what="input"):
    """RuntimeError (PyTorch's) naming both tensors when ``shape`` does not broadcast against
    ``other``, instead of NumPy's message about operands."""
    for d, (a, b) in enumerate(zip(reversed(tuple(shape)), reversed(tuple(other)))):
        if a != b and a != 1 and b != 1:
            raise RuntimeError(f"{name}: the size of {what} ({a}) must match the size of "
                               f"{other_what} ({b}) at non-singleton dimension "
                               f"{max(len(shape), len(other)) - 1 - d} ({what} shape "
                               f"{tuple(shape)}, {other_what} shape {tuple(other)})")


def _binary_pair(name, input, target):
    input = as_tensor(input)
    target = _as_like(target, input)
    if input.shape != target.shape:
        raise ValueError(f"{name}: target shape {target.shape} must equal the input shape "
                         f"{input.shape}")
    return input, target


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1] (logs clamped at -100)."""
    input, target = _binary_pair("binary_cross_entropy", input, target)
    xp = input.device.xp
    a = input.array
    if a.size and bool(xp.any(xp.logical_or(a < 0, a > 1))):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1 "
                         "(use binary_cross_entropy_with_logits for logits)")
    loss = -(target * ClampedLog.apply(input) + (1 - target) * ClampedLog.apply(1 - input))
    return _reduce(_weighted(loss, _as_like(weight, input)),
                   _legacy_reduction(size_average, reduce, reduction), "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid and binary cross entropy in one stable expression:
    (1 - t) x - (1 + (pos_weight - 1) t) log sigmoid(x); ``pos_weight`` broadcasts over the
    last (class) dimension."""
    input, target = _binary_pair("binary_cross_entropy_with_logits", input, target)
    pos_weight = _as_like(pos_weight, input)
    if pos_weight is not None:
        _check_broadcast("binary_cross_entropy_with_logits", "pos_weight", pos_weight.shape,
                         input.shape)
    logsig = LogSigmoid.apply(input)
    if pos_weight is None:
        loss = (1 - target) * input - logsig
    else:
        loss = (1 - target) * input - ((pos_weight - 1) * target + 1) * logsig
    return _reduce(_weighted(loss, _as_like(weight, input)),
                   _legacy_reduction(size_average, reduce, reduction),
                   "binary_cross_entropy_with_logits")


# ---------------------------------------------------------------- divergence
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: ``target * (log target - input)`` (0 where target is
    0), or ``exp(target) * (target - input)`` with ``log_target``. ``reduction="batchmean"``
    divides the sum by the batch size (the KL divergence); "mean" divides by every element and
    warns, as PyTorch."""
    input = as_tensor(input)
    target = _as_like(target, input)
    _check_broadcast("kl_div", "target", target.shape, input.shape)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size. 'batchmean' divides only by the batch size, and aligns "
                      "with the KL div math definition.", UserWarning, stacklevel=2)
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        xp = input.device.xp
        pos = target.array > 0
        # x log x -> 0 at x = 0 without evaluating log(0)
        safe = ops.where(pos, target, Tensor._wrap(xp.ones_like(target.array), input.device))
        loss = target * (ops.log(safe) - input)
    if reduction == "batchmean":
        return ops.sum(loss) / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")
