"""Shape ops: reshape, broadcast_to, permute, flip, stack, concat, pad, getitem, take."""
from __future__ import annotations

from array_api_compat import array_namespace

from ..autograd import Function
from ._util import unbroadcast


class Reshape(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return array_namespace(a).reshape(a, shape)

    def backward(self, g):
        return array_namespace(g).reshape(g, self.shape)


class BroadcastTo(Function):
    def forward(self, a, shape):
        self.shape = a.shape
        return array_namespace(a).broadcast_to(a, shape)

    def backward(self, g):
        return unbroadcast(g, self.shape)


class Permute(Function):
    def forward(self, a, axes):
        self.inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
        return array_namespace(a).permute_dims(a, axes)

    def backward(self, g):
        return array_namespace(g).permute_dims(g, self.inverse)


class Flip(Function):
    def forward(self, a, axis):
        self.axis = axis
        return array_namespace(a).flip(a, axis=axis)

    def backward(self, g):
        return array_namespace(g).flip(g, axis=self.axis)


class Concat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return array_namespace(*arrays).concat(arrays, axis=axis)

    def backward(self, g):
        out, start = [], 0
        ax = self.axis % g.ndim
        for n, need in zip(self.sizes, self.needs_input_grad):
            idx = (slice(None),) * ax + (slice(start, start + n), Ellipsis)
            out.append(g[idx] if need else None)
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return array_namespace(*arrays).stack(arrays, axis=axis)

    def backward(self, g):
        ax = self.axis % g.ndim
        return tuple(g[(slice(None),) * ax + (i, Ellipsis)] if need else None
                     for i, need in enumerate(self.needs_input_grad))


class Pad(Function):
    """Constant padding; ``pad_width`` is ((before, after), ...) per axis, like numpy.pad."""

    def forward(self, a, pad_width, value=0.0):
        xp = array_namespace(a)
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(a.shape, pad_width))
        self.index = tuple(slice(lo, lo + s) for s, (lo, _) in zip(a.shape, pad_width))
        out = xp.full(shape, value, dtype=a.dtype) if value else xp.zeros(shape, dtype=a.dtype)
        out[self.index] = a
        return out

    def backward(self, g):
        return g[self.index]


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """x[index]: basic slicing, or integer-array indexing (gradient scatter-added)."""

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        xp = array_namespace(g)
        if _is_basic(self.index):
            out = xp.zeros(self.shape, dtype=self.dtype)
            out[self.index] = g
            return out
        from ..kernels import index_add
        return index_add(self.shape, self.index, g)


class Take(Function):
    """take(x, indices, axis): rows gathered by an integer array (as Embedding needs)."""

    def forward(self, a, indices, axis=0):
        xp = array_namespace(a)
        self.shape, self.axis, self.indices = a.shape, axis % a.ndim, indices
        flat = xp.reshape(indices, (-1,))
        out = xp.take(a, flat, axis=self.axis)
        return xp.reshape(out, a.shape[:self.axis] + tuple(indices.shape) + a.shape[self.axis + 1:])

    def backward(self, g):
        xp = array_namespace(g)
        ax = self.axis
        flat = xp.reshape(self.indices, (-1,))
        g = xp.reshape(g, self.shape[:ax] + (flat.shape[0],) + self.shape[ax + 1:])
        if ax != 0:
            g = xp.moveaxis(g, ax, 0)
        shape0 = (self.shape[ax],) + self.shape[:ax] + self.shape[ax + 1:]
        from ..kernels import index_add
        out = index_add(shape0, flat, g)
        return xp.moveaxis(out, 0, ax) if ax != 0 else out
