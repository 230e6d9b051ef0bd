"""Data parallelism (PyTorch's ``torch.nn.parallel``): DistributedDataParallel over
``arrayneedle.distributed``, and the single-process DataParallel / data_parallel."""
from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel", "DataParallel", "data_parallel"]
