"""``nn.modules``: PyTorch's package path of the layers (``from torch.nn.modules import ...``);
the same objects as ``arrayneedle.nn``."""
from .. import (Conv1d, Conv2d, ConvTranspose2d, Dropout, Embedding, Identity, LayerNorm,
                Linear, Module, ModuleDict, ModuleList, Sequential)
from . import module, utils

__all__ = ["Module", "Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "Dropout", "Embedding",
           "Identity", "LayerNorm", "ModuleList", "ModuleDict", "Sequential", "module", "utils"]
