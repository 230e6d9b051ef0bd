"""Named-tuple results of the ops that return values and indices, as ``torch.return_types``:
``values, indices = an.max(x, 1)`` or ``an.max(x, 1).indices``."""
from collections import namedtuple

__all__ = ["max", "min", "topk", "sort", "aminmax"]

max = namedtuple("max", ["values", "indices"])
min = namedtuple("min", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])
sort = namedtuple("sort", ["values", "indices"])
aminmax = namedtuple("aminmax", ["min", "max"])
