"""``torch.utils.data`` under its PyTorch path: datasets, samplers, ``DataLoader``, collation.

The implementation lives in :mod:`arrayneedle.data` (which also holds the image transforms);
see :mod:`arrayneedle.data.loader` for what the loader does differently from PyTorch (threads
instead of worker processes, exact resume, ``device=``).
"""
from ...data.collate import default_collate, default_convert
from ...data.dataset import (ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                             random_split)
from ...data.fetch import get_worker_info
from ...data.loader import DataLoader
from .distributed import DistributedSampler
from . import dataloader, dataset, sampler  # noqa: F401  (PyTorch's submodule paths)
from ...data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                             SubsetRandomSampler, WeightedRandomSampler)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "default_convert", "get_worker_info", "Sampler",
    "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler", "DistributedSampler",
]
