"""Dilation (needle's ``dilate``: zeros inserted between elements) and its adjoint."""
from __future__ import annotations

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function

__all__ = ["dilate", "undilate", "Dilate", "Undilate"]


class Dilate(Function):
    legacy_backward = True  # raw-array backward until converted (branch autograd-kernels)

    def forward(self, x, axes, dilation):
        self.axes, self.dilation = axes, dilation
        return kernels.dilate(x, axes, dilation)

    def backward(self, g):
        return kernels.undilate(g, self.axes, self.dilation)


class Undilate(Function):
    legacy_backward = True  # raw-array backward until converted (branch autograd-kernels)

    def forward(self, x, axes, dilation):
        self.axes, self.dilation, self.shape = axes, dilation, tuple(x.shape)
        return kernels.undilate(x, axes, dilation)

    def backward(self, g):
        out = kernels.dilate(g, self.axes, self.dilation)
        if tuple(out.shape) != self.shape:  # dilate pads to a multiple of dilation+1
            out = out[tuple(slice(0, s) for s in self.shape)]
        return out


# ---------------------------------------------------------------- public wrappers
def _dilate_args(name, x, axes, dilation):
    if isinstance(axes, int):
        axes = (axes,)
    out = set()
    for a in axes:
        a = int(a)
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"{name}: axis {a} is out of range for a tensor of shape "
                             f"{x.shape}")
        out.add(a % x.ndim)
    d = int(dilation)
    if d < 0:
        raise ValueError(f"{name}: dilation must be >= 0 (zeros inserted between elements), "
                         f"got {dilation}")
    return tuple(sorted(out)), d


def dilate(x, axes, dilation):
    """Insert ``dilation`` zeros after every element along ``axes`` (needle's dilate: an axis
    of length n becomes n*(dilation+1))."""
    x = as_tensor(x)
    axes, d = _dilate_args("dilate", x, axes, dilation)
    if d == 0 or not axes:
        return x
    return Dilate.apply(x, axes=axes, dilation=d)


def undilate(x, axes, dilation):
    """Every (dilation+1)-th element along ``axes``: the adjoint (and left inverse) of
    ``dilate``."""
    x = as_tensor(x)
    axes, d = _dilate_args("undilate", x, axes, dilation)
    if d == 0 or not axes:
        return x
    return Undilate.apply(x, axes=axes, dilation=d)
