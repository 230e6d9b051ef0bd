"""Data loading helpers with PyTorch's ``torch.utils.data`` names."""
from .distributed import DistributedSampler

__all__ = ["DistributedSampler"]
