"""PyTorch's ``torch.utils`` layout: ``arrayneedle.utils.data``."""
from . import data  # noqa: F401
