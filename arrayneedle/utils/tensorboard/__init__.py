"""``arrayneedle.utils.tensorboard``: PyTorch's ``SummaryWriter``, writing TensorBoard event
files by hand (no TensorFlow needed; TensorBoard itself only to view them)."""
from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
