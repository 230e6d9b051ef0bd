"""``Module.to_empty``: parameters and buffers moved to ``device`` without their values (PyTorch
leaves them uninitialised; here they are zeros, as ``empty`` gives), for models built on one
device and initialised on another."""
from __future__ import annotations

from ..autograd import no_grad
from .module import Module

__all__ = ["to_empty"]


def to_empty(self, *, device, recurse=True):
    self.to(device)
    with no_grad():
        tensors = list(self.parameters(recurse=recurse)) + list(self.buffers(recurse=recurse))
        for t in tensors:
            t.data.zero_()
    return self


Module.to_empty = to_empty
