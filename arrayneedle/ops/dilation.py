"""Dilation (needle's ``dilate``: zeros inserted between elements) and its adjoint."""
from __future__ import annotations

from functools import partial

from .. import kernels
from .._helpers import as_tensor
from ..autograd import Function
from .linear_map import linear_map

__all__ = ["dilate", "undilate", "Dilate", "Undilate"]


class Dilate(Function):
    keeps_inputs = False

    def forward(self, x, axes, dilation):
        self.axes, self.dilation = axes, dilation
        return kernels.dilate(x, axes, dilation)

    def backward(self, g):  # undilate, whose adjoint is this dilate
        return linear_map(g, partial(kernels.undilate, axes=self.axes, dilation=self.dilation),
                          partial(kernels.dilate, axes=self.axes, dilation=self.dilation))


class Undilate(Function):
    keeps_inputs = False

    def forward(self, x, axes, dilation):
        self.axes, self.dilation, self.shape = axes, dilation, tuple(x.shape)
        return kernels.undilate(x, axes, dilation)

    def backward(self, g):  # dilate (cropped to the input's shape), whose adjoint is undilate
        return linear_map(g, partial(_dilate_to, axes=self.axes, dilation=self.dilation,
                                     shape=self.shape),
                          partial(kernels.undilate, axes=self.axes, dilation=self.dilation))


def _dilate_to(g, axes, dilation, shape):
    """``kernels.dilate`` cut to ``shape``: dilate pads to a multiple of dilation+1, longer
    than an input that undilate shortened."""
    out = kernels.dilate(g, axes, dilation)
    if tuple(out.shape) != shape:
        out = out[tuple(slice(0, s) for s in shape)]
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
