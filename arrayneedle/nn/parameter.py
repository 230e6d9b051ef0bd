"""``nn.parameter``: where PyTorch keeps ``Parameter``."""
from .module import Parameter

__all__ = ["Parameter"]
