"""Data loading (datasets, the prefetching ``DataLoader`` with exact resume, collation) and
per-image transforms, kept apart: the loader modules (``dataset``, ``collate``, ``loader``)
know nothing of images; ``transforms`` and ``functional`` know nothing of loading.
"""
from .dataset import ArrayDataset, Dataset
from .loader import DataLoader
from .transforms import (CenterCrop, Compose, Lambda, Normalize, RandomCrop,
                         RandomHorizontalFlip, Resize, ToArray)

__all__ = [
    "Dataset", "ArrayDataset", "DataLoader",
    "Compose", "Resize", "CenterCrop", "RandomHorizontalFlip", "RandomCrop", "ToArray",
    "Normalize", "Lambda",
]
