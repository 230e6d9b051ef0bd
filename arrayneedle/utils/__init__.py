"""Utilities with PyTorch's ``torch.utils`` layout."""
from . import _pytree, data, tensorboard

__all__ = ["data", "tensorboard"]
