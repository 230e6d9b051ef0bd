"""``torch.utils.data.dataset`` under its PyTorch path
(``from arrayneedle.utils.data.dataset import Dataset``)."""
from ...data.dataset import (ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                             random_split)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split"]
