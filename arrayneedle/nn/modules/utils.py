"""``nn.modules.utils``: PyTorch's ``_single``/``_pair``/``_triple``/``_quadruple`` (an int
repeated n times; a sequence as a tuple), which model code imports for its own layers."""
from itertools import repeat

__all__ = ["_single", "_pair", "_triple", "_quadruple", "_ntuple"]


def _ntuple(n, name="parse"):
    def parse(x):
        if isinstance(x, (list, tuple)):
            return tuple(x)
        return tuple(repeat(x, n))
    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")
