"""diffusers' UNet2DModel with its parameter names (``UNet2DModel.from_pretrained`` reads a
diffusers folder, ``save_pretrained`` writes one)."""
from .unet2d import DiffusersUnet, UNet2DModel, UNet2DOutput
from .unet2d_config import (DEFAULT_CONFIG, check_config, check_pretrained,
                            unet2d_parameter_count)

__all__ = ["DEFAULT_CONFIG", "DiffusersUnet", "UNet2DModel", "UNet2DOutput", "check_config",
           "check_pretrained", "unet2d_parameter_count"]
