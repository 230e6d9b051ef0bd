"""``kl_divergence(p, q)`` for the pairs PyTorch computes in closed form that exist here."""
from __future__ import annotations

from .. import ops
from .categorical import Categorical, OneHotCategorical
from .normal import Bernoulli, Normal

__all__ = ["kl_divergence"]


def kl_divergence(p, q):
    """KL(p || q) elementwise over the batch: Normal/Normal, Categorical/Categorical,
    OneHotCategorical/OneHotCategorical, Bernoulli/Bernoulli."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale) ** 2
        t1 = ((p.loc - q.loc) / q.scale) ** 2
        return 0.5 * (var_ratio + t1 - 1 - ops.log(var_ratio))
    if isinstance(p, (Categorical, OneHotCategorical)) and type(p) is type(q):
        t = p.probs * (p.logits - q.logits)
        t = ops.where(q.probs == 0, t * 0 + float("inf"), t)
        t = ops.where(p.probs == 0, t * 0, t)
        return ops.sum(t, dim=-1)
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        from ..nn.functional import softplus
        t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
        t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
        return t1 + t2
    raise NotImplementedError(f"No KL(p || q) is implemented for p={type(p).__name__}, "
                              f"q={type(q).__name__}")
