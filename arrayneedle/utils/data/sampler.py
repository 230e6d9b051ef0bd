"""``torch.utils.data.sampler`` under its PyTorch path
(``from arrayneedle.utils.data.sampler import RandomSampler``)."""
from ...data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                             SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]
