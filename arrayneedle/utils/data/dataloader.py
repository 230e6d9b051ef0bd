"""``torch.utils.data.dataloader`` under its PyTorch path
(``from arrayneedle.utils.data.dataloader import DataLoader``)."""
from ...data.collate import default_collate, default_convert
from ...data.fetch import get_worker_info
from ...data.loader import DataLoader

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
