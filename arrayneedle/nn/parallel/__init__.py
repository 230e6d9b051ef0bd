"""Data parallelism over ``arrayneedle.distributed`` (PyTorch's ``torch.nn.parallel``)."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
