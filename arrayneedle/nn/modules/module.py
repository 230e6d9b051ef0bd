"""``nn.modules.module``: where PyTorch keeps ``Module``."""
from ..module import Module

__all__ = ["Module"]
