"""Flatten and Unflatten, with PyTorch's names and arguments."""
from __future__ import annotations

from .. import ops
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (PyTorch's nn.Unflatten)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        n = x.shape[d]
        known = [s for s in self.unflattened_size if s != -1]
        prod = 1
        for s in known:
            prod *= s
        if (len(known) == len(self.unflattened_size) and prod != n) or (
                len(known) < len(self.unflattened_size) and (prod == 0 or n % prod)):
            raise ValueError(f"Unflatten: dimension {self.dim} of size {n} cannot be split "
                             f"into {self.unflattened_size}")
        return ops.reshape(x, x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
