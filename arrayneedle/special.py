"""``arrayneedle.special``: PyTorch's ``torch.special`` names for the functions arrayneedle has."""
from .ops import erf, exp2, expm1, log1p, sigmoid as expit, softmax, log_softmax
from .ops import logsumexp
from .ops.erfinv import erfinv

__all__ = ["erf", "exp2", "expm1", "log1p", "expit", "softmax", "log_softmax", "logsumexp",
           "erfc", "xlogy", "erfinv"]


def erfc(input):
    """1 - erf(x)."""
    return 1 - erf(input)


def xlogy(input, other):
    """x * log(y), 0 where x is 0 (as PyTorch)."""
    from .ops import log, where
    return where(input == 0, input * 0, input * log(other))
