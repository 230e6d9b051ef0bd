"""Data loading (datasets, samplers, the prefetching ``DataLoader`` with exact resume, collation)
and per-image transforms, kept apart: the loader modules (``dataset``, ``sampler``, ``collate``,
``fetch``, ``loader``) know nothing of images; ``transforms`` and ``functional`` know nothing of
loading. The loader part is also :mod:`arrayneedle.utils.data` (PyTorch's module path).
"""
from .collate import default_collate, default_convert
from .dataset import (ArrayDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                      TensorDataset, random_split)
from .fetch import get_worker_info
from .loader import DataLoader
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from .transforms import (CenterCrop, Compose, Lambda, Normalize, RandomCrop,
                         RandomHorizontalFlip, Resize, ToArray)

__all__ = [
    "Dataset", "IterableDataset", "ArrayDataset", "TensorDataset", "Subset", "ConcatDataset",
    "random_split", "DataLoader", "default_collate", "default_convert", "get_worker_info",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler",
    "Compose", "Resize", "CenterCrop", "RandomHorizontalFlip", "RandomCrop", "ToArray",
    "Normalize", "Lambda",
]
