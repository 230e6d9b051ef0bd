"""Utilities with PyTorch's ``torch.utils`` layout."""
from . import _pytree, data, model_zoo, tensorboard

__all__ = ["data", "tensorboard"]
